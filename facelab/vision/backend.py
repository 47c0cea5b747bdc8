"""Inference backends for facelab's ONNX models: onnxruntime and OpenVINO over the same files.

Every model (detector, embedder, generator) is opened through :func:`open_model`, which returns
one small session object with ``run(inputs) -> outputs``:

* :class:`OrtModel` - onnxruntime; the only backend for ``--device cuda`` (its CUDA provider).
* :class:`OvModel` - the OpenVINO runtime reading the same hash-checked ONNX file, on the CPU,
  with the inference-precision hint ``bf16`` where the CPU reports BF16 among its
  ``OPTIMIZATION_CAPABILITIES`` (AVX-512 BF16 / AMX) and ``f32`` otherwise.

Both are picklable (the session is reopened on unpickle) and remember ``backend`` and
``precision``, which runs record in ``run.json``.

``--backend auto`` picks per model, by a fixed rule (:data:`AUTO_CPU`), never by timing at run
time, so that a run is reproducible and resumable on the same machine. On CUDA, or where
OpenVINO is not installed, every model runs on onnxruntime. On the CPU with OpenVINO:

* **embedder** (SFace) → OpenVINO: it ran 1.57-1.69x onnxruntime fp32 on an AVX2-only AMD EPYC
  (fp32), 1.4x on an AVX-512 Intel CPU (fp32) and 4.5x there with bf16;
* **detector** (YuNet) → onnxruntime: OpenVINO ran it at 0.81x on the AVX2 EPYC; bf16 CPUs were
  not measured, so the measured-faster backend stays;
* **generator** (DCGAN) → onnxruntime: the same CPU time per face on both (8.6 ms).

Measured by ``benchmarks/test_bench_backend.py`` (one process, alternating rounds), which
records the same rule's choice beside its own ratios. The choice and its reason are logged.
"""

from __future__ import annotations

import logging
from functools import cache

import numpy as np

from facelab.errors import ConfigError, ModelError
from facelab.vision import models

log = logging.getLogger(__name__)

BACKENDS = ("auto", "onnxruntime", "openvino")
"""Accepted values of ``--backend``."""

ORT = "onnxruntime"
OV = "openvino"


def check_backend(name: str) -> str:
    """Normalise a backend name, refusing unknown ones with a :class:`ConfigError`."""
    value = name.strip().lower() if isinstance(name, str) else name
    if value not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return value


