"""The HTML report: self-contained, every embedded image decodes, plain-language sections; the
numbers behind its figures against brute force; `facelab report` and `facelab demo`.

Shares one classroom run with tests/test_sweep_cli.py (see its module docstring).
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from facelab.cli import app
from facelab.errors import RunError
from facelab.lab.metrics import Rate, SearchScores, fpir
from facelab.lab.report.html import write_report
from facelab.lab.report.rates import (
    extrapolated_fpir,
    fpir_by_watchlist_size,
    probit,
    watchlist_sizes,
)
from facelab.lab.report.sheets import SHEET_PAIRS, face_crop
from facelab.lab.scores import load_scores
from facelab.run.store import RunStore

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def run_dir(classroom_run):
    return classroom_run


@pytest.fixture(scope="module")
def report(run_dir, tmp_path_factory) -> Path:
    return write_report(run_dir, tmp_path_factory.mktemp("report") / "report.html")


class _Page(HTMLParser):
    """Collects what the checks need: images, every URL-bearing attribute, tags, text."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.urls: list[str] = []
        self.tags: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.images.append(a)
        for name in ("src", "href", "srcset", "action", "poster", "data"):
            if a.get(name):
                self.urls.append(a[name])

    def handle_data(self, data):
        self.text.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def _decode(uri: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix), uri[:40]
    data = base64.b64decode(uri[len(prefix) :], validate=True)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.size > 0
    return image


# --------------------------------------------------------------------------- the HTML


def test_every_embedded_image_decodes_and_shows_something(report):
    page = _parse(report)
    assert len(page.images) >= 5  # five figures, plus the contact sheets' faces
    for img in page.images:
        image = _decode(img["src"])
        assert min(image.shape[:2]) >= 64
        assert float(image.std()) > 5.0  # not a blank image
        assert img.get("alt")


def test_report_is_self_contained(report):
    page = _parse(report)
    text = report.read_text(encoding="utf-8")
    # inline scripts only (the threshold slider): a script src would fail the URL check below
    assert "link" not in page.tags and "iframe" not in page.tags
    for url in page.urls:
        assert url.startswith(("data:image/png;base64,", "#")), url[:60]
    assert "@import" not in text and "url(" not in text


def test_report_sections_and_plain_language_captions(report, run_dir):
    page = _parse(report)
    text = " ".join(" ".join(page.text).split())
    for anchor in ("run", "short", "tradeoff", "alerts", "queue", "watchlist", "det", "similar",
                   "table", "percent", "differs", "glossary"):  # fmt: skip
        assert anchor in page.ids
    for phrase in (
        "Out of 100 people who are NOT on the watchlist",
        "A percent is not a probability",
        "What a percent means",
        "What differs from real deployments",
        "Synthetic faces",
        "One open model",
        "Small scale",
        "Someone similar in the passage",
        "At 50 %",
        "At 65 %",
        "At 80 %",
        "Flagged even at 80 %",
        "Flagged at 65 % (but not at 80 %)",
        "Flagged at 50 % (but not at 65 %)",
        "95 % interval",
        "percent = 100 × clip(cos, 0, 1)",
        "Nobody in this report exists",
    ):
        assert phrase in text, phrase
    # every rate in the tables carries its count: "k/n" next to the percentages
    with RunStore(run_dir) as store:
        n_nonmated = int((~load_scores(store).searches.mated).sum())
    assert text.count(f"/{n_nonmated} ·") >= 7


def test_contact_sheets_show_false_matches_from_the_runs_own_images(report, run_dir):
    page = _parse(report)
    faces = [i for i in page.images if (i.get("alt") or "").startswith("face seen by camera")]
    photos = [i for i in page.images if (i.get("alt") or "").startswith("watchlist photo")]
    with RunStore(run_dir) as store:
        sc = load_scores(store)
    false = sc.cand_score[~sc.cand_mate]
    bands = [(0.8, np.inf), (0.65, 0.8), (0.5, 0.65)]  # linear: 80 %, 65 %, 50 %
    shown = [min(int(((false >= lo) & (false < hi)).sum()), SHEET_PAIRS) for lo, hi in bands]
    assert len(faces) == len(photos) == sum(shown)
    assert sum(shown) >= 1  # the classroom run has some: the sheets are really exercised
    for img in faces + photos:
        assert _decode(img["src"]).shape == (128, 128, 3)


def test_report_default_path_and_cli(run_dir):
    result = CliRunner().invoke(app, ["report", str(run_dir), "--mapping", "sigmoid",
                                      "--thresholds", "40:90:10", "--force"])  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    out = run_dir / "report.html"
    assert f"Report: {out}" in result.stdout and out.is_file()
    text = out.read_text(encoding="utf-8")
    assert "<b>sigmoid</b>" in text and "90 %" in text


