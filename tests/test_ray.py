"""The Ray engine (facelab.run.ray_engine, facelab.run.ray_archive) on a real local Ray cluster.

One cluster of two simulated nodes (``ray_cluster`` in conftest.py) serves every test here. A
Ray run must equal the local run of the same scenario: the same rows, shard bytes, frames and
sweep; the distributed archive search must equal the local search on the same run; a worker
killed mid-day is retried with the same result; a driver stopped mid-run resumes on Ray as
locally. Ray must never be imported by ``import facelab`` or a default path.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from groundtruth import run_with_truth

from facelab import api
from facelab.config.sections import PopulationSpec
from facelab.errors import EngineError
from facelab.run import ray_engine
from facelab.run.ray_engine import RayEngine

TABLES = ("frames", "sightings", "candidates", "alerts")


def _rows(run: Path) -> dict:
    conn = sqlite3.connect(run / "facelab.sqlite")
    try:
        out = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}
        out["days"] = conn.execute("SELECT day, frames, sightings, alerts FROM days").fetchall()
    finally:
        conn.close()
    return out


def _files(run: Path, pattern: str) -> dict:
    return {str(f.relative_to(run)): f.read_bytes() for f in sorted(run.rglob(pattern))}


def _sweep(run: Path) -> str:
    return api.open_run(run).sweep("40:90:5").to_json()


def assert_same_run(a: Path, b: Path) -> None:
    assert _rows(a) == _rows(b)
    shards = _files(a, "*.faiss")
    assert any(k.startswith("archive/") for k in shards) and shards == _files(b, "*.faiss")
    assert _files(a, "*.jpg") == _files(b, "*.jpg")
    assert _sweep(a) == _sweep(b)


@pytest.fixture(scope="module")
def twin_scenario():
    """The classroom city in embedding mode (2 days)."""
    return api.load_scenario("classroom").with_overrides(mode="embedding")


@pytest.fixture(scope="module")
def local_twin_run(twin_model_dir, twin_scenario, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACELAB_MODEL_DIR", str(twin_model_dir))
        out = tmp_path_factory.mktemp("local") / "run"
        summary = run_with_truth(twin_scenario, out)
    assert summary.total("sightings") > 50 and summary.total("alerts") > 0
    return out


# --------------------------------------------------------------------------- runs


def test_embedding_run_on_ray_equals_the_local_run(ray_cluster, twin_models, twin_scenario,
                                                   local_twin_run, tmp_path):  # fmt: skip
    out = tmp_path / "ray"
    summary = api.run(twin_scenario, out, engine="ray", address=ray_cluster.address)
    assert summary.total("sightings") > 50
    assert_same_run(local_twin_run, out)


@pytest.mark.costly
def test_image_run_on_ray_actors_equals_the_local_run(ray_cluster, tmp_path):
    sc = api.load_scenario("classroom").with_overrides(population=PopulationSpec(6), days=1)
    local = run_with_truth(sc, tmp_path / "local")
    remote = run_with_truth(sc, tmp_path / "ray", engine=RayEngine())
    assert remote.total("sightings") == local.total("sightings") > 0
    assert_same_run(tmp_path / "local", tmp_path / "ray")


class _Stop(Exception):
    pass


class KillOnce:
    """A twin source whose worker process dies the first time any day is drawn (a marker file
    says it already died), as a node lost mid-day would."""

    def __init__(self, source, marker: str):
        self.source, self.marker = source, marker

    def day(self, day, progress):
        if not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)  # the worker process dies mid-task
        return self.source.day(day, progress)


class KillingEngine(RayEngine):
    def __init__(self, marker):
        super().__init__()
        self.marker = str(marker)

    def ship(self, source):
        return KillOnce(super().ship(source), self.marker)


def test_a_stopped_run_resumes_on_ray_and_a_killed_worker_is_retried(
    ray_cluster, twin_models, twin_scenario, local_twin_run, tmp_path
):
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests
    out, marker = tmp_path / "run", tmp_path / "killed"

    def stop(label, day):
        if label == "after-commit" and day == 0:
            raise _Stop

    with pytest.raises(_Stop):
        run_with_truth(twin_scenario, out, on_step=stop)  # the local engine, stopped after day 0
    resumed = run_with_truth(twin_scenario, out, engine=KillingEngine(marker))
    assert marker.read_text().isdigit()  # a worker did die mid-day, and Ray ran the day again
    assert resumed.days_skipped == 1 and [d.day for d in resumed.days] == [1]
    assert _rows(out) == _rows(local_twin_run)
    assert _files(out, "*.faiss") == _files(local_twin_run, "*.faiss")


# --------------------------------------------------------------------------- search


def test_distributed_search_equals_the_local_search(ray_cluster, run_copy, tmp_path):
    import ray

    lab = api.open_run(run_copy, actor="tester")
    person = api.people("classroom")["watchlist"][0]["person"]
    photo = lab.photo(person, tmp_path / "p.png").path
    for kw in ({"min_percent": 40}, {"min_percent": 0, "top": 7}):
        local = lab.search(photo, reason="ray test", **kw)
        remote = lab.search(photo, reason="ray test", engine="ray", **kw)
        assert remote.hits == local.hits and remote.days == local.days
        assert len(local.hits) > 0
    placed = lab.ray_archive(None).placement
    assert len(placed) == 2  # both nodes hold shards ...
    days = [d for held in placed.values() for d in held]
    assert sorted(days) == sorted(set(days)) == list(remote.days)  # ... each day on one node
    record = [r for r in lab.audit() if r.action == "search"][-1]
    assert record.details["placement"] == placed
    arch = lab.ray_archive(None)
    first = min(remote.days)
    lab.purge(retention_days=1, reason="ray test")  # day 0 goes: from the holders too
    purged = lab.search(photo, reason="ray test", engine="ray", min_percent=40)
    assert purged.hits == lab.search(photo, reason="ray test", min_percent=40).hits
    assert first not in purged.days and purged.days
    held = ray.get([h.load.remote({}) for h in arch._holders])
    assert all(first not in days for _, days in held)  # no node keeps a purged shard
    last = purged.days[-1]
    lost = arch._nodes[arch._holder_of[last]]
    ray.kill(arch._holders[arch._holder_of[last]])  # a node's holder is gone
    with pytest.raises(EngineError, match=f"on node {lost} \\(days {last}\\) cannot be"):
        lab.search(photo, reason="ray test", engine="ray", min_percent=40)


# --------------------------------------------------------------------------- errors


def test_an_unreachable_address_is_one_line_naming_it(tmp_path):
    with pytest.raises(EngineError, match=r"cannot reach the Ray cluster at 127\.0\.0\.1:9"):
        api.run("classroom", tmp_path / "r", engine="ray", address="127.0.0.1:9")
    out = tmp_path / "r"
    args = ["run", "classroom", "--out", out, "--engine", "ray", "--address", "127.0.0.1:9"]
    res = subprocess.run([sys.executable, "-m", "facelab", *map(str, args)], capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert res.returncode == EngineError.exit_code == 12
    assert res.stderr == "error: cannot reach the Ray cluster at 127.0.0.1:9: Connection refused\n"
    assert not out.exists()


def test_ray_missing_is_one_line_with_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(EngineError, match=r"needs Ray, which is not installed: pip install"):
        ray_engine.require_ray()


def test_facelab_never_imports_ray_by_default():
    code = (
        "import sys, facelab, facelab.api, facelab.cli, facelab.run.pipeline, "
        "facelab.run.ray_engine, facelab.run.ray_archive; assert 'ray' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
