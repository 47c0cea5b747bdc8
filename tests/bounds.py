"""The time and memory bound on a command given bad input: 10 s and 2 GiB peak RSS each.

Two ways to run a command and measure it, shared by tests/test_bad_inputs.py and
tests/test_fuzz_inputs.py:

- :func:`console` runs the real console (``python -m facelab ARGS``) in a child process and
  reads that child's own peak RSS from :func:`os.wait4` (not the cumulative
  ``RUSAGE_CHILDREN`` of every child this process ever had);
- :class:`Worker` runs commands in-process with typer's CliRunner inside one spawned child that
  does nothing else. Its peak RSS (``RUSAGE_SELF``, read after each command) only grows, so
  when it is under :data:`MAX_RSS` after a command, that command stayed under it too, baseline
  (interpreter, libraries, models) included. The caller warms it up first (imports, models),
  so that the timed commands do not pay that.

:func:`check_bounds` asserts both bounds for either kind of result.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

SECONDS = 10.0
"""Wall-clock bound on one command given bad input (the issue's bound)."""
MAX_RSS = 2 * 1024**3
"""Peak resident memory bound on one command given bad input, in bytes (the issue's 2 GiB)."""


@dataclass(frozen=True)
class Console:
    """A finished ``python -m facelab`` child: its output, exit status, time and peak RSS."""

    args: tuple
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    max_rss: int


def console(*args, timeout: float = 120, env: dict | None = None) -> Console:
    """Run ``python -m facelab ARGS`` and measure that child alone (killed after ``timeout``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "facelab", *map(str, args)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
        )  # fmt: skip
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return Console(
            args=tuple(map(str, args)),
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            seconds=seconds,
            max_rss=usage.ru_maxrss * 1024,  # Linux reports KiB
        )


@dataclass(frozen=True)
class Outcome:
    """A command run by a :class:`Worker`: what the CLI's error boundary would see."""

    args: tuple
    exit_code: int
    output: str
    error: tuple  # names of the exception's classes (its MRO), empty when none was raised
    message: str
    error_exit_code: int | None  # the exception's exit_code
    class_exit_code: int | None  # its class's documented exit_code
    seconds: float
    max_rss: int  # the worker's peak RSS so far

    def raised(self, *classes: type) -> bool:
        """Whether the command raised an instance of one of ``classes``."""
        return any(c.__name__ in self.error for c in classes)


def _start() -> None:
    from facelab.blas import tune_blas

    tune_blas()  # before faiss is first imported, as the facelab command does


def _invoke(args: tuple) -> Outcome:
    from typer.testing import CliRunner

    from facelab.cli import app

    t = time.perf_counter()
    result = CliRunner().invoke(app, list(args))
    seconds = time.perf_counter() - t
    exc = result.exception
    if isinstance(exc, SystemExit):
        exc = None
    return Outcome(
        args=args,
        exit_code=result.exit_code,
        output=result.output,
        error=tuple(c.__name__ for c in type(exc).__mro__) if exc is not None else (),
        message=str(exc) if exc is not None else "",
        error_exit_code=getattr(exc, "exit_code", None),
        class_exit_code=getattr(type(exc), "exit_code", None),
        seconds=seconds,
        max_rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    )


class Worker:
    """One spawned process that runs facelab commands with CliRunner, one at a time."""

    def __init__(self) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_start
        )

    def invoke(self, args, timeout: float = 300) -> Outcome:
        """Run ``facelab ARGS`` in the worker (no bounds checked: see :func:`check_bounds`)."""
        return self._pool.submit(_invoke, tuple(map(str, args))).result(timeout=timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def check_bounds(result: Console | Outcome) -> None:
    """Assert that the command took under :data:`SECONDS` and :data:`MAX_RSS`."""
    what = " ".join(result.args)
    assert result.seconds < SECONDS, f"{what}: {result.seconds:.1f} s"
    assert result.max_rss < MAX_RSS, f"{what}: peak RSS {result.max_rss / 2**30:.2f} GiB"
