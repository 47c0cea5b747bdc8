"""Retention: purge what is past the window, and prove that it is gone.

* :mod:`.policy`: the run's ``[retention]`` policy, the day limits it sets at a simulated now,
  simulated dates;
* :mod:`.holds`: case holds (confirmed alerts of open cases keep their evidence);
* :mod:`.plan`: which rows must go at a now;
* :mod:`.purge`: the purge itself, crash-safe and idempotent (:mod:`.journal` for a killed one,
  :mod:`.database` for compaction, :mod:`.files` for the run's files, :mod:`.report` for what
  it did);
* :mod:`.proof` and :mod:`.faiss_bytes`: fingerprints of purged embeddings and frames, found in
  any file that still holds a copy;
* :mod:`.verify`: that nothing past retention is left.

The archive window a search stays in is :func:`facelab.run.window.archive_window` (the run
layer, below retention). This package re-exports the API the command line and the tests use.
"""

from facelab.governance.retention.files import HELD_INDEX
from facelab.governance.retention.holds import cases, close_case
from facelab.governance.retention.journal import JOURNAL, PENDING_KEY
from facelab.governance.retention.policy import RetentionPolicy, parse_now
from facelab.governance.retention.proof import DeletionProof
from facelab.governance.retention.purge import purge, purge_after_day
from facelab.governance.retention.report import COUNT_KINDS, PurgeReport
from facelab.governance.retention.verify import VerifyReport, verify

__all__ = [
    "COUNT_KINDS",
    "HELD_INDEX",
    "JOURNAL",
    "PENDING_KEY",
    "DeletionProof",
    "PurgeReport",
    "RetentionPolicy",
    "VerifyReport",
    "cases",
    "close_case",
    "parse_now",
    "purge",
    "purge_after_day",
    "verify",
]
