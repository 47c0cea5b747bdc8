"""A week of the classroom city on each backend: an alternating A/B of whole runs.

``test_classroom_week_ab``: the ``classroom`` preset (seed 7) with ``days = 7``, run end to end
(``facelab.api.run``: models loaded, watchlist enrolled, every frame rendered, detected,
embedded, searched and stored) into a fresh folder with ``--backend onnxruntime``,
``--backend openvino`` and ``--backend auto`` in turn, :data:`ROUNDS` rounds, the order
rotating each round so that load from other work on the machine falls on every arm alike.
``extra_info`` holds every run's wall seconds and faces/s, the 1-minute load average before each
run, the median per-round ratios against onnxruntime and the ratio of the medians, whether the
runs of one backend wrote the same rows (hash of the sightings, candidates and alerts), and
whether each backend's 50-80 % sweep (FMR, FNMR, FPIR, FNIR, pass-level FPIR / FNIR) agrees with
onnxruntime's within the 95 % intervals (:func:`facelab.lab.sweep.disagreements`).

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_ab.py -q -p no:cacheprovider
--benchmark-json=benchmarks/results-ab.json`` (``FACELAB_BENCH_AB_ROUNDS`` changes the rounds).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import statistics
import time
from pathlib import Path

import pytest

from facelab import api
from facelab.config.scenario import load_scenario
from facelab.lab.scores import load_scores
from facelab.lab.sweep import disagreements, sweep_run
from facelab.run.store import RunStore
from facelab.vision import backend

pytestmark = pytest.mark.skipif(not backend.openvino_available(), reason="openvino not installed")

DAYS = 7
ROUNDS = int(os.environ.get("FACELAB_BENCH_AB_ROUNDS", "3"))
ARMS = ("onnxruntime", "openvino", "auto")
THRESHOLDS = "50:80:5"


def _rows_hash(run: Path) -> str:
    con = sqlite3.connect(f"file:{run / 'facelab.sqlite'}?mode=ro", uri=True)
    try:
        h = hashlib.sha256()
        for table in ("sightings", "candidates", "alerts"):
            for row in con.execute(f"SELECT * FROM {table} ORDER BY 1, 2"):
                h.update(repr(row).encode())
        return h.hexdigest()[:16]
    finally:
        con.close()


def _sweep(run: Path):
    from facelab.lab.passes import load_passes

    with RunStore(run) as store:
        scores = load_scores(store)
        return sweep_run(scores, THRESHOLDS, passes=load_passes(store, scores))


def test_classroom_week_ab(benchmark, context, tmp_path):
    sc = load_scenario("classroom").with_overrides(days=DAYS)
    runs: dict[str, list[dict]] = {a: [] for a in ARMS}
    first: dict[str, Path] = {}
    for r in range(ROUNDS):
        order = ARMS[r % len(ARMS) :] + ARMS[: r % len(ARMS)]
        for arm in order:
            out = tmp_path / f"{arm}-{r}"
            load = os.getloadavg()[0]
            t = time.perf_counter()
            summary = api.run(sc, out, backend=arm)
            wall = time.perf_counter() - t
            runs[arm].append(
                {
                    "wall_s": round(wall, 2),
                    "faces": summary.total("sightings"),
                    "faces_per_s": round(summary.total("sightings") / wall, 2),
                    "loadavg_1m_before": round(load, 2),
                    "rows": _rows_hash(out),
                    "inference": summary.inference,
                }
            )
            first.setdefault(arm, out)
    ref = [x["wall_s"] for x in runs["onnxruntime"]]
    info: dict = {
        "scenario": f"classroom preset (seed 7), days {DAYS}, image mode, cpu, end to end",
        "rounds": ROUNDS,
        "runs": runs,
        "cpu_capabilities": list(backend.cpu_capabilities()),
    }
    for arm in ARMS[1:]:
        walls = [x["wall_s"] for x in runs[arm]]
        info[f"speedup_{arm}_per_round"] = [round(a / b, 3) for a, b in zip(ref, walls)]
        info[f"speedup_{arm}_median_of_rounds"] = round(
            statistics.median(a / b for a, b in zip(ref, walls)), 3
        )
        info[f"speedup_{arm}_ratio_of_medians"] = round(
            statistics.median(ref) / statistics.median(walls), 3
        )
        problems = disagreements(_sweep(first[arm]), _sweep(first["onnxruntime"]))
        info[f"sweep_{arm}_agrees_with_onnxruntime"] = not problems
        info[f"sweep_{arm}_disagreements"] = problems
    info["deterministic"] = {a: len({x["rows"] for x in runs[a]}) == 1 for a in ARMS}
    context.update(info)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    assert all(info["deterministic"].values())
