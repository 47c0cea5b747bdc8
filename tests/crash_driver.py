"""Run a ``facelab`` command that SIGKILLs itself at a named step (for tests/test_crash.py).

Usage: ``python tests/crash_driver.py POINT ARGS...`` runs ``facelab ARGS...`` with an
``on_step`` callback passed to every run (:func:`facelab.api.run`, which hands it to the pipeline
and to the purges after each day) and to ``facelab purge`` (:func:`facelab.governance.retention.purge`). POINT is ``label`` or
``label@day``; the process kills itself right after that step, as a power cut would.
"""

from __future__ import annotations

import functools
import os
import signal
import sys


def kill_at(point: str):
    """An ``on_step`` callback that SIGKILLs this process after step ``point``."""

    def on_step(label: str, day: int | None) -> None:
        if point == label or (day is not None and point == f"{label}@{day}"):
            print(f"crash point {label} (day {day}): killing this process", file=sys.stderr,
                  flush=True)  # fmt: skip
            os.kill(os.getpid(), signal.SIGKILL)

    return on_step


def install(on_step) -> None:
    """Pass ``on_step`` to every run and purge the command line starts in this process."""
    from facelab import api
    from facelab.governance import retention

    api.run = functools.partial(api.run, on_step=on_step)
    retention.purge = functools.partial(retention.purge, on_step=on_step)


if __name__ == "__main__":
    point, args = sys.argv[1], sys.argv[2:]
    from facelab.blas import tune_blas

    tune_blas()  # before faiss is first imported, as the facelab command does
    install(kill_at(point))
    from facelab.cli import main

    sys.argv = ["facelab", *args]
    main()
