"""The Ray engine against the local engine: overhead on one machine, and one vs two nodes.

One pytest process runs each preset with the local engine, then on a Ray cluster of simulated
nodes (``ray.cluster_utils.Cluster`` on this machine, :data:`NODE_CPUS` CPU each): first one
node, then two (a node added to the same cluster). Every Ray run is checked to equal the local
run (rows and shard bytes) before its time is recorded. Timings are wall-clock seconds of
``run_scenario`` (world build, enrolment, every day, commits), so start-up costs of the engine
(actors loading the models, the source shipped to the object store) are included.

* ``classroom`` (image mode, seed of the preset): the whole preset (40 people, 2 days).
* ``metro`` (embedding mode, seed 2020): population and days scaled by ``$FACELAB_BENCH_SCALE``
  (:data:`METRO`); needs the calibrated twin (``models/twin.npz``, or ``$FACELAB_MODEL_DIR``).

Ratios: ``overhead`` = Ray on two nodes (as many CPUs as the machine) / local, in the same
process; ``scaling`` = one node / two nodes (2.0 would be perfect). On a 2-core machine two
simulated nodes share the cores the local engine uses: the scaling figure measures how the work
spreads over nodes, not more hardware.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from facelab.config.scenario import load_scenario
from facelab.config.sections import PopulationSpec
from facelab.run.pipeline import run_scenario
from facelab.run.ray_engine import RayEngine
from facelab.truth import TruthStore

NODE_CPUS = 1
OBJECT_STORE = 400 * 2**20  # bytes per simulated node
METRO = {"small": (5_000, 3), "default": (20_000, 5), "large": (20_000, 35)}  # people, days
TABLES = ("frames", "sightings", "candidates", "alerts")


def _rows(run: Path) -> dict:
    con = sqlite3.connect(run / "facelab.sqlite")
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}
    finally:
        con.close()


def _shards(run: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted((run / "archive").glob("*.faiss"))}


def _timed(sc, out: Path, engine=None) -> tuple[float, object]:
    t = time.perf_counter()
    with TruthStore(out, create=True) as truth:
        summary = run_scenario(sc, out, truth=truth, engine=engine)
    return time.perf_counter() - t, summary


@pytest.fixture(scope="module")
def cluster():
    """A Ray cluster of one simulated node; the test adds the second."""
    import ray
    from ray.cluster_utils import Cluster

    node = {"num_cpus": NODE_CPUS, "object_store_memory": OBJECT_STORE}
    c = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    ray.init(address=c.address, log_to_driver=False)
    c.node_args = node
    yield c
    ray.shutdown()
    c.shutdown()


def _measure(benchmark, context, cluster, sc, tmp_path) -> None:
    import ray

    local_s, local = _timed(sc, tmp_path / "local")
    times = {}
    for nodes in (1, 2):
        if nodes == 2:
            cluster.add_node(**cluster.node_args)
            cluster.wait_for_nodes()
        assert len([n for n in ray.nodes() if n["Alive"]]) == nodes
        out = tmp_path / f"ray-{nodes}"
        if nodes == 2:
            box = {}

            def run_two(out=out, box=box):
                box["t"], box["s"] = _timed(sc, out, RayEngine())

            benchmark.pedantic(run_two, rounds=1, iterations=1)
            times[nodes], summary = box["t"], box["s"]
        else:
            times[nodes], summary = _timed(sc, out, RayEngine())
        assert _rows(out) == _rows(tmp_path / "local")  # the same run, or no figure
        assert _shards(out) == _shards(tmp_path / "local")
    n = local.total("sightings")
    context.update(
        scenario=f"{sc.name} (seed {sc.seed}), population {sc.population.size}, "
        f"days {sc.days}, {sc.mode} mode",
        sightings=n,
        alerts=local.total("alerts"),
        node_cpus=NODE_CPUS,
        local_seconds=round(local_s, 2),
        ray_1_node_seconds=round(times[1], 2),
        ray_2_nodes_seconds=round(times[2], 2),
        overhead_ratio=round(times[2] / local_s, 3),
        scaling_1_to_2_nodes=round(times[1] / times[2], 3),
        sightings_per_s_local=round(n / local_s, 1),
        sightings_per_s_ray_1_node=round(n / times[1], 1),
        sightings_per_s_ray_2_nodes=round(n / times[2], 1),
        identical=True,
    )


@pytest.mark.benchmark(group="ray engine")
def test_ray_classroom(benchmark, context, cluster, tmp_path):
    """The classroom preset (image mode): local, then Ray on one and on two nodes."""
    _measure(benchmark, context, cluster, load_scenario("classroom"), tmp_path)


@pytest.mark.benchmark(group="ray engine")
def test_ray_metro(benchmark, context, cluster, tmp_path, twin_model, tools):
    """The metro preset (embedding mode), scaled: local, then Ray on one and on two nodes
    (the cluster's second node, added by the classroom benchmark, is removed first)."""
    import ray

    for node in list(cluster.worker_nodes):
        cluster.remove_node(node)
    cluster.wait_for_nodes()
    people, days = METRO[tools.scale]
    sc = load_scenario("metro").with_overrides(population=PopulationSpec(people), days=days)
    assert len([n for n in ray.nodes() if n["Alive"]]) == 1
    _measure(benchmark, context, cluster, sc, tmp_path)
