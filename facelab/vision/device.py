"""Device selection for onnxruntime and faiss: ``"cpu"``, ``"cuda"`` or ``"auto"``.

``--device cuda`` that cannot be honoured is an error (:class:`~facelab.errors.DeviceError`,
saying why); ``--device auto`` picks CUDA when every needed component can use it and logs the
choice. onnxruntime falls back to CPU *silently* when a CUDA session cannot be made, so after
creating a session call :func:`check_session_providers`.

The GPU packages (``onnxruntime-gpu``, ``faiss-gpu-cu12``) come with the ``gpu`` extra and
replace their CPU twins in a separate environment.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import faiss

from facelab.errors import ConfigError, DeviceError

log = logging.getLogger(__name__)

DEVICES = ("cpu", "cuda", "auto")
"""Accepted values of ``--device``."""

COMPONENTS = ("onnxruntime", "faiss")
"""What a device choice applies to; ``resolve_device(..., need=...)`` can ask for a subset."""

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"

GPU_HINT = "install the gpu extra on a machine with an NVIDIA GPU"

_gpu_resources = None  # one faiss StandardGpuResources per process, created on first use


def _check_name(device: str) -> str:
    name = device.strip().lower() if isinstance(device, str) else device
    if name not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    return name


def _check_need(need: Iterable[str]) -> tuple[str, ...]:
    need = tuple(need)
    unknown = [c for c in need if c not in COMPONENTS]
    if unknown:
        raise ConfigError(f"unknown component(s) {unknown}; choose from {', '.join(COMPONENTS)}")
    return need


def ort_available_providers() -> list[str]:
    """Execution providers this onnxruntime build offers (empty if onnxruntime is missing)."""
    try:
        import onnxruntime
    except ImportError:  # pragma: no cover - a dependency of facelab
        return []
    return list(onnxruntime.get_available_providers())


def faiss_has_gpu() -> bool:
    """Whether the installed faiss was built with GPU support."""
    return hasattr(faiss, "StandardGpuResources")


def faiss_gpu_available() -> bool:
    """Whether faiss can use a GPU here: GPU build and at least one visible GPU."""
    return faiss_has_gpu() and faiss.get_num_gpus() > 0


def gpu_visible() -> bool:
    """Whether an NVIDIA GPU is visible to this process (via faiss if it can tell, else /dev)."""
    if faiss_has_gpu():
        return faiss.get_num_gpus() > 0
    return any(Path("/dev").glob("nvidia[0-9]*"))


def cuda_problems(need: Iterable[str] = COMPONENTS) -> list[str]:
    """Why CUDA cannot be used for the ``need`` components here; empty when it can.

    Parameters
    ----------
    need : iterable of {"onnxruntime", "faiss"}

    Returns
    -------
    list of str
        Short reasons, e.g. ``"onnxruntime has no CUDAExecutionProvider"``.
    """
    need = _check_need(need)
    reasons = []
    if "onnxruntime" in need and CUDA_PROVIDER not in ort_available_providers():
        reasons.append(f"onnxruntime has no {CUDA_PROVIDER}")
    if "faiss" in need and not faiss_has_gpu():
        reasons.append("faiss has no GPU support")
    if not gpu_visible():
        reasons.append("no GPU is visible")
    return reasons


def _join(reasons: list[str]) -> str:
    return reasons[0] if len(reasons) == 1 else ", ".join(reasons[:-1]) + " and " + reasons[-1]


def resolve_device(requested: str, *, need: Iterable[str] = COMPONENTS) -> str:
    """Turn ``--device`` into ``"cpu"`` or ``"cuda"``.

    Parameters
    ----------
    requested : {"cpu", "cuda", "auto"}
    need : iterable of {"onnxruntime", "faiss"}
        Components that must run on the device (default both).

    Returns
    -------
    str
        ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    ConfigError
        ``requested`` is not a known device.
    DeviceError
        ``"cuda"`` was asked for and cannot be used (says why).
    """
    name = _check_name(requested)
    if name == "cpu":
        return "cpu"
    reasons = cuda_problems(need)
    if name == "cuda":
        if reasons:
            raise DeviceError(f"--device cuda asked for, but {_join(reasons)}; {GPU_HINT}")
        log.info("device: cuda")
        return "cuda"
    if reasons:
        log.info("device auto: using cpu (%s)", _join(reasons))
        return "cpu"
    log.info("device auto: using cuda")
    return "cuda"


def ort_providers(device: str) -> list[str]:
    """onnxruntime providers to request for ``device``, in priority order.

    Parameters
    ----------
    device : {"cpu", "cuda", "auto"}
        ``"auto"`` is resolved first (for onnxruntime only).

    Returns
    -------
    list of str
    """
    name = _check_name(device)
    if name == "auto":
        name = resolve_device("auto", need=("onnxruntime",))
    return [CUDA_PROVIDER, CPU_PROVIDER] if name == "cuda" else [CPU_PROVIDER]


def check_session_providers(session, device: str) -> list[str]:
    """Verify that an onnxruntime session really runs on ``device``.

    onnxruntime drops a provider it cannot load with only a warning, so a session created with
    ``ort_providers("cuda")`` may be running on the CPU.

    Parameters
    ----------
    session : onnxruntime.InferenceSession
        Anything with ``get_providers()``.
    device : {"cpu", "cuda"}
        The resolved device the session was created for.

    Returns
    -------
    list of str
        ``session.get_providers()``.

    Raises
    ------
    DeviceError
        ``device`` is ``"cuda"`` and the session's first provider is not CUDA.
    """
    name = _check_name(device)
    providers = list(session.get_providers())
    if name == "cuda" and (not providers or providers[0] != CUDA_PROVIDER):
        raise DeviceError(
            f"--device cuda asked for, but onnxruntime created the session with {providers} "
            f"(it falls back to CPU when CUDA cannot load: check the CUDA/cuDNN libraries); "
            f"{GPU_HINT}"
        )
    log.debug("onnxruntime session providers: %s", providers)
    return providers


def _gpu_res():
    global _gpu_resources
    if _gpu_resources is None:
        _gpu_resources = faiss.StandardGpuResources()
    return _gpu_resources


def index_to_device(index: faiss.Index, device: str, *, gpu: int = 0) -> faiss.Index:
    """Return ``index`` ready to search on ``device``.

    Parameters
    ----------
    index : faiss.Index
        A CPU index (e.g. ``IndexIDMap2(IndexFlatIP)``, ``IndexIVFFlat``).
    device : {"cpu", "cuda", "auto"}
    gpu : int
        GPU number for ``"cuda"``.

    Returns
    -------
    faiss.Index
        ``index`` itself for the CPU, else a GPU copy (write-backs go to the CPU index: move it
        back with ``faiss.index_gpu_to_cpu`` before saving).

    Raises
    ------
    DeviceError
        ``"cuda"`` and faiss cannot use a GPU here.
    """
    name = _check_name(device)
    if name == "auto":
        name = resolve_device("auto", need=("faiss",))
    if name == "cpu":
        return index
    if not faiss_gpu_available():
        raise DeviceError(
            f"--device cuda asked for, but {_join(cuda_problems(('faiss',)))}; {GPU_HINT}"
        )
    return faiss.index_cpu_to_gpu(_gpu_res(), gpu, index)
