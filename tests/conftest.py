"""Session-wide fixtures: one provenance key for the whole session, one classroom run."""

from __future__ import annotations

from facelab.blas import tune_blas

tune_blas()  # before faiss is first imported, as the facelab command does

import contextlib
import fcntl
import os
import shutil
from pathlib import Path

import pytest

from facelab import api
from facelab.governance import provenance

# Files whose session fixtures or calls take minutes: collected first, so that under
# `pytest -n 2 --dist loadfile` (make test) they start at once instead of ending the run alone.
SLOW_FIRST = (
    "test_twin.py",
    "test_cases.py",
    "test_serve_browser.py",
    "test_ray.py",
    "test_crash.py",
    "test_profile_runs.py",
    "test_report.py",
    "test_retention.py",
)


def pytest_collection_modifyitems(items):
    """Stable reorder: the files of :data:`SLOW_FIRST` first, in that order."""
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def _shared_tmp(tmp_path_factory) -> Path:
    """The session's temporary folder, shared by every xdist worker of the session."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` across the xdist workers (``fcntl.flock``)."""
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


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


@pytest.fixture(scope="session")
def twin_model_dir(tmp_path_factory) -> Path:
    """A model folder with the real ONNX models (linked) and a small twin fitted on 30 people.

    Tests of embedding mode point ``FACELAB_MODEL_DIR`` here, so they never depend on (or
    overwrite) a calibrated ``models/twin.npz`` of the user's.
    """
    from facelab import paths
    from facelab.twin.calibrate import calibrate
    from facelab.twin.model import default_path

    src = paths.model_dir()
    folder = _shared_tmp(tmp_path_factory) / "twin-models"
    folder.mkdir(exist_ok=True)
    with _locked(folder / ".lock"), pytest.MonkeyPatch.context() as mp:
        for f in src.iterdir():
            if f.suffix in (".onnx", ".json"):
                target = folder / f.name
                if not target.exists():
                    target.symlink_to(f)
        mp.setenv("FACELAB_MODEL_DIR", str(folder))
        if not default_path().exists():
            model, _ = calibrate(30, 3, 2, seed=5, qualities=("good",))
            model.save(default_path())
    return folder


@pytest.fixture
def twin_models(twin_model_dir, monkeypatch) -> Path:
    """Use the session's small twin (and the real models) in this test."""
    monkeypatch.setenv("FACELAB_MODEL_DIR", str(twin_model_dir))
    return twin_model_dir


@pytest.fixture(scope="session")
def ray_cluster(provenance_key):
    """One Ray cluster for every Ray test of the session: two simulated nodes of one CPU and
    100 MB of object store each (``ray.cluster_utils.Cluster``), this process connected to it.
    Yields the cluster (``.address``; ``ray.nodes()`` lists both nodes)."""
    import ray
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "object_store_memory": 100 * 2**20}
    for attempt in (1, 2):  # a raylet gives up after 30 s of a loaded machine: start again once
        cluster = Cluster()
        try:
            cluster.add_node(**node, include_dashboard=False)
            cluster.add_node(**node)
            break
        except Exception:
            cluster.shutdown()
            if attempt == 2:
                raise
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
