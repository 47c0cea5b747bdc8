"""The classroom console in a real browser: Debian's Chromium driven by Playwright.

The real server (uvicorn on a free loopback port) serves a private copy of the session's
classroom run. Each view is loaded once and shown at 1280 px and at 420 px (no horizontal
scroll, text contrast at least 4.5:1, no console error), with screenshots written to
:data:`SHOTS` (``out/screenshots/`` of the repository, or ``$FACELAB_SCREENSHOTS``); the
threshold slider is moved with the keyboard and its counts checked against the API and
:func:`facelab.lab.sweep.sweep_run`; a system profile is picked and its prediction checked
against ``facelab profile predict``; the operator view is walked with Tab, Enter and Space; an
alert is confirmed and found in the audit log; a PNG not made by facelab is uploaded and
refused with the CLI's line; a search shows its hits by camera and time, each frame with the
face boxed; the FPIR-vs-watchlist-size plot appears only with the truth revealed, with the
numbers of :func:`facelab.lab.report.rates.fpir_by_watchlist_size` at the slider's threshold.
"""

from __future__ import annotations

import json
import os
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
from facelab.errors import RunError
from facelab.governance.audit import AuditLog
from facelab.lab.report.rates import HIGHLIGHT_PERCENTS, fpir_by_watchlist_size, watchlist_sizes
from facelab.lab.scores import load_scores
from facelab.lab.sweep import cosines_for, run_mapping, sweep_run
from facelab.run.review import get_alert, list_alerts
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
SHOTS = Path(
    os.environ.get("FACELAB_SCREENSHOTS") or Path(__file__).parents[1] / "out" / "screenshots"
)
"""Where the screenshots go: ``console-<view>-<width>.png`` and a few of views in use."""

OKABE_ITO = {"#000000", "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00",
             "#cc79a7"}  # fmt: skip
NEUTRAL = {"#1a1a1a", "#555555", "#c8c8c8", "#ffffff", "#f4f4f4"}