def openvino_available() -> bool:
    """Whether the OpenVINO runtime can be imported here."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


@cache
def cpu_capabilities() -> tuple[str, ...]:
    """OpenVINO's ``OPTIMIZATION_CAPABILITIES`` of the CPU (empty without OpenVINO)."""
    if not openvino_available():
        return ()
    import openvino as ov

    return tuple(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def ov_precision() -> str:
    """The precision OpenVINO is asked for here: ``"bf16"`` where the CPU has it, else ``"fp32"``."""
    return "bf16" if "BF16" in cpu_capabilities() else "fp32"


MODELS = ("detector", "embedder", "generator")
"""The ONNX models a backend is chosen for."""

AUTO_CPU: dict[str, tuple[str, str]] = {
    "embedder": (OV, "OpenVINO ran SFace 1.6-1.7x onnxruntime fp32 on AVX2, 1.4x (fp32) and 4.5x "
                     "(bf16) on AVX-512"),
    "detector": (ORT, "OpenVINO ran YuNet at 0.81x onnxruntime on AVX2; bf16 not measured"),
    "generator": (ORT, "the DCGAN takes the same CPU time per face on both"),
}  # fmt: skip
"""``--backend auto`` on the CPU with OpenVINO installed: model → (backend, why)."""


def resolve_backend(requested: str, device: str = "cpu", model: str = "embedder") -> str:
    """Turn ``--backend`` into ``"onnxruntime"`` or ``"openvino"`` for ``model`` on ``device``.

    ``auto`` follows the rule of the module docstring (:data:`AUTO_CPU`); ``model`` matters only
    then.

    Raises
    ------
    ConfigError
        Unknown backend or model, or ``openvino`` together with ``--device cuda``.
    ModelError
        ``openvino`` asked for and the package is not installed.
    """
    name = check_backend(requested)
    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    dev = device.strip().lower() if isinstance(device, str) else device
    if name == OV:
        if dev == "cuda":
            raise ConfigError("--backend openvino runs on the CPU; use --device cpu (or auto)")
        if not openvino_available():
            raise ModelError("--backend openvino asked for, but the openvino package is missing")
        return OV
    if name == ORT:
        return ORT
    if dev == "cuda":
        log.debug("backend auto: %s on onnxruntime (the CUDA path)", model)
        return ORT
    if not openvino_available():
        log.debug("backend auto: %s on onnxruntime (openvino is not installed)", model)
        return ORT
    chosen, why = AUTO_CPU[model]
    log.debug("backend auto: %s on %s (%s)", model, chosen, why)
    return chosen


def resolve_backends(requested: str, device: str = "cpu") -> dict[str, str]:
    """The backend of every model (:data:`MODELS`) for ``--backend requested``; logs the choice.

    Returns
    -------
    dict
        model name → ``"onnxruntime"`` or ``"openvino"``.
    """
    chosen = {m: resolve_backend(requested, device, m) for m in MODELS}
    if check_backend(requested) == "auto":
        if set(chosen.values()) == {ORT} and not openvino_available():
            why = "openvino is not installed"
        elif str(device).strip().lower() == "cuda":
            why = "the CUDA path"
        else:
            why = "; ".join(f"{m}: {AUTO_CPU[m][1]}" for m in MODELS)
        log.info(
            "backend auto: %s (%s; CPU capabilities %s)",
            ", ".join(f"{m} {b}" for m, b in chosen.items()),
            why,
            ",".join(cpu_capabilities()) or "unknown",
        )
    return chosen


def inference_record(requested: str, device: str = "cpu") -> dict:
    """What a run records in ``run.json`` about where its models ran.

    Returns
    -------
    dict
        ``backend`` (the one backend of every model, or ``"auto"`` when they differ),
        ``precision`` (likewise, or ``"mixed"``) and ``models``: model → ``{"backend",
        "precision"}``.
    """
    models_ = {
        m: {"backend": b, "precision": backend_precision(b)}
        for m, b in resolve_backends(requested, device).items()
    }
    backends = {v["backend"] for v in models_.values()}
    precisions = {v["precision"] for v in models_.values()}
    return {
        "backend": backends.pop() if len(backends) == 1 else "auto",
        "precision": precisions.pop() if len(precisions) == 1 else "mixed",
        "models": models_,
    }


def describe(record: dict) -> str:
    """One line for :func:`inference_record`'s dict (or a ``run.json`` holding its keys):
    ``"openvino fp32"`` when every model ran alike, else each model's backend and precision."""
    per_model = record.get("models") or {}
    kinds = {(v["backend"], v["precision"]) for v in per_model.values()}
    if len(kinds) > 1:
        return ", ".join(f"{m} {v['backend']} {v['precision']}" for m, v in per_model.items())
    return " ".join(str(record[k]) for k in ("backend", "precision") if record.get(k))


class OrtModel:
    """A facelab model on onnxruntime (CPU or CUDA). Picklable."""

    backend = ORT

    def __init__(self, name: str, device: str = "cpu", threads: int | None = None):
        self.name = name
        self.device = device
        self.threads = threads
        self._open()

    def _open(self) -> None:
        self._session = models.open_session(self.name, self.device, threads=self.threads)
        self.providers = tuple(self._session.get_providers())
        self.output_names = [o.name for o in self._session.get_outputs()]
        self.precision = "fp32"

    def __getstate__(self):
        return {"name": self.name, "device": self.device, "threads": self.threads}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._open()

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Outputs, in the graph's order, for named inputs."""
        return self._session.run(None, inputs)


class OvModel:
    """A facelab model on the OpenVINO CPU runtime, from the same ONNX file. Picklable.

    Parameters
    ----------
    name : model name (:data:`facelab.vision.models.SPECS`).
    threads : inference threads (default: OpenVINO's, one per core).
    precision : ``"bf16"`` or ``"fp32"``; default :func:`ov_precision`.
    """

    backend = OV

    def __init__(self, name: str, threads: int | None = None, precision: str | None = None):
        self.name = name
        self.device = "cpu"
        self.threads = threads
        self.precision = precision or ov_precision()
        if self.precision not in ("bf16", "fp32"):
            raise ConfigError(f"unknown precision {self.precision!r}; choose bf16 or fp32")
        self._open()

    def _open(self) -> None:
        import openvino as ov

        path = models.model_path(self.name)
        config = {
            "INFERENCE_PRECISION_HINT": "bf16" if self.precision == "bf16" else "f32",
            # the pipeline runs several sessions beside other threads: let the OS place them
            # (two 1-thread SFace sessions at once: 29.6 faces/s unpinned, 26.3 pinned)
            "ENABLE_CPU_PINNING": False,
        }
        if self.threads is not None:
            config["INFERENCE_NUM_THREADS"] = int(self.threads)
        core = ov.Core()
        try:
            model = core.read_model(str(path))
            # names as the ONNX graph has them (compiling may merge tensor names)
            self.output_names = [o.get_any_name() for o in model.outputs]
            compiled = core.compile_model(model, "CPU", config)
        except Exception as exc:  # OpenVINO raises its own exception types
            raise ModelError(f"cannot load {path} with OpenVINO: {exc}") from None
        self._request = compiled.create_infer_request()
        self.providers = ("OpenVINO:CPU",)

    def __getstate__(self):
        return {"name": self.name, "device": self.device, "threads": self.threads,
                "precision": self.precision}  # fmt: skip

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._open()

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Outputs, in the graph's order, for named inputs (copies, safe to keep)."""
        result = self._request.infer(inputs)
        return [np.array(result[i], copy=True) for i in range(len(self.output_names))]


def open_model(name: str, device: str = "cpu", backend: str = ORT, *, threads: int | None = None):
    """Open model ``name`` on ``backend`` (resolved with :func:`resolve_backend`).

    Returns
    -------
    OrtModel or OvModel
    """
    chosen = resolve_backend(backend, device, name)
    if chosen == OV:
        return OvModel(name, threads=threads)
    return OrtModel(name, device, threads=threads)


def backend_precision(name: str) -> str:
    """The precision a resolved backend runs the models at (what ``run.json`` records)."""
    return ov_precision() if name == OV else "fp32"
