"""benchmarks/README.md's figures that come from printed commands, not from a results JSON:
`facelab synth stats` ("Synthetic world") and `facelab calibrate --check 150` ("Embedding twin
fidelity"), and README.md's sentence on the twin's fidelity. (The JSON-backed figures are
checked against the committed results by tests/test_docs.py.)
"""

from __future__ import annotations

import re

import pytest
from conftest import facelab
from docfig import NUMBER, check, doc, find, number, table_row

BENCH = "benchmarks/README.md"
#: A rate as metrics.Rate prints it: ``0.0017``, ``3.92e-05``.
VALUE = r"[\d.]+(?:e-\d+)?"
STATS = ("synth", "stats", "--identities", "100", "--sightings", "4", "--seed", "0")


@pytest.fixture(scope="module")
def synth_stats(model_env) -> str:
    return facelab(*STATS, env=model_env)


def test_synth_stats_command_is_the_documented_one():
    assert f"facelab {' '.join(STATS)}`" in doc(BENCH)


def test_synth_stats_scores(synth_stats):
    text, out = doc(BENCH), synth_stats
    det = find(r"faces detected: (\d+)/(\d+)", out, "command")
    gen = find(rf"genuine +pairs +({NUMBER}) +mean ({NUMBER}) +sd ({NUMBER}) +min ({NUMBER})",
               out, "command")  # fmt: skip
    imp = find(rf"impostor +pairs +({NUMBER}) +mean ({NUMBER}) +sd ({NUMBER}) +max ({NUMBER})",
               out, "command")  # fmt: skip
    m = find(rf"({NUMBER}) of ({NUMBER}) portraits hold a detected face; genuine ({NUMBER}) "
             rf"pairs, mean \**({NUMBER})\** \(sd ({NUMBER}), min ({NUMBER})\); impostor "
             rf"({NUMBER}) pairs, mean ({NUMBER}) \(sd ({NUMBER}), max ({NUMBER})\)",
             text, "benchmarks/README.md synth stats")  # fmt: skip
    command = [*det.groups(), *gen.groups(), *imp.groups()]
    for i, (printed, value) in enumerate(zip(m.groups(), command, strict=True)):
        check(printed, number(value), f"synth stats figure {i + 1}")


def test_synth_stats_rates(synth_stats):
    points = {
        p: {"FMR": (number(fk), number(fn), number(fhi)), "FNMR": (number(nk), number(nn))}
        for p, fk, fn, fhi, nk, nn in re.findall(
            rf"({NUMBER}) % +cos >= {NUMBER} +FMR {VALUE} \((\d+)/(\d+), 95% CI {VALUE}–"
            rf"({VALUE})\) +FNMR {VALUE} \((\d+)/(\d+)",
            synth_stats,
        )
    }
    assert len(points) == 4, synth_stats
    header = table_row(BENCH, "T")
    for name in ("FMR", "FNMR"):
        cells = table_row(BENCH, name)
        assert len(cells) == len(header)
        for head, cell in zip(header[1:], cells[1:], strict=True):
            p = f"{number(head.removesuffix(' %')):.1f}"
            k, n = points[p][name][:2]
            what = f"synth stats {name} at {p} %"
            if m := re.fullmatch(rf"({NUMBER}) % \((\d+)\)", cell):
                check(m.group(1), 100 * k / n, what)
                check(m.group(2), k, what)
            elif m := re.fullmatch(rf"0 \(≤ ({NUMBER}) %\)", cell):
                check("0", k, what)
                check(m.group(1), 100 * points[p][name][2], what + " (upper bound)")
            else:
                check(cell, k, what)


