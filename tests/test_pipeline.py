"""Image-mode pipeline: the number of render/detect workers does not change a run's contents,
and archived frames are signed JPEGs that verify."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from groundtruth import run_with_truth

from facelab.config.scenario import load_scenario
from facelab.config.sections import PopulationSpec
from facelab.governance import provenance
from facelab.run import pipeline


def _rows(run: Path) -> dict:
    conn = sqlite3.connect(run / "facelab.sqlite")
    try:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in ("frames", "sightings", "candidates", "alerts")
        }
    finally:
        conn.close()


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("classroom").with_overrides(population=PopulationSpec(12), days=1)


def test_workers_do_not_change_the_run(scenario, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "RENDER_BATCH", 4)  # several chunks in flight at once
    one = run_with_truth(scenario, tmp_path / "one")
    monkeypatch.setattr(pipeline, "PREPARE_WORKERS", 3)
    monkeypatch.setattr(
        pipeline, "EMBED_WORKERS", 3
    )  # chunks embedded out of order, collected in order
    three = run_with_truth(scenario, tmp_path / "three")
    assert one.total("sightings") == three.total("sightings") > 5
    assert _rows(tmp_path / "one") == _rows(tmp_path / "three")
    frames = sorted((tmp_path / "one" / "frames" / "day-000").iterdir())
    assert frames and all(f.suffix == pipeline.FRAME_SUFFIX for f in frames)
    for f in frames:
        assert (tmp_path / "three" / f.relative_to(tmp_path / "one")).read_bytes() == f.read_bytes()
    shards = sorted((tmp_path / "one").rglob("*.faiss"))
    assert shards and all(
        (tmp_path / "three" / f.relative_to(tmp_path / "one")).read_bytes() == f.read_bytes()
        for f in shards
    )  # the same embeddings in the same order
    verified = provenance.load_verified(frames[0])
    assert verified.record["kind"] == "frame" and verified.image.shape == (480, 640, 3)