# The lowest text contrast on the page (WCAG 2 relative luminance), with the element that has
# it: each element with its own text, against the first opaque background behind it.
CONTRAST_JS = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const bg = (n) => { for (; n; n = n.parentElement) { const c = rgb(getComputedStyle(n).backgroundColor);
    if (c.length === 3 || c[3] > 0) return c.slice(0, 3); } return [255, 255, 255]; };
  let worst = [99, ""];
  for (const n of document.querySelectorAll("body *")) {
    if (n.closest("svg") || !n.getClientRects().length) continue;
    const own = [...n.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim());
    if (!own) continue;
    const a = lum(rgb(getComputedStyle(n).color)), b = lum(bg(n));
    const r = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (r < worst[0]) worst = [r, n.outerHTML.slice(0, 80)];
  }
  return worst;
}"""


def hex_colours(page, selector: str, props=("stroke", "fill")) -> set[str]:
    """The colours (``#rrggbb``) that the elements of ``selector`` are drawn with."""
    values = page.evaluate(
        """([sel, props]) => [...document.querySelectorAll(sel)].flatMap((n) =>
             props.map((p) => getComputedStyle(n)[p]))""",
        [selector, list(props)],
    )
    out = set()
    for v in values:
        m = re.fullmatch(r"rgba?\((\d+), (\d+), (\d+)(, [\d.]+)?\)", v)
        if m and not (m.group(4) and float(m.group(4)[2:]) == 0):
            out.add("#" + "".join(f"{int(x):02x}" for x in m.group(1, 2, 3)))
    return out


def shoot(page, name: str, widths=(1280, 420)) -> list[Path]:
    """Screenshots of ``page`` at each width (full page), checking that nothing is wider than
    the viewport and that text contrast is at least 4.5:1; the files written."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    out = []
    for width in widths:
        page.set_viewport_size({"width": width, "height": 900})
        shot = SHOTS / f"{name}-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        image = cv2.imread(str(shot))
        assert image is not None and image.shape[1] == width
        # readable at this width: no horizontal scroll
        assert page.evaluate("document.scrollingElement.scrollWidth") <= width, (name, width)
        ratio, where = page.evaluate(CONTRAST_JS)
        assert ratio >= 4.5, (name, width, ratio, where)
        out.append(shot)
    return out


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
    """``page_at(path, width, clock)``: a new page opened at ``path`` (with ``clock``, its
    timers run only as the test advances them); console errors collected."""
    contexts, errors = [], []

    def open_page(path: str, width: int = 1280, clock: bool = False):
        ctx = browser.new_context(viewport={"width": width, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        if clock:  # the page's timers under the test's control (page.clock.run_for)
            page.clock.install()
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


@pytest.mark.parametrize("path", VIEWS)
def test_each_view_loads_without_console_errors(page_at, path):
    page = page_at(path)
    assert page.locator("h1").count() == 1
    assert page.locator('nav a[aria-current="page"]').count() == 1
    assert page.locator("[tabindex]:not([tabindex='0']):not([tabindex='-1'])").count() == 0
    shoot(page, f"console-{path.strip('/') or 'operator'}")
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
    # people's own review decisions beside the reviewer model's, from the lab's function
    page.wait_for_function("() => document.querySelector('#humans').dataset.decided !== undefined")
    agreement = api(console, "/api/review-agreement?reveal=1")
    assert "agree" not in api(console, "/api/review-agreement")  # the truth only when revealed
    assert int(page.locator("#humans").get_attribute("data-decided")) == agreement["decided"]
    if agreement["compared"]:
        cells = page.locator("#hm-table tbody td").all_inner_texts()
        assert cells[:2] == [str(agreement["people"]["confirmed"]),
                             str(agreement["model"]["confirmed"])]  # fmt: skip
        assert f"agreed on {agreement['agree']} of {agreement['compared']}" in page.locator(
            "#hm-summary").inner_text()  # fmt: skip
    assert page.locator("#groups").is_hidden()  # this run has no measured groups
    assert page.locator("#chart-alerts polyline.curve").count() == 1
    assert page.locator("#chart-alerts line.marker").count() == 1
    # the plots are drawn in Okabe-Ito colours (and neutral axes) only
    page.locator("#chart-watchlist circle.marker").wait_for()
    drawn = hex_colours(page, "svg.chart polyline, svg.chart line, svg.chart circle")
    assert drawn <= OKABE_ITO | NEUTRAL and len(drawn & OKABE_ITO) >= 2, drawn
    shoot(page, "console-threshold-truth")
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


def test_system_profile_shows_its_scale_and_prediction_as_the_cli(page_at, console, run_copy):
    from facelab.profiles.profile import get_profile, shipped

    page = page_at("/threshold")
    group = page.locator('#mapping optgroup[label^="System profiles"] option')
    assert group.evaluate_all("os => os.map((o) => o.dataset.profile)") == list(shipped())
    assert page.locator("#profile").is_hidden()
    start = int(page.locator("#percent").input_value())
    page.select_option("#mapping", "profile:npl-neoface-v4")
    with RunStore(run_copy) as s:
        w = load_scores(s).watchlist_size
    prof = get_profile("npl-neoface-v4")
    for keys, p in (([], start), (["ArrowRight"] * 3, start + 3)):
        page.locator("#percent").focus()
        for k in keys:
            page.keyboard.press(k)
        page.wait_for_function(f"() => document.querySelector('#profile').dataset.percent == {p}"
                               " && document.querySelector('#figures').dataset.percent == " + str(p))  # fmt: skip
        heading = page.locator("#profile-h").inner_text()
        assert "npl-neoface-v4" in heading and "not a measurement of this run" in heading
        assert f"means a score of {p / 100:.3f} or above" in page.locator("#pr-scale").inner_text()
        assert f"{w:,} entries" in page.locator("#pr-caption").inner_text()
        want = api(console, f"/api/profile?name=npl-neoface-v4&percent={p}")
        cli = CliRunner().invoke(cli_app, [
            "profile", "predict", "npl-neoface-v4", "--gallery", str(w), "--threshold",
            str(want["score"]), "--condition", "live", "--format", "json"])  # fmt: skip
        assert cli.exit_code == 0, cli.output
        row = json.loads(cli.output)["rows"][0]
        cells = page.locator("#pr-table tbody td").evaluate_all(
            "tds => tds.map((td) => Number(td.dataset.value))"
        )
        assert cells == [row["fpir"], 1.0 - row["fnir"]] == [want["rows"][0]["fpir"],
                                                           want["rows"][0]["tpir"]]  # fmt: skip
        # the run's own figures read its scores with the profile's percent rule
        assert page.locator("#mapping-desc").inner_text().startswith(f"{prof.scale.percent}:")
        assert (
            int(page.locator("#f-alerts").inner_text())
            == api(console, f"/api/threshold?percent={p}&mapping={prof.scale.percent}")["alerts"]
        )
    shoot(page, "console-threshold-profile")
    page.locator("#percent").focus()
    page.keyboard.press("Home")  # 0 %: every NeoFace score is shown at 0 % or above
    page.wait_for_function("() => document.querySelector('#profile').dataset.percent == 0")
    assert "means any score" in page.locator("#pr-scale").inner_text()
    assert "every search alerts" in page.locator("#pr-none").inner_text()
    assert page.locator("#pr-table").is_hidden()
    page.select_option("#mapping", "profile:nist-frte-mugshot")  # no operator percent
    page.wait_for_function(
        "() => document.querySelector('#profile').dataset.profile == 'nist-frte-mugshot'"
    )
    assert "has no operator percent" in page.locator("#pr-scale").inner_text()
    assert page.locator("#pr-table").is_hidden()
    page.select_option("#mapping", "linear")
    page.wait_for_function("() => document.querySelector('#profile').hidden")
    assert page_at.errors == []


def test_operator_view_works_from_the_keyboard(page_at, run_copy):
    page = page_at("/")
    page.locator("#detail").wait_for(state="visible")
    order = []
    for _ in range(12):
        page.keyboard.press("Tab")
        order.append(page.evaluate("""() => { const n = document.activeElement;
            return n.id || n.className || n.textContent.trim(); }"""))  # fmt: skip
        # the focus is visible: a ring of at least 2 px
        ring = page.evaluate("() => getComputedStyle(document.activeElement).outlineWidth")
        assert float(ring.removesuffix("px")) >= 2, (order[-1], ring)
    assert order[:9] == ["skip", "Operator", "Threshold", "Search", "Retention", "actor",
                         "play", "speed", "show-all"]  # fmt: skip
    assert order[9].startswith("alert ") and order[10].startswith("alert ")  # the queue
    # Space on the second alert opens it; Tab on to the reason and the buttons, Space decides
    second = page.locator("#queue li button").nth(1)
    second.focus()
    page.keyboard.press("Space")
    alert_id = int(second.get_attribute("data-id"))
    page.wait_for_function(f"() => document.querySelector('#detail').dataset.id == {alert_id}")
    # the queue is redrawn, and the keyboard focus stays on the alert just opened
    assert page.evaluate("document.activeElement.dataset.id") == str(alert_id)
    page.locator("#reason").focus()
    page.keyboard.type("not the same person")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Reject match"
    page.keyboard.press("Space")
    page.wait_for_function("() => document.querySelector('#d-status').textContent === 'rejected'")
    with RunStore(run_copy) as s:
        assert get_alert(s, alert_id).status == "rejected"
    # Enter on a button works too: "Show all" after a replay started with Enter
    page.locator("#play").focus()
    page.keyboard.press("Enter")
    assert page.locator("#play").get_attribute("aria-pressed") == "true"
    page.locator("#show-all").focus()
    page.keyboard.press("Enter")
    assert page.locator("#play").get_attribute("aria-pressed") == "false"
    assert page.locator("#clock").inner_text() == "all"
    assert page_at.errors == []


def test_operator_queue_shows_another_reviewers_decision(browser, console, run_copy):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.clock.install()  # the page's timers under the test's control
    page.goto(console.base + "/")
    page.locator("#detail").wait_for(state="visible")
    with RunStore(run_copy) as s:
        pending = [a.id for a in list_alerts(s, status="pending")]
    other = pending[-1]
    button = f"#queue button[data-id='{other}'] .status"
    assert page.locator(button).inner_text() == "pending"
    # another reviewer (here, `facelab review` on the same run) decides while the page is open
    res = CliRunner().invoke(cli_app, ["review", str(run_copy), str(other), "--reject",
                                       "--reason", "another reviewer", "--actor", "teacher-bo"])  # fmt: skip
    assert res.exit_code == 0, res.output
    page.clock.run_for(11_000)  # the queue's next poll
    page.wait_for_function(f"() => document.querySelector(\"{button}\").textContent === 'rejected'")
    ctx.close()


def test_operator_replay_shows_alerts_in_time_order(page_at, console):
    page = page_at("/", clock=True)
    page.locator("#detail").wait_for(state="visible")
    total = page.locator("#queue li").count()
    page.select_option("#speed", "14400")
    page.get_by_role("button", name="Play replay").press("Enter")
    assert page.locator("#play").get_attribute("aria-pressed") == "true"
    seen = []
    for _ in range(60):  # 4 simulated hours a second; a tick every 250 ms
        page.clock.run_for(1000)
        seen.append(page.locator("#queue li").count())
        times = page.locator("#queue li span:nth-child(2)").all_inner_texts()
        assert times == sorted(times)
        if seen[-1] == total:
            break
    assert page.locator("#clock").inner_text() != "all"
    assert seen[0] < total == seen[-1] and seen == sorted(seen)  # alerts arrive, none leave
    assert page.locator("#play").get_attribute("aria-pressed") == "false"  # stopped at the end
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


def test_search_by_a_person_of_the_world_shows_frames_by_camera_and_is_audited(
    page_at, console, run_copy
):
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
    hits = page.locator("#hits li.hit")
    assert hits.count() == rec.details["result_count"] > 0
    # by camera, then time: one section per camera, its hits in time order
    shown = page.evaluate("""() => [...document.querySelectorAll('#hits section')].map((s) =>
        [s.querySelector('h2').textContent, [...s.querySelectorAll('time')].map((t) =>
         t.getAttribute('datetime'))])""")  # fmt: skip
    cameras = [h2.split(" · ")[0] for h2, _ in shown]
    assert len(cameras) == len(set(cameras)) and all(t == sorted(t) for _, t in shown)
    assert sum(len(t) for _, t in shown) == hits.count()
    # each hit: its frame with the face boxed, as in the operator view; the frame is served
    assert page.locator("#hits li.hit svg image").count() == hits.count()
    assert page.locator("#hits li.hit svg rect.facebox").count() == hits.count()
    assert page.locator("#s-noframes").is_hidden() and page.locator(".noframe").count() == 0
    first = page.locator("#hits li.hit svg image").first.get_attribute("href")
    with urllib.request.urlopen(console.base + first, timeout=60) as res:
        assert res.status == 200 and res.read(3) in (b"\xff\xd8\xff", b"\x89PN")
    shoot(page, "console-search-hits")
    assert page_at.errors == []


@pytest.fixture(scope="module")
def embedding_console(twin_model_dir, tmp_path_factory):
    """``(address, run)``: a console over a tiny embedding-mode run (no frames drawn): 8
    people, one FR gate, one day (about 2 s; the twin is the session's)."""
    from facelab import api
    from facelab.config.scenario import parse_scenario

    sc = parse_scenario({
        "name": "tiny-embedding", "seed": 11, "start": "2026-01-05", "days": 1,
        "mode": "embedding", "population": {"size": 8},
        "movement": {"passes_per_day": [2, 2], "active_hours": [8, 18], "presence": 1.0},
        "cameras": [{"id": "gate", "kind": "metro_gate", "station": "A", "fr": True,
                     "resolution": [160, 128]}],
        "watchlist": {"size": 3, "in_city": 2}, "thresholds": {"alert_percent": 50.0},
    }, "tiny-embedding.toml")  # fmt: skip
    run = tmp_path_factory.mktemp("embedding") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACELAB_MODEL_DIR", str(twin_model_dir))
        api.run(sc, run)
        with Background(create_app(run)) as addr:
            yield addr, run


def test_embedding_run_says_it_has_no_frames_instead_of_broken_images(
    browser, embedding_console, tmp_path
):
    addr, run = embedding_console
    ctx = browser.new_context(viewport={"width": 420, "height": 900})
    errors = []
    page = ctx.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    broken = """() => [...document.querySelectorAll('img, image')].filter((n) =>
        n.getClientRects().length && !(n.complete && n.naturalWidth > 0)).length"""
    # operator: the alerts, with the plain statement where frames and photos would be
    page.goto(addr.base + "/")
    page.locator("#detail").wait_for(state="visible")
    assert "embedding-mode run" in page.locator("#o-noframes").inner_text()
    assert page.locator("#d-frame .noframe").inner_text() == "no frame (embedding-mode run)"
    assert page.locator("#d-photo").is_hidden() and page.locator("#d-nophoto").is_visible()
    assert page.evaluate(broken) == 0
    # search: said before anything is asked, then the CLI's own refusal
    page.goto(addr.base + "/search")
    page.wait_for_load_state("networkidle")
    assert "no images to show" in page.locator("#s-noframes").inner_text()
    page.select_option("#person", index=1)
    page.fill("#s-reason", "class exercise")
    page.get_by_role("button", name="Search").click()
    page.locator("#s-error").wait_for(state="visible")
    photo = tmp_path / "any.png"
    cv2.imwrite(str(photo), np.zeros((64, 64, 3), np.uint8))
    cli = CliRunner().invoke(cli_app, ["search", str(run), str(photo), "--reason", "x"])
    assert isinstance(cli.exception, RunError) and RunError.exit_code == 6  # `error: …`, exit 6
    assert page.locator("#s-error").inner_text() == f"error: {cli.exception}"
    assert page.locator("#hits li").count() == 0 and page.evaluate(broken) == 0
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 420
    shoot(page, "console-search-embedding-run", widths=(420,))
    ctx.close()
    assert all("409" in e for e in errors), errors  # only the refused search's answer


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
