"""Run a ``facelab`` command that SIGKILLs itself after a named write of an audited operation
(for tests/test_atomic_ops.py).

Usage: ``python tests/op_crash_driver.py POINT ARGS...`` runs ``facelab ARGS...`` with the
``on_step`` callback of tests/crash_driver.py passed to enrolment, removal, review and the
closing of a case (:func:`facelab.run.watchlist.enrol_photo`, :func:`facelab.run.watchlist.remove`,
:func:`facelab.run.review.review_alert`, :func:`facelab.run.cases.close_case`); the process kills
itself right after step POINT.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from crash_driver import kill_at  # noqa: E402


def install(on_step) -> None:
    """Pass ``on_step`` to every enrolment, removal, review and closing started here."""
    from facelab.run import cases, review, watchlist

    cases.close_case = functools.partial(cases.close_case, on_step=on_step)
    watchlist.enrol_photo = functools.partial(watchlist.enrol_photo, on_step=on_step)
    watchlist.remove = functools.partial(watchlist.remove, on_step=on_step)
    review.review_alert = functools.partial(review.review_alert, on_step=on_step)


if __name__ == "__main__":
    point, args = sys.argv[1], sys.argv[2:]
    from facelab.blas import tune_blas

    tune_blas()
    install(kill_at(point))
    from facelab.cli import main

    sys.argv = ["facelab", *args]
    main()