def _yardstick(calibration: str) -> tuple[int, int, int]:
    m = find(r"yardstick: the twin puts (\d+) of (\d+) rates inside the fresh sample's "
             r"intervals; the fitted image sample \(other people, same cameras\) puts (\d+) of",
             " ".join(calibration.split()), "calibrate --check")  # fmt: skip
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def _flags(calibration: str, sample: str) -> list[tuple[str, str]]:
    """The (FMR, FNMR) flags of each row of the rates table of ``sample`` ("fitted sample" or
    "fresh sample"): ✓ inside the Wilson interval, ~ inside the wider interval only, ✗ outside."""
    start = calibration.index(f"twin vs image mode, {sample}")
    start = calibration.index("FMR / FNMR at percent thresholds", start)
    block = calibration[start : calibration.index("CI: hull", start)]
    rows = [re.findall("[✓~✗]", line) for line in block.splitlines()]
    return [tuple(r) for r in rows if len(r) == 2]


def test_calibrate_check_figures(calibration):
    twin_in, total, image_in = _yardstick(calibration)
    fresh, fitted = _flags(calibration, "fresh sample"), _flags(calibration, "fitted sample")
    assert 2 * len(fresh) == 2 * len(fitted) == total
    assert sum(f != "✗" for row in fresh for f in row) == twin_in
    assert all(fmr != "✗" for fmr, _ in fresh), "an FMR outside: 'every FMR among them' is wrong"
    bench = doc(BENCH)
    m = find(r"The twin puts \*\*(\d+) of (\d+)\*\* inside image mode's intervals, every FMR "
             r"among them \((?:outside: (.*?)|(\d+) inside the Wilson interval itself, (\d+) only "
             r"inside the wider clustering-aware one)\); (\d+) of (\d+) on the fitted sample",
             bench, BENCH)  # fmt: skip
    check(m.group(1), twin_in, "twin rates inside (benchmarks)")
    check(m.group(2), total, "rates compared (benchmarks)")
    if m.group(3) is not None:
        assert len(re.findall(r" at \d+ %", m.group(3))) == total - twin_in, m.group(3)
    else:
        check(m.group(4), sum(f == "✓" for row in fresh for f in row), "inside Wilson")
        check(m.group(5), sum(f == "~" for row in fresh for f in row), "inside the wider CI")
    check(m.group(6), sum(f != "✗" for row in fitted for f in row), "fitted sample inside")
    check(m.group(7), total, "rates compared (fitted sample)")
    m = find(r"the fitted image sample \(other people, same cameras\) puts (\d+) of (\d+) inside",
             bench, BENCH)  # fmt: skip
    check(m.group(1), image_in, "image sample rates inside (benchmarks)")
    target = table_row(BENCH, "twin FMR / FNMR at 50–80 % inside image mode's intervals on fresh "
                       "people")[1]  # fmt: skip
    m = find(r"(\d+) of (\d+) \(a second image sample: (\d+)\)", target, "benchmarks targets")
    for printed, value in zip(m.groups(), (twin_in, total, image_in), strict=True):
        check(printed, value, "benchmarks targets row")
    ks = _ks(calibration)
    m = find(rf"KS on the fresh people: genuine ({NUMBER})–({NUMBER}), impostor ({NUMBER})–"
             rf"({NUMBER})", bench, BENCH)  # fmt: skip
    for printed, value in zip(m.groups(), (*ks["genuine"], *ks["impostor"]), strict=True):
        check(printed, value, "KS range on the fresh people")
    readme = doc("README.md")
    m = find(r"puts (\d+) of (\d+) FMR / FNMR rates at 50–80 % inside image mode's intervals on "
             r"fresh people, every FMR among them, where a second image sample of other people "
             r"puts (\d+)", readme, "README.md")  # fmt: skip
    check(m.group(1), twin_in, "twin rates inside (README)")
    check(m.group(2), total, "rates compared (README)")
    check(m.group(3), image_in, "image sample rates inside (README)")


def _ks(calibration: str) -> dict[str, tuple[float, float]]:
    """(lowest, highest) genuine and impostor KS statistic of the fresh sample's pairs."""
    start = calibration.index("twin vs image mode, fresh sample")
    block = calibration[start : calibration.index("FMR / FNMR at percent thresholds", start)]
    rows = re.findall(rf"± {NUMBER} +({NUMBER}) +{NUMBER} ± {NUMBER} +{NUMBER} ± {NUMBER} +"
                      rf"({NUMBER}) +\d+/\d+", block)  # fmt: skip
    assert len(rows) == 6, block
    gen, imp = [float(r[0]) for r in rows], [float(r[1]) for r in rows]
    return {"genuine": (min(gen), max(gen)), "impostor": (min(imp), max(imp))}


