"""facelab.api: one counterpart for every command line operation, and the first-hour calls
(a fresh photo of a person of the run's world, enrolled and searched; the alert threshold
override; short alert ids)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from facelab import api
from facelab.cli import app
from facelab.errors import ConfigError, DataError
from facelab.governance import provenance
from facelab.run import schema
from facelab.run.photo import photo_records, resolve_person
from facelab.world import synth

FRONT_ENDS = {"serve"}
"""Commands that are front ends like the command line itself (layered above the api)."""


def _commands(typer_app, prefix: str = "") -> list[str]:
    names = []
    for info in typer_app.registered_commands:
        names.append(prefix + (info.name or info.callback.__name__).replace("-", "_"))
    for group in typer_app.registered_groups:
        names += _commands(group.typer_instance, prefix + group.name.replace("-", "_") + "_")
    return names


def test_every_cli_command_has_an_api_counterpart():
    names = [n for n in _commands(app) if n not in FRONT_ENDS]
    assert {"photo", "sweep", "report", "purge", "audit", "case", "retention_verify"} <= set(names)
    missing = [n for n in names if not (hasattr(api, n) or hasattr(api.Run, n))]
    assert missing == []


def test_threshold_override_is_validated_as_the_scenario_key():
    sc = api.load_scenario("classroom", threshold=72.5)
    assert sc.thresholds.alert_percent == 72.5
    assert sc.threshold_for(sc.cameras[0].id) == 72.5
    with pytest.raises(ConfigError, match=r"thresholds\.alert_percent: must be a percent"):
        api.load_scenario("classroom", threshold=150)
    with pytest.raises(ConfigError, match=r"thresholds\.alert_percent"):
        api.load_scenario("classroom", threshold=0)
    assert api.load_scenario("classroom") == api.load_scenario("classroom", threshold=None)


@given(
    day=st.integers(0, 10_000),
    seq=st.integers(0, (1 << schema.SIGHTING_DAY_SHIFT) - 1),
    rank=st.integers(0, schema.TOP_K - 1),
)
def test_short_alert_id_round_trips(day, seq, rank):
    aid = int(schema.alert_id(day << schema.SIGHTING_DAY_SHIFT | seq, rank))
    short = schema.display_alert_id(aid)
    assert short.startswith(f"A-{day}-")
    assert schema.parse_alert_id(short) == aid
    assert schema.parse_alert_id(str(aid)) == aid


def test_short_alert_id_shift_is_the_pipelines():
    from facelab.run.pipeline import SIGHTING_ID_SHIFT

    assert schema.SIGHTING_DAY_SHIFT == SIGHTING_ID_SHIFT


@pytest.mark.parametrize("bad", ["A-1", "B-1-2", "A-x-1", "A-1-2-0", "A-1-2-99", "-3", ""])
def test_bad_short_alert_ids_are_refused(bad):
    with pytest.raises(DataError, match="bad alert id"):
        schema.parse_alert_id(bad)


def test_enrolment_photos_are_the_photo_module(run_copy):
    """The pipeline's watchlist photos are photo_records(take=None): one implementation."""
    lab = api.open_run(run_copy)
    with lab.store() as s:
        sc = s.scenario()
    world = api.world(sc)
    entry = next(e for e in world.watchlist if e.in_city)
    ((image, record),) = photo_records(
        synth.FaceGenerator(), sc.seed, [entry.identity], sc.variation.enrol_sigma
    )
    stored = provenance.load_verified(run_copy / "watchlist" / f"{entry.label}.png")
    assert np.array_equal(stored.image, image)
    assert stored.record["identity"] == record["identity"] == entry.identity
    assert stored.record["params"] == record["params"]


def test_fresh_photo_of_a_watchlisted_person_is_found(run_copy, tmp_path):
    lab = api.open_run(run_copy)
    with lab.store() as s:
        world = api.world(s.scenario())
    entry = next(e for e in world.watchlist if e.in_city)
    p = lab.photo(entry.label, tmp_path / "wl.png")
    assert (p.identity, p.label, p.in_city, p.take) == (entry.identity, entry.label, True, 1)
    fresh = provenance.load_verified(p.path)
    enrolled = provenance.load_verified(run_copy / "watchlist" / f"{entry.label}.png")
    assert fresh.record["identity"] == entry.identity
    assert not np.array_equal(fresh.image, enrolled.image)
    again = lab.photo(str(entry.identity), tmp_path / "again.png")
    assert again.sha256 == p.sha256  # deterministic: same person, same take
    other = lab.photo(entry.identity, tmp_path / "take2.png", take=2)
    assert other.sha256 != p.sha256
    # the photo is a face SFace finds close to the enrolled entry
    res = lab.search(p.path, reason="test", min_percent=0, top=1)
    assert res.hits


def test_photo_enroll_search_finds_the_person_at_fr_cameras(run_copy, tmp_path):
    """A person who passed FR cameras: photo → enroll → search finds their passes."""
    lab = api.open_run(run_copy)
    with lab.store() as s:
        sc = s.scenario()
    passer = api.people(sc)["fr_passers"][0]
    photo = lab.photo(passer["person"], tmp_path / "p.png")
    entry = lab.enroll(photo.path, label="WL-TRY", reason="test")
    assert entry.active
    res = lab.search(photo.path, reason="test")
    assert 0 < res.count
    assert all(h.percent >= res.params.min_percent for h in res.hits)


def test_unknown_person_is_refused(run_copy, tmp_path):
    lab = api.open_run(run_copy)
    with lab.store() as s:
        world = api.world(s.scenario())
    for bad in ("nobody", "-1", str(world.n_people + 10_000)):
        with pytest.raises(DataError, match="no person"):
            resolve_person(world, bad)
    assert not (tmp_path / "x.png").exists()


def test_api_sweep_audit_and_retention_delegate(run_copy):
    lab = api.open_run(run_copy)
    table = lab.sweep("60,70")
    assert [r.percent for r in table.rows] == [60, 70]
    records = lab.audit()
    assert records and lab.audit_verify().ok
    assert lab.retention_verify().ok
    assert lab.retention_window() is not None
    assert dataclasses.is_dataclass(records[0])
