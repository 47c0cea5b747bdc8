"""The classroom console in a real browser: Debian's Chromium driven by Playwright.

The real server (uvicorn on a free loopback port) serves a private copy of the session's
classroom run. Each view is loaded at 1280 px and 420 px with screenshots in the test's tmp
dir and no console error; the threshold slider is moved with the keyboard and its counts
checked against the API and :func:`facelab.lab.sweep.sweep_run`; an alert is confirmed and
found in the audit log; a PNG not made by facelab is uploaded and refused with the CLI's line;
the FPIR-vs-watchlist-size plot appears only with the truth revealed, with the numbers of
:func:`facelab.lab.report.rates.fpir_by_watchlist_size` at the slider's threshold.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from facelab.cli import app as cli_app
from facelab.governance.audit import AuditLog
from facelab.lab.report.rates import HIGHLIGHT_PERCENTS, fpir_by_watchlist_size, watchlist_sizes
from facelab.lab.scores import load_scores
from facelab.lab.sweep import cosines_for, run_mapping, sweep_run
from facelab.run.review import get_alert
from facelab.run.store import RunStore
from facelab.serve.app import create_app
from facelab.serve.server import Background

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs /usr/bin/chromium for the real-browser tests (make browser)",
)
playwright_api = pytest.importorskip("playwright.sync_api")

VIEWS = ("/", "/threshold", "/search", "/retention")


@pytest.fixture(scope="module")
def console(run_copy):
    with Background(create_app(run_copy)) as addr:
        yield addr


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page_at(browser, console):
    """``page_at(path, width)``: a new page opened at ``path``; console errors collected."""
    contexts, errors = [], []

    def open_page(path: str, width: int = 1280):
        ctx = browser.new_context(viewport={"width": width, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(console.base + path)
        page.wait_for_load_state("networkidle")
        return page

    open_page.errors = errors
    yield open_page
    for ctx in contexts:
        ctx.close()


def api(console, path: str) -> dict:
    with urllib.request.urlopen(console.base + path, timeout=60) as res:
        return json.loads(res.read())


@pytest.mark.parametrize("width", [1280, 420])
@pytest.mark.parametrize("path", VIEWS)
def test_each_view_loads_without_console_errors(page_at, path, width, tmp_path):
    page = page_at(path, width)
    assert page.locator("h1").count() == 1
    assert page.locator('nav a[aria-current="page"]').count() == 1
    shot = tmp_path / f"{path.strip('/') or 'operator'}-{width}.png"
    page.screenshot(path=str(shot), full_page=True)
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[1] == width
    # readable at 420 px: nothing wider than the viewport
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page_at.errors == []


def test_operator_view_draws_the_queue_and_first_alert(page_at, console):
    page = page_at("/")
    queue = api(console, "/api/queue")
    assert page.locator("#queue li").count() == queue["count"] > 0
    first = queue["alerts"][0]
    page.locator("#detail").wait_for(state="visible")
    assert page.locator("#d-id").inner_text() == first["display_id"]
    assert page.locator("#detail").get_attribute("data-id") == str(first["id"])
    assert page.locator("#d-camera").inner_text() == first["camera"]
    assert page.locator("#d-percent").inner_text() == f"{first['percent']:.1f} %"
    assert page.locator("#d-frame rect.facebox").count() == 1
    assert page.locator("#d-photo").evaluate("img => img.complete && img.naturalWidth > 0")
    assert page_at.errors == []


def test_confirm_an_alert_in_the_browser_lands_in_the_audit_log(page_at, console, run_copy):
    page = page_at("/")
    page.locator("#detail").wait_for(state="visible")
    alert_id = int(page.locator("#detail").get_attribute("data-id"))
    page.fill("#actor", "teacher-ana")
    page.locator("#reason").focus()
    page.keyboard.type("same person, checked by eye")
    page.get_by_role("button", name="Confirm match").click()
    page.wait_for_function("() => document.querySelector('#d-status').textContent === 'confirmed'")
    with RunStore(run_copy) as s:
        a = get_alert(s, alert_id)
    assert (a.status, a.reviewed_by) == ("confirmed", "teacher-ana")
    rec = [r for r in AuditLog(run_copy / "audit.jsonl").records() if r.action == "review"][-1]
    assert rec.details["alert_id"] == alert_id and rec.details["decision"] == "confirmed"
    assert (rec.actor, rec.reason) == ("teacher-ana", "same person, checked by eye")
    res = CliRunner().invoke(cli_app, ["audit", str(run_copy), "--format", "json"])
    assert res.exit_code == 0, res.output
    listed = [r for r in json.loads(res.output) if r["action"] == "review"][-1]
    assert listed["seq"] == rec.seq and listed["actor"] == "teacher-ana"
    assert page_at.errors == []


def test_threshold_slider_counts_match_api_and_sweep(page_at, console, run_copy):
    page = page_at("/threshold")
    slider = page.locator("#percent")
    slider.focus()
    with RunStore(run_copy) as s:
        scores = load_scores(s)
        alert_percent = s.scenario().thresholds.alert_percent
    start = int(slider.input_value())
    assert start == round(alert_percent)  # the slider starts at the run's own threshold
    steps = ((["ArrowLeft"] * 10, start - 10), (["ArrowRight"] * 25, start + 15), (["Home"], 0))
    for keys, expected in steps:
        for k in keys:
            page.keyboard.press(k)
        page.wait_for_function(
            f"() => document.querySelector('#figures').dataset.percent == {expected}"
        )
        row = sweep_run(scores, [float(expected)]).rows[0]
        shown = int(page.locator("#f-alerts").inner_text())
        assert shown == api(console, f"/api/threshold?percent={expected}")["alerts"] == row.alerts
        assert page.locator("#percent-out").inner_text() == f"{expected} %"
        cli = CliRunner().invoke(
            cli_app, ["sweep", str(run_copy), "--thresholds", str(expected), "--format", "json"]
        )
        assert cli.exit_code == 0, cli.output
        assert json.loads(cli.output)["rows"][0]["alerts"] == shown
    assert page.locator(".truth").first.is_hidden()
    page.get_by_label("Reveal the truth (teacher)").check()
    page.wait_for_function("() => !document.querySelector('.truth').hidden")
    row = sweep_run(scores, [0.0]).rows[0]
    assert page.locator("#f-false").inner_text() == f"{row.false_alerts} of {row.alerts}"
    assert page.locator("#f-fpir").inner_text().startswith(f"{row.fpir.count} of {row.fpir.total}")
    page.locator("#chart-det circle.marker").wait_for()
    assert page.locator("#chart-alerts polyline.curve").count() == 1
    assert page.locator("#chart-alerts line.marker").count() == 1
    full = sweep_run(scores, "0:100:1")
    curve = api(console, "/api/curve?reveal=1")
    assert curve["alerts"] == [r.alerts for r in full.rows]
    assert curve["fnir"] == [r.fnir.value for r in full.rows]
    assert "fpir" not in api(console, "/api/curve")  # the truth only when revealed
    assert "false_alerts" not in api(console, "/api/threshold?percent=50")
    assert page_at.errors == []


def test_fpir_watchlist_plot_appears_with_the_truth_and_follows_the_slider(
    page_at, console, run_copy
):
    page = page_at("/threshold")
    assert page.locator("#chart-watchlist").is_hidden()
    assert page.locator("#chart-watchlist polyline").count() == 0  # no truth drawn unasked
    page.get_by_label("Reveal the truth (teacher)").check()
    page.locator("#chart-watchlist circle.marker").wait_for()
    assert page.locator("#chart-watchlist").is_visible()
    start = int(page.locator("#percent").input_value())
    with RunStore(run_copy) as s:
        scores = load_scores(s)
    w = scores.watchlist_size
    sizes = watchlist_sizes(w)
    for keys, expected in ((["ArrowLeft"] * 20, start - 20), (["End"], 100)):
        page.locator("#percent").focus()
        for k in keys:
            page.keyboard.press(k)
        page.wait_for_function(
            f"() => document.querySelector('#chart-watchlist').dataset.percent == {expected}"
        )
        cos = cosines_for(run_mapping(scores, "linear"), [float(expected)])
        want = fpir_by_watchlist_size(scores.searches, w, cos, sizes)[0]
        label = page.locator("#chart-watchlist").get_attribute("aria-label")
        assert label.startswith(f"FPIR against watchlist size at {expected} %: ")
        shown = re.findall(r"(\d+) entries (undefined|[\d.]+ %)", label)
        assert [int(n) for n, _ in shown] == sizes
        for (_, text), v in zip(shown, want, strict=True):
            if np.isnan(v):
                assert text == "undefined"
            else:
                assert float(text.removesuffix(" %")) == pytest.approx(100 * v, abs=0.05 + 1e-9)
        assert page.locator("#chart-watchlist polyline.current").count() == 1
        assert page.locator("#chart-watchlist circle.point").count() == len(sizes)
        assert page.locator("#chart-watchlist polyline.reference").count() == len(
            HIGHLIGHT_PERCENTS
        )
    page.get_by_label("Reveal the truth (teacher)").uncheck()
    page.wait_for_function(
        "() => document.querySelector('#chart-watchlist').closest('figure').hidden"
    )
    assert page_at.errors == []


def test_operator_replay_shows_alerts_in_time_order(page_at, console):
    page = page_at("/")
    page.locator("#detail").wait_for(state="visible")
    total = page.locator("#queue li").count()
    page.select_option("#speed", "14400")
    page.get_by_role("button", name="Play replay").press("Enter")
    assert page.locator("#play").get_attribute("aria-pressed") == "true"
    page.wait_for_function("() => document.querySelector('#clock').textContent !== 'all'")
    seen = [page.locator("#queue li").count()]
    page.wait_for_function(f"() => document.querySelectorAll('#queue li').length === {total}",
                           timeout=60_000)  # fmt: skip
    seen.append(page.locator("#queue li").count())
    assert seen[0] < total == seen[-1]
    times = page.locator("#queue li span:nth-child(2)").all_inner_texts()
    assert times == sorted(times)
    assert page_at.errors == []


def test_upload_of_a_non_facelab_png_is_refused_like_the_cli(page_at, tmp_path, run_copy):
    photo = tmp_path / "holiday.png"
    rng = np.random.default_rng(3)
    cv2.imwrite(str(photo), rng.integers(0, 255, (160, 160, 3), dtype=np.uint8))
    cli = subprocess.run(
        [sys.executable, "-m", "facelab", "search", str(run_copy), "holiday.png", "--reason", "x"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 5, cli.stderr
    before = len(AuditLog(run_copy / "audit.jsonl").records())
    page = page_at("/search")
    page.set_input_files("#photo", str(photo))
    page.fill("#s-reason", "x")
    page.get_by_role("button", name="Search").click()
    page.locator("#s-error").wait_for(state="visible")
    shown = page.locator("#s-error").inner_text()
    assert shown == cli.stderr.strip().splitlines()[-1]
    assert "provenance" in shown or "facelab" in shown
    assert len(AuditLog(run_copy / "audit.jsonl").records()) == before
    # the browser logs the refused request's 400; nothing else
    assert all("400" in e for e in page_at.errors)


def test_search_by_a_person_of_the_world_is_audited(page_at, run_copy, tmp_path):
    page = page_at("/search")
    page.select_option("#person", index=1)
    page.fill("#s-reason", "class exercise")
    page.get_by_role("button", name="Search").click()
    page.wait_for_function(
        "() => !document.querySelector('#s-summary').textContent.startsWith('searching')",
        timeout=120_000,
    )
    assert page.locator("#s-error").is_hidden()
    rec = AuditLog(run_copy / "audit.jsonl").records()[-1]
    assert (rec.action, rec.reason) == ("search", "class exercise")
    assert page.locator("#hits li").count() == rec.details["result_count"] > 0
    page.screenshot(path=str(tmp_path / "search-hits-1280.png"), full_page=True)
    assert page_at.errors == []


def test_retention_view_verifies(page_at):
    page = page_at("/retention")
    page.get_by_role("button", name="Verify retention").click()
    page.wait_for_function(
        "() => document.querySelector('#v-result').textContent.startsWith('retention verify')"
    )
    assert page.locator("#v-result").inner_text() == "retention verify OK"
    assert page.locator("#v-checks li").count() > 0
    assert page.locator("#r-window").inner_text() != "–"
    assert page_at.errors == []


def test_static_report_slider_works_from_file(browser, run_copy, tmp_path):
    from facelab.lab.report.html import write_report

    report = write_report(run_copy, tmp_path / "report.html")
    with RunStore(run_copy) as s:
        scores = load_scores(s)
    ctx = browser.new_context(viewport={"width": 420, "height": 900})
    errors = []
    page = ctx.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route("**/*", lambda route: route.abort() if not route.request.url.startswith("file:")
               else route.continue_())  # nothing may be fetched  # fmt: skip
    page.goto(report.resolve().as_uri())
    slider = page.locator("#slider")
    slider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowLeft")
    p = int(slider.input_value())
    row = sweep_run(scores, [float(p)]).rows[0]
    assert page.locator("#slider-out").inner_text() == f"{p} %"
    assert page.locator("#s-alerts").inner_text() == str(row.alerts)
    assert page.locator("#s-false").inner_text() == f"{row.false_alerts} of {row.alerts}"
    assert page.locator("#s-fpir").inner_text().startswith(f"{row.fpir.count} of {row.fpir.total}")
    assert page.locator("#s-fnir").inner_text().startswith(f"{row.fnir.count} of {row.fnir.total}")
    page.screenshot(path=str(tmp_path / "report-slider-420.png"))
    ctx.close()
    assert errors == []
