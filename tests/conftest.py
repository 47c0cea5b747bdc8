"""Session-wide fixtures: one provenance key for the whole session, one classroom run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from facelab import api, provenance


@pytest.fixture(scope="session", autouse=True)
def provenance_key(tmp_path_factory) -> Path:
    """Every test signs and verifies with this session's key, never the user's models/ key."""
    key = tmp_path_factory.getbasetemp() / "keys" / "provenance.key"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(provenance.KEY_ENV, str(key))
        yield key


@pytest.fixture(scope="session")
def classroom_run(tmp_path_factory) -> Path:
    """The classroom preset run once per session (image mode, real models). Read-only: tests
    that change a run use :func:`run_copy`."""
    run = tmp_path_factory.getbasetemp() / "classroom-run"
    api.run("classroom", run)
    return run


@pytest.fixture(scope="module")
def run_copy(classroom_run, tmp_path_factory) -> Path:
    """A private copy of the classroom run for one test module."""
    copy = tmp_path_factory.mktemp("run") / "run"
    shutil.copytree(classroom_run, copy)
    return copy