@pytest.fixture(scope="module")
def twin_seeds(model_env) -> dict:
    """What ``benchmarks/experiments/twin_seeds.py`` prints, parsed: image-vs-image counts, and
    per fitted seed(s) the rates inside (summed over the other seeds) and the FMR / FNMR gaps."""
    import subprocess
    import sys

    from docfig import ROOT

    script = ROOT / "benchmarks" / "experiments" / "twin_seeds.py"
    r = subprocess.run([sys.executable, str(script)], env=model_env, cwd=ROOT,
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr[-4000:]
    image, fitted, name = [], {}, None
    for line in r.stdout.splitlines():
        if m := re.search(r"seed \d's rates inside seed \d's intervals: (\d+) of 48", line):
            image.append(int(m.group(1)))
        elif m := re.search(r"fitted on seed ([\d+]+): (\d+) of 48 inside", line):
            name = m.group(1)
            fitted.setdefault(name, {"inside": 0, "of": 0})
            fitted[name]["inside"] += int(m.group(2))
            fitted[name]["of"] += 48
        elif m := re.search(rf"geometric mean ({NUMBER}) \(mean \|log ratio\| ({NUMBER})\); "
                            rf"mean \|FNMR gap\| ({NUMBER})", line):  # fmt: skip
            fitted[name].update(gm=number(m.group(1)), mlr=number(m.group(2)),
                                gap=number(m.group(3)))  # fmt: skip
    assert len(image) == 12 and len(fitted) == 5, r.stdout
    return {"image": image, "fitted": fitted}


ROWS = {"0": "seed 0 (the default)", "1": "seed 1", "2": "seed 2", "3": "seed 3",
        "0+1": "seeds 0 + 1 (of 96)"}  # fmt: skip


@pytest.mark.costly  # about half an hour: `pytest docs_check -m costly`
def test_twin_seeds_table(twin_seeds):
    for name, first in ROWS.items():
        got = twin_seeds["fitted"][name]
        inside, fmr, gap = (c.replace("*", "") for c in table_row(BENCH, first)[1:])
        m = find(rf"({NUMBER}) \(({NUMBER})\)", fmr, f"twin_seeds row {first}")
        check(inside, got["inside"], f"twin fitted on {name}: rates inside")
        check(m.group(1), got["gm"], f"twin fitted on {name}: FMR ratio")
        check(m.group(2), got["mlr"], f"twin fitted on {name}: mean abs log ratio")
        check(gap, got["gap"], f"twin fitted on {name}: FNMR gap")
        if first.startswith("seeds"):
            check(find(r"of (\d+)", first, first).group(1), got["of"], "rates of seeds 0 + 1")


@pytest.mark.costly  # about half an hour: `pytest docs_check -m costly`
def test_twin_seeds_sentences(twin_seeds):
    image = twin_seeds["image"]
    bench = doc(BENCH)
    m = find(r"image samples of seeds 0–3 put (\d+)–(\d+) of 48 inside each other's", bench, BENCH)
    check(m.group(1), min(image), "image vs image, fewest inside")
    check(m.group(2), max(image), "image vs image, most inside")
    readme, fitted = doc("README.md"), twin_seeds["fitted"]
    m = find(rf"its FMR at 50–60 % is ({NUMBER})× image mode's", readme, "README.md")
    check(m.group(1), fitted["0"]["gm"], "README twin FMR ratio")
    m = find(rf"twins fitted on other samples of 150 people land ({NUMBER})–({NUMBER})×",
             readme, "README.md")  # fmt: skip
    others = [fitted[s]["gm"] for s in ("1", "2", "3")]
    check(m.group(1), min(others), "README: other twins' FMR ratio, lowest")
    check(m.group(2), max(others), "README: other twins' FMR ratio, highest")