def test_report_refuses_to_overwrite_without_force(run_dir, tmp_path):
    out = tmp_path / "mine.html"
    out.write_text("my notes", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "facelab", "report", str(run_dir), "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(out) in lines[0], lines
    assert out.read_text(encoding="utf-8") == "my notes"
    result = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(out), "--force"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE")


def test_report_on_an_embedding_mode_run_says_there_are_no_images(run_dir, tmp_path):
    copy = tmp_path / "embedding-run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("frames", "watchlist", "*.html"))
    meta = json.loads((copy / "run.json").read_text())
    (copy / "run.json").write_text(json.dumps({**meta, "mode": "embedding"}))
    page = _parse(write_report(copy))
    text = " ".join(" ".join(page.text).split())
    assert "embedding mode" in text and "no images to show" in text
    assert not [i for i in page.images if (i.get("alt") or "").startswith("face seen")]


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(RunError):
        write_report(tmp_path)


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs /usr/bin/chromium for the real-browser "
    "check (apt-get install chromium); the image checks above still run",
)
def test_report_renders_in_a_real_browser(report, tmp_path):
    shot = tmp_path / "shot.png"
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
           "--window-size=1200,3000", report.resolve().as_uri()]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    image = cv2.imread(str(shot), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[:2] == (3000, 1200)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert (grey < 128).mean() > 0.01  # text and figures drawn, not a blank page
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50  # colours of the figures too


# --------------------------------------------------------------------------- the numbers


def test_probit():
    assert probit(0.5) == 0.0
    np.testing.assert_allclose(probit([0.025, 0.975]), [-1.959964, 1.959964], atol=1e-6)
    out = probit(np.array([0.0, 1.0, np.nan]))
    assert out[0] == -np.inf and out[1] == np.inf and np.isnan(out[2])


def test_fpir_by_watchlist_size_equals_enumerating_every_sub_watchlist():
    rng = np.random.default_rng(3)
    n, w = 60, 6
    scores = -np.sort(-np.round(rng.uniform(0, 0.8, (n, w)), 2), axis=1)
    mated = rng.random(n) < 0.2
    is_mate = np.zeros((n, w), bool)
    is_mate[mated, 0] = True
    s = SearchScores(scores, is_mate, mated)
    # brute force: each non-mated row's scores belong to entries 0..w-1 in a random order
    entry_scores = np.array([rng.permutation(r) for r in scores[~mated]])
    cos = [0.3, 0.5, 0.7]
    sizes = [1, 2, 5, 6]
    got = fpir_by_watchlist_size(s, w, cos, sizes)
    for i, c in enumerate(cos):
        for j, size in enumerate(sizes):
            subsets = list(itertools.combinations(range(w), size))
            flagged = [np.mean([(row[list(sub)] >= c).any() for sub in subsets])
                       for row in entry_scores]  # fmt: skip
            assert got[i, j] == pytest.approx(np.mean(flagged), abs=1e-12)
        assert got[i, -1] == pytest.approx(fpir(s, c)[0].value, abs=1e-12)  # N = W: measured


def test_watchlist_sizes_and_extrapolation():
    assert watchlist_sizes(6) == [1, 2, 5, 6]
    assert watchlist_sizes(25_000)[-3:] == [10_000, 20_000, 25_000]
    v, lo, hi = extrapolated_fpir(Rate.of(1, 1000), 1000)
    assert lo < v < hi and v == pytest.approx(1 - 0.999**1000)


def test_face_crop_pads_outside_the_frame():
    frame = np.full((100, 120, 3), 200, np.uint8)
    crop = face_crop(frame, (-10, -10, 40, 40), size=64)
    assert crop.shape == (64, 64, 3)
    assert (crop[0, 0] == 128).all() and (crop[-1, -1] == 200).all()


# --------------------------------------------------------------------------- facelab demo


def test_demo_resumes_the_run_and_writes_the_report(run_dir):
    result = CliRunner().invoke(app, ["demo", "--out", str(run_dir)])
    assert result.exit_code == 0, (result.output, result.exception)
    out = result.stdout
    assert "resumed" in out and "innocent flagged (FPIR)" in out
    assert "50%" in out and "80%" in out
    assert f"Report: {run_dir / 'report.html'}" in out and "open it in a browser" in out
    assert (run_dir / "report.html").is_file()


def test_demo_fresh_refuses_to_delete_a_folder_that_is_not_a_run(tmp_path):
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--fresh"])
    assert isinstance(result.exception, RunError)
    assert keep.read_text() == "mine"
