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
    arch.release()  # the other holder's folder goes; the killed one's waits for the next


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


# --------------------------------------------------------------------------- retention on the nodes


@pytest.fixture
def ray_run(ray_cluster, classroom_run, tmp_path):
    """A private copy of the classroom run, its archive shipped to the cluster by a search."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(classroom_run, run)
    lab = api.open_run(run, actor="tester")
    person = api.people("classroom")["watchlist"][0]["person"]
    photo = lab.photo(person, tmp_path / "p.png").path
    first = lab.search(photo, reason="ray test", engine="ray", min_percent=40)
    yield lab, photo, first
    lab._ray_archive[1].release()


def test_a_purge_on_ray_drops_held_shards_at_once_and_the_proof_scans_the_nodes(ray_run):
    from facelab.governance.retention import DeletionProof

    lab, photo, before = ray_run
    arch = lab.ray_archive(None)
    day0 = min(before.days)
    held = arch.held_files()
    assert sorted(f.day for f in held) == list(before.days) and len({f.node for f in held}) == 2
    gone = subprocess.Popen(["true"])  # a pid no process has once it is waited for
    gone.wait()
    folder = Path(held[0].path).parent  # facelab-shards-KEY-NODE-PID-RANDOM
    orphan = folder.with_name(folder.name.rsplit("-", 2)[0] + f"-{gone.pid}-x")
    orphan.mkdir()  # what a holder killed with its driver leaves: a purged and a current day
    for f in held:
        (orphan / Path(f.path).name).write_bytes(Path(f.path).read_bytes())
    proof = DeletionProof()
    lab.purge(retention_days=1, reason="ray test", proof=proof, engine="ray")
    assert day0 not in [d for ds in arch.placement.values() for d in ds]  # dropped at once
    assert not orphan.exists()
    scanned = arch.held_files(proof.scan_file)
    assert scanned and all(f.day != day0 and not f.found for f in scanned)
    rep = lab.retention_verify(proof, engine="ray")
    assert rep.ok and len(proof) > 0
    nodes = [f for f in rep.files if f.path.startswith("ray node ")]
    assert len(nodes) == len(scanned) and {c.name for c in rep.checks} >= {"node shards"}
    after = lab.search(photo, reason="ray test", engine="ray", min_percent=40)
    assert after.hits == lab.search(photo, reason="ray test", min_percent=40).hits
    assert day0 not in after.days and after.days


def test_verify_on_ray_names_node_and_day_of_a_purged_shard_still_held(ray_cluster, ray_run):
    from typer.testing import CliRunner

    from facelab.cli import app
    from facelab.errors import RetentionError
    from facelab.governance.retention import DeletionProof

    lab, _photo, before = ray_run
    day0 = min(before.days)
    node = next(n for n, ds in lab.ray_archive(None).placement.items() if day0 in ds)
    proof = DeletionProof()
    api.open_run(lab.path).purge(retention_days=1, proof=proof)  # not told of the cluster
    rep = lab.retention_verify(proof)
    assert rep.ok  # the run itself is clean ...
    rep = lab.retention_verify(proof, engine="ray")
    assert not rep.ok  # ... but a node still holds day 0, and the proof finds its vectors
    found = [f for f in rep.files if f.count]
    assert found and all(f.path.startswith(f"ray node {node[:12]} day {day0}: ") for f in found)
    check = next(c for c in rep.checks if c.name == "node shards")
    assert not check.ok and f"day {day0}" in check.detail
    proof_path = lab.path.parent / "proof.json"
    proof.save(proof_path)
    args = ["retention", "verify", str(lab.path), "--proof", str(proof_path), "--engine", "ray",
            "--address", ray_cluster.address]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert isinstance(res.exception, RetentionError)  # exit 10 from `facelab`
    assert f"FOUND ray node {node[:12]} day {day0}: " in res.output
    res = CliRunner().invoke(app, ["purge", str(lab.path), "--engine", "ray",
                                   "--address", ray_cluster.address])  # fmt: skip
    assert res.exit_code == 0 and "ray nodes        1 held file(s)" in res.output
    rep = lab.retention_verify(proof, engine="ray")
    assert rep.ok and all(f.count == 0 for f in rep.files)


def test_cuda_on_a_cluster_without_gpus_is_one_line_before_anything_is_written(ray_cluster,
                                                                              tmp_path):  # fmt: skip
    import ray
    from typer.testing import CliRunner

    from facelab.cli import app

    assert not ray.cluster_resources().get("GPU")  # the test cluster has CPUs only
    out = tmp_path / "r"
    msg = f"--device cuda, but the Ray cluster at {ray_cluster.address} reports no GPU: use"
    with pytest.raises(EngineError, match=f"^{msg}"):
        api.run("classroom", out, engine="ray", address=ray_cluster.address, device="cuda")
    args = ["run", "classroom", "--out", str(out), "--engine", "ray", "--device", "cuda",
            "--address", ray_cluster.address]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert isinstance(res.exception, EngineError) and str(res.exception).startswith(msg)
    assert EngineError.exit_code == 12 and "\n" not in str(res.exception)
    assert not out.exists()
    assert ray_engine.gpu_share(ray, "cuda", 4) == ray_engine.gpu_share(ray, "auto", 4) == 0


def test_the_search_on_enrolment_runs_on_ray_with_the_local_hits(ray_cluster, ray_run, tmp_path):
    from typer.testing import CliRunner

    from facelab.cli import app

    lab, photo, _before = ray_run
    entry = lab.enroll(photo, label="late-1", reason="ray test", case="C-7")
    local = lab.search_entry("late-1")
    remote = lab.search_entry(str(entry.id), engine="ray", address=ray_cluster.address)
    assert remote.hits == local.hits and remote.days == local.days and len(local.hits) > 0
    with lab.store(readonly=True) as s:
        assert local.params.min_percent == s.scenario().thresholds.alert_percent
    record = [r for r in lab.audit() if r.action == "search"][-1]
    assert record.case == "C-7" and record.details["placement"]
    person = api.people("classroom")["watchlist"][1]["person"]
    second = lab.photo(person, tmp_path / "q.png").path
    args = ["enroll", str(lab.path), str(second), "--label", "late-2", "--reason", "ray test",
            "--search", "--engine", "ray", "--address", ray_cluster.address]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    want = lab.search_entry("late-2")
    assert "enrolled late-2" in res.output and want.summary in res.output
    assert all(h.frame in res.output for h in want.hits if h.frame)
