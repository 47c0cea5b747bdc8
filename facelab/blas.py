"""OpenBLAS kernel hint for faiss: name the CPU's kernel family before faiss is loaded.

The OpenBLAS bundled with faiss-cpu 1.15 does not recognise recent Intel CPUs and falls back to
SSE3 ("Prescott") kernels; naming the right family makes the exact watchlist search about 2.8x
faster (benchmarks/README.md, "Alert events per minute"). OpenBLAS reads the hint once, when it is
loaded, so :func:`tune_blas` must run before anything imports faiss: the console entry point
(:mod:`facelab.__main__`) and the benchmarks' conftest call it; a notebook may call it first thing.
Importing facelab changes nothing.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from collections.abc import Iterable, MutableMapping

log = logging.getLogger(__name__)

BLAS_CORETYPE_ENV = "OPENBLAS_CORETYPE"
"""OpenBLAS reads the kernel family to use from this variable when it is loaded."""

NO_BLAS_TUNE_ENV = "FACELAB_NO_BLAS_TUNE"
"""Set to 1 to leave OpenBLAS' own CPU detection alone."""

CPUINFO = "/proc/cpuinfo"

BLAS_KERNELS: tuple[tuple[str, frozenset[str]], ...] = (
    ("SkylakeX", frozenset({"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"})),
    ("Haswell", frozenset({"avx2", "fma"})),
)
"""OpenBLAS kernel families, best first, with the CPU flags each one needs."""

X86_64_MACHINES = ("x86_64", "amd64")


def cpu_flags(cpuinfo_text: str) -> frozenset[str]:
    """The CPU feature flags listed in the text of ``/proc/cpuinfo`` (first ``flags`` line)."""
    for line in cpuinfo_text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def blas_coretype(flags: Iterable[str]) -> str | None:
    """The best OpenBLAS kernel family the CPU ``flags`` allow, or ``None`` (leave detection be)."""
    have = set(flags)
    for name, needs in BLAS_KERNELS:
        if needs <= have:
            return name
    return None


def tune_blas(environ: MutableMapping[str, str] | None = None, modules=None) -> str | None:
    """Set ``OPENBLAS_CORETYPE`` from the CPU flags, if that can still take effect and is wanted.

    Does nothing unless on Linux x86_64, faiss is not imported yet, the variable is unset (a
    user's value is never overridden) and ``FACELAB_NO_BLAS_TUNE`` is not set; any error
    reading ``/proc/cpuinfo`` leaves everything as it was.

    Returns
    -------
    str or None
        The kernel family set, or ``None`` when nothing was set.
    """
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if environ.get(NO_BLAS_TUNE_ENV) or BLAS_CORETYPE_ENV in environ or "faiss" in modules:
        return None
    if sys.platform != "linux" or platform.machine().lower() not in X86_64_MACHINES:
        return None
    try:
        with open(CPUINFO, encoding="ascii", errors="replace") as fh:
            flags = cpu_flags(fh.read())
    except OSError:
        return None
    coretype = blas_coretype(flags)
    if coretype is not None:
        environ.setdefault(BLAS_CORETYPE_ENV, coretype)
        log.debug("%s=%s for faiss' OpenBLAS (from the CPU flags)", BLAS_CORETYPE_ENV, coretype)
    return coretype
