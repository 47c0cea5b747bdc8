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
    data["camera_groups"] = [{"prefix": "g", "count": 2, "kind": "street", "stations": ["north"]}]
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


# --------------------------------------------------------------------------- README walkthrough


def _walkthrough() -> list[list[str]]:
    """The facelab commands of the README's first code block, as argument lists."""
    import shlex

    text = (ROOT / "README.md").read_text()
    block = re.search(r"## A first hour.*?```sh\n(.*?)```", text, re.S).group(1)
    commands = [shlex.split(line, comments=True) for line in block.splitlines()]
    return [c[1:] for c in commands if c and c[0] == "facelab"]


def test_readme_walkthrough_works_as_shown(classroom_run, tmp_path, monkeypatch):
    """Every facelab line of the walkthrough, on a copy of the classroom run (what `make demo`
    runs) in place of runs/demo, from a fresh folder."""
    import shutil

    from typer.testing import CliRunner

    from facelab.cli import app

    commands = _walkthrough()
    assert [c[0] for c in commands] == [
        "world", "photo", "enroll", "search", "alerts", "review", "purge", "retention",
    ]  # fmt: skip
    shutil.copytree(classroom_run, tmp_path / "runs" / "demo")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for args in commands:
        r = runner.invoke(app, args)
        assert r.exit_code == 0, f"facelab {' '.join(args)}:\n{r.output}\n{r.exception!r}"
        if args[0] == "search":
            assert "hit(s)" in r.output, r.output
        if args[0] == "retention":
            assert "retention verify OK" in r.output


# --------------------------------------------------------------------------- benchmark figures


def _extra(name: str, bench: str) -> dict:
    import json

    doc = json.loads((ROOT / "benchmarks" / name).read_text())
    return next(b["extra_info"] for b in doc["benchmarks"] if b["name"] == bench)


def _ratios(e: dict) -> list[str]:
    return [f"{r:.2f}" for r in e["ratio_to_embedder_best_batch_per_round"]]


BENCH_FIGURES = [
    # (document, JSON, benchmark, the figure as the document must print it)
    ("benchmarks/README.md", "results-throughput.json", "test_pipeline_prerendered",
     lambda e: f"{', '.join(_ratios(e))} per round"),
    ("README.md", "results-throughput.json", "test_pipeline_prerendered",
     lambda e: "results-throughput.json` {}, {} and {}".format(*_ratios(e))),
    ("benchmarks/README.md", "results-alerts.json", "test_alert_events_per_minute[10000-flat]",
     lambda e: f"{e['total_events_per_min_best'] / 1e6:.2f} M/min with twin sampling, "
               f"{e['search_events_per_min_best'] / 1e6:.2f} M/min search alone"),
    ("README.md", "results-alerts.json", "test_alert_events_per_minute[10000-flat]",
     lambda e: f"{e['total_events_per_min_best'] / 1e6:.1f} M sighting events a minute"),
    ("benchmarks/README.md", "results-archive-1e8.json", "test_archive_1e8_ivf_sq8",
     lambda e: f"{e['latency_median_ms'] / 1000:.2f} s median, recall@10 "
               f"{e['recall_at_10']:.3f}, {e['rss_peak_gb']:.1f} GB resident"),
    ("README.md", "results-archive-1e8.json", "test_archive_1e8_ivf_sq8",
     lambda e: f"in {e['latency_median_ms'] / 1000:.2f} s (recall@10 {e['recall_at_10']:.3f}, "
               f"{e['rss_peak_gb']:.1f} GB"),
    ("benchmarks/README.md", "results-purge.json", "test_drop_day[1e8-archive-day-flat]",
     lambda e: f"{e['seconds_best']:.2f} s ({e['shard_bytes'] / 1e9:.2f} GB flat shard"),
    ("benchmarks/README.md", "results-gallery-12m.json", "test_gallery_1_to_n[1.2e+07]",
     lambda e: f"built in {e['build_seconds']:.0f} s"),
    *[("benchmarks/README.md", "results-ray.json", f"test_ray_{preset}",
       lambda e: f"| {e['sightings']:,} | {e['local_seconds']:.1f} s | "
                 f"{e['ray_1_node_seconds']:.1f} s | {e['ray_2_nodes_seconds']:.1f} s | "
                 f"{e['overhead_ratio']:.2f} | {e['scaling_1_to_2_nodes']:.2f} |")
      for preset in ("classroom", "metro")],
    ("benchmarks/README.md", "results-ray-metro35.json", "test_ray_metro",
     lambda e: f"| {e['sightings']:,} | {e['local_seconds']:.1f} s | "
               f"{e['ray_1_node_seconds']:.1f} s | {e['ray_2_nodes_seconds']:.1f} s | "
               f"{e['overhead_ratio']:.2f} | {e['scaling_1_to_2_nodes']:.2f} |"),
    ("benchmarks/README.md", "results-stages.json", "test_stage_core_ms",
     lambda e: "| embed (SFace), batch 16 / 32 | {:.1f} / {:.1f} | **{:.1f}** / {:.1f} |".format(
         *(e["core_ms_per_face"][f"embed_{b}_batch{n}_per_face"]
           for b in ("onnxruntime", "openvino") for n in (16, 32)))),
    ("benchmarks/README.md", "results-stages.json", "test_pipeline_prerendered_ab",
     lambda e: f"**median per-pair ratio {e['ratio_auto_over_onnxruntime_median']:.2f}** "
               "({:.2f}, {:.2f})".format(*e["ratio_auto_over_onnxruntime_per_pair"])),
    *[("benchmarks/README.md", "results-ab.json", "test_classroom_week_ab",
       lambda e, b=b: "| {:.2f} / {:.2f} | ".format(*e[f"speedup_{b}_per_round"])
                      + (f"**{e[f'speedup_{b}_ratio_of_medians']:.2f}** |" if b == "auto"
                         else f"{e[f'speedup_{b}_ratio_of_medians']:.2f} |"))
      for b in ("openvino", "auto")],
]  # fmt: skip


@pytest.mark.parametrize(
    "doc,name,bench,figure", BENCH_FIGURES, ids=[f"{d}:{n}:{b}" for d, n, b, _ in BENCH_FIGURES]
)
def test_benchmark_figures_are_the_committed_results(doc, name, bench, figure):
    text = " ".join((ROOT / doc).read_text().split())
    assert figure(_extra(name, bench)) in text
