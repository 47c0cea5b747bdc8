"""Documentation that code produces stays what the code says.

``docs/scenarios.md`` is generated from the configuration tables
(:mod:`facelab.config.reference`); here it is compared with a fresh generation, its key rows
with the keys the real table readers accept (asked by feeding them an unknown key), its
defaults with what a parsed scenario holds, and its example with the parser.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from facelab.config.reference import KEYS, Say, scenarios_markdown
from facelab.config.scenario import parse_scenario
from facelab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "scenarios.md"
UNKNOWN = "qqqqqqqqqq"


def _minimal() -> dict:
    """The example scenario of docs/scenarios.md, plus one camera group and one profile."""
    block = re.search(r"```toml\n(.*?)```", DOC.read_text(), re.S).group(1)
    data = tomllib.loads(block)
    data["camera_groups"] = [
        {"prefix": "g", "count": 2, "kind": "street", "stations": ["north"]}
    ]
    data["quality"] = {"custom": {}}
    return data


def _where(data: dict, table: str) -> dict:
    if table == "":
        return data
    if table in ("cameras", "camera_groups"):
        return data[table][0]
    if table == "quality.NAME":
        return data["quality"]["custom"]
    return data.setdefault(table, {})


def _known(table: str) -> set[str]:
    """The keys the real reader of ``table`` accepts, from its unknown-key message."""
    data = _minimal()
    _where(data, table)[UNKNOWN] = 1
    with pytest.raises(ConfigError) as exc:
        parse_scenario(data, "probe.toml")
    found = re.search(r"\(known: ([^)]*)\)", str(exc.value))
    assert found, str(exc.value)
    return set(found.group(1).split(", "))


def test_scenarios_md_is_generated_from_the_code():
    assert DOC.read_text() == scenarios_markdown(), (
        "docs/scenarios.md is stale: python -m facelab.config.reference > docs/scenarios.md"
    )


def test_example_scenario_parses():
    sc = parse_scenario(_minimal(), "example.toml")
    assert sc.days == 2 and len(sc.cameras) == 3


@pytest.mark.parametrize("table", sorted({k.table for k in KEYS}))
def test_every_key_the_reader_accepts_is_documented(table):
    documented = {k.key for k in KEYS if k.table == table}
    known = _known(table)
    if table == "":
        tables = {k.table.split(".")[0] for k in KEYS if k.table}
        known -= tables
    assert documented == known


def _parsed(sc, table: str):
    if table == "":
        return sc
    if table == "cameras":
        return sc.cameras[0]
    if table == "camera_groups":
        return sc.camera_groups[0]
    return getattr(sc, table)


@pytest.mark.parametrize(
    "key", [k for k in KEYS if not isinstance(k.default, Say)], ids=lambda k: f"{k.table}.{k.key}"
)
def test_documented_default_is_the_parsed_value(key):
    data = _minimal()
    _where(data, key.table).pop(key.key, None)
    sc = parse_scenario(data, "example.toml")
    value = getattr(_parsed(sc, key.table), key.key)
    if isinstance(value, tuple):
        value = list(value)
    assert value == key.default


def test_quality_defaults_are_the_builtin_profiles():
    data = _minimal()
    sc = parse_scenario(data, "example.toml")
    rows = {k.key: k.default for k in KEYS if k.table == "quality.NAME"}
    for name, profile in sc.quality.items():
        if name == "custom":
            continue
        for key in ("face_px", "blur_sigma", "jpeg_quality"):
            value = getattr(profile, key)
            text = f"[{value[0]}, {value[1]}]" if isinstance(value, tuple) else str(value)
            assert f"{name} `{text}`" in rows[key]
