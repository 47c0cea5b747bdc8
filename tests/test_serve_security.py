"""The console's guards and API over plain HTTP against a real server (uvicorn on loopback).

Loopback-only Host, the access token for other hosts, CSRF on state-changing requests, files
only from the run's own folders, /api/alerts equal to `facelab alerts --format json`, and two
reviewers deciding at once without a lost or doubled decision.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from facelab.cli import app as cli_app
from facelab.governance.audit import AuditLog
from facelab.lab.metrics import fmr_fnmr
from facelab.lab.report.rates import (
    HIGHLIGHT_PERCENTS,
    extrapolated_fpir,
    fpir_by_watchlist_size,
    watchlist_sizes,
)
from facelab.lab.scores import load_scores
from facelab.lab.sweep import cosines_for, run_mapping
from facelab.run.review import get_alert, list_alerts
from facelab.run.store import RunStore
from facelab.serve.app import create_app
from facelab.serve.security import Guard, is_loopback, safe_file
from facelab.serve.server import Background


@pytest.fixture(scope="module")
def console(run_copy):
    app = create_app(run_copy)
    with Background(app) as addr:
        yield addr


def request(addr, method, path, *, body=None, headers=None, host=None):
    """One HTTP request; returns (status, headers dict, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", addr.port, timeout=60)
    hdrs = dict(headers or {})
    if host is not None:
        hdrs["Host"] = host
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    if isinstance(body, dict):
        hdrs.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=hdrs)
    res = conn.getresponse()
    out = res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
    conn.close()
    return out


def session(addr):
    """Open a page like a browser: the session cookie and the page's CSRF token."""
    status, headers, body = request(addr, "GET", "/")
    assert status == 200
    cookie = headers["set-cookie"].split(";")[0]
    token = re.search(rb'name="csrf-token" content="([0-9a-f]+)"', body).group(1).decode()
    return cookie, token


def pending_ids(run: Path) -> list[int]:
    with RunStore(run) as s:
        return [a.id for a in list_alerts(s, status="pending")]


# --------------------------------------------------------------------------- hosts and token


def test_loopback_console_refuses_foreign_host_header(console):
    assert request(console, "GET", "/api/alerts")[0] == 200
    assert request(console, "GET", "/api/alerts", host=f"localhost:{console.port}")[0] == 200
    status, _, body = request(console, "GET", "/api/alerts", host="evil.example:80")
    assert status == 403 and b"loopback" in body


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_loopback_hosts_need_no_token(host):
    assert is_loopback(host) and Guard(host).token is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.org"])
def test_other_hosts_get_a_token(host):
    g = Guard(host)
    assert g.needs_token and len(g.token) >= 24


def test_non_loopback_console_requires_the_token(run_copy):
    app = create_app(run_copy, host="0.0.0.0")
    token = app.state.console.guard.token
    with Background(app, "127.0.0.1") as addr:  # the guard is for 0.0.0.0; bind loopback here
        assert addr.token == token and f"?token={token}" in addr.url
        assert request(addr, "GET", "/")[0] == 403
        assert request(addr, "GET", "/api/alerts")[0] == 403
        assert request(addr, "GET", "/?token=wrong")[0] == 403
        status, headers, _ = request(addr, "GET", f"/?token={token}")
        assert status == 200 and "facelab_token=" in headers["set-cookie"]
        cookie = headers["set-cookie"].split(";")[0]
        assert request(addr, "GET", "/api/alerts", headers={"Cookie": cookie})[0] == 200
        auth = {"Authorization": f"token {token}"}
        assert request(addr, "GET", "/api/alerts", headers=auth)[0] == 200
        assert request(addr, "GET", "/api/alerts", headers={"Authorization": "token x"})[0] == 403


# --------------------------------------------------------------------------- CSRF


def test_post_without_or_with_wrong_csrf_token_is_refused(console, run_copy):
    alert = pending_ids(run_copy)[0]
    body = {"decision": "confirmed", "reason": "csrf test"}
    path = f"/api/alerts/{alert}/review"
    cookie, token = session(console)
    before = len(AuditLog(run_copy / "audit.jsonl").records())
    assert request(console, "POST", path, body=body)[0] == 403
    assert request(console, "POST", path, body=body, headers={"Cookie": cookie})[0] == 403
    wrong = {"Cookie": cookie, "X-CSRF-Token": "0" * 64}
    assert request(console, "POST", path, body=body, headers=wrong)[0] == 403
    other_cookie, _ = session(console)  # a token is bound to its own session
    stolen = {"Cookie": other_cookie, "X-CSRF-Token": token}
    assert request(console, "POST", path, body=body, headers=stolen)[0] == 403
    cross = {"Cookie": cookie, "X-CSRF-Token": token, "Origin": "http://evil.example"}
    assert request(console, "POST", path, body=body, headers=cross)[0] == 403
    assert request(console, "POST", "/api/retention/purge", body={"reason": "x"})[0] == 403
    assert len(AuditLog(run_copy / "audit.jsonl").records()) == before
    with RunStore(run_copy) as s:
        assert get_alert(s, alert).status == "pending"
    ok = {"Cookie": cookie, "X-CSRF-Token": token, "Origin": f"http://127.0.0.1:{console.port}"}
    status, _, out = request(console, "POST", path, body=body, headers=ok)
    assert status == 200 and json.loads(out)["status"] == "confirmed"


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize(
    "path",
    ["/files/run.json", "/files/truth.sqlite", "/files/audit.jsonl", "/files/facelab.sqlite",
     "/files/../run.json", "/files/frames/../run.json", "/files/frames/%2e%2e/run.json",
     "/files/frames/..%2f..%2frun.json", "/files/%2fetc%2fpasswd", "/files//etc/passwd",
     "/files/watchlist/..%5c..%5crun.json", "/files/frames/day-000",
     "/files/archive/day-000.faiss"],
)  # fmt: skip
def test_path_traversal_is_refused(console, path):
    status, _, body = request(console, "GET", path)
    assert status == 404 and b"facelab-run" not in body and b"root:" not in body


def test_frames_and_photos_are_served(console, run_copy):
    with RunStore(run_copy) as s:
        frame = list_alerts(s)[0].frame
    status, headers, body = request(console, "GET", f"/files/{frame}")
    assert status == 200 and body == (run_copy / frame).read_bytes()
    assert headers["x-content-type-options"] == "nosniff"
    photo = sorted((run_copy / "watchlist").glob("*.png"))[0]
    assert request(console, "GET", f"/files/watchlist/{photo.name}")[0] == 200


def test_symlink_out_of_the_run_is_refused(run_copy, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG not for the console")
    link = run_copy / "frames" / "escape.png"
    link.symlink_to(secret)
    inside = run_copy / "frames" / "meta.png"
    inside.symlink_to(run_copy / "run.json")
    try:
        assert safe_file(run_copy, "frames/escape.png") is None
        assert safe_file(run_copy, "frames/meta.png") is None
        assert safe_file(run_copy, "frames/../run.json") is None
        app = create_app(run_copy)
        with Background(app) as addr:
            assert request(addr, "GET", "/files/frames/escape.png")[0] == 404
    finally:
        link.unlink()
        inside.unlink()


# --------------------------------------------------------------------------- API = CLI


@pytest.mark.parametrize("p", [None, 0, 50, 80.5, 100])
def test_api_alerts_equals_cli_json(console, run_copy, p):
    args = ["alerts", str(run_copy), "--format", "json"]
    query = ""
    if p is not None:
        args += ["--min-percent", str(p)]
        query = f"?min_percent={p}"
    res = CliRunner().invoke(cli_app, args)
    assert res.exit_code == 0, res.output
    status, headers, body = request(console, "GET", f"/api/alerts{query}")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert json.loads(body) == json.loads(res.output)
    with RunStore(run_copy) as s:
        assert [a["id"] for a in json.loads(body)] == [a.id for a in list_alerts(s, p)]


def test_api_errors_are_the_cli_line(console):
    status, _, body = request(console, "GET", "/api/alerts?min_percent=120")
    assert status == 400
    assert json.loads(body) == {
        "error": "error: --min-percent must lie in [0, 100], got 120", "exit_code": 2,
    }  # fmt: skip


# --------------------------------------------------------------------------- concurrency


def _concurrent(addr, calls, stagger: float = 0.0):
    """Run (path, body) POSTs at once (each then waits ``i * stagger`` s, so that one arrives
    while another is mid-write), each with its own browser session; results in order."""
    sessions = [session(addr) for _ in calls]
    barrier = threading.Barrier(len(calls))
    out = [None] * len(calls)

    def go(i, path, body):
        cookie, token = sessions[i]
        barrier.wait()
        time.sleep(i * stagger)
        out[i] = request(addr, "POST", path, body=body,
                         headers={"Cookie": cookie, "X-CSRF-Token": token})  # fmt: skip

    threads = [threading.Thread(target=go, args=(i, *c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _reviews_of(run, alert_id):
    return [r for r in AuditLog(run / "audit.jsonl").records()
            if r.action == "review" and r.details["alert_id"] == alert_id]  # fmt: skip


def test_two_reviewers_on_one_alert_record_one_decision(console, run_copy):
    alert = pending_ids(run_copy)[-1]
    calls = [(f"/api/alerts/{alert}/review",
              {"decision": d, "reason": f"reviewer {i}", "actor": f"student-{i}",
               "expect": "pending"}) for i, d in enumerate(("confirmed", "rejected"))]  # fmt: skip
    results = _concurrent(console, calls)
    statuses = sorted(r[0] for r in results)
    assert statuses == [200, 409]
    winner = next(json.loads(r[2]) for r in results if r[0] == 200)
    loser = next(json.loads(r[2]) for r in results if r[0] == 409)
    assert loser["exit_code"] == 11 and "nothing was recorded" in loser["error"]
    records = _reviews_of(run_copy, alert)
    assert len(records) == 1
    assert records[0].actor == winner["reviewed_by"]
    assert records[0].details["decision"] == winner["status"]
    assert records[0].details["previous"] == "pending"
    assert AuditLog(run_copy / "audit.jsonl").verify().ok


@pytest.mark.parametrize("stagger", [0.0, 0.004])
def test_reviewers_on_different_alerts_lose_nothing(console, run_copy, stagger):
    ids = pending_ids(run_copy)[:4]
    assert len(ids) == 4
    calls = [(f"/api/alerts/{a}/review", {"decision": "rejected", "reason": "class",
              "actor": f"s{i}", "expect": "pending"}) for i, a in enumerate(ids)]  # fmt: skip
    assert [r[0] for r in _concurrent(console, calls, stagger)] == [200] * 4
    with RunStore(run_copy) as s:
        assert [get_alert(s, a).status for a in ids] == ["rejected"] * 4
    assert all(len(_reviews_of(run_copy, a)) == 1 for a in ids)
    assert AuditLog(run_copy / "audit.jsonl").verify().ok


@pytest.mark.parametrize("p", [0, 42, 60, 100])
def test_api_threshold_is_a_row_of_the_cli_sweep(console, run_copy, p):
    res = CliRunner().invoke(
        cli_app, ["sweep", str(run_copy), "--thresholds", str(p), "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    row = json.loads(res.output)["rows"][0]
    status, _, body = request(console, "GET", f"/api/threshold?percent={p}&reveal=1")
    assert status == 200
    got = json.loads(body)
    assert got["alerts"] == row["alerts"] and got["false_alerts"] == row["false_alerts"]
    assert got["fpir"]["count"] == row["fpir_count"] and got["fnir"]["count"] == row["fnir_count"]
    assert got["review_hours"] == pytest.approx(row["review_hours"], rel=1e-5)
    hidden = json.loads(request(console, "GET", f"/api/threshold?percent={p}")[2])
    assert not {"false_alerts", "true_alerts", "fpir", "fnir", "wanted_missed"} & set(hidden)


@pytest.mark.parametrize("p", [0, 50, 73])
def test_api_fpir_watchlist_is_the_reports_function(console, run_copy, p):
    with RunStore(run_copy) as s:
        scores = load_scores(s)
    w = scores.watchlist_size
    sizes = watchlist_sizes(w)
    cos = cosines_for(run_mapping(scores, "linear"), [float(p), *HIGHLIGHT_PERCENTS])
    want = fpir_by_watchlist_size(scores.searches, w, cos, sizes)
    as_json = lambda row: [None if np.isnan(x) else float(x) for x in row]  # noqa: E731
    status, _, body = request(console, "GET", f"/api/fpir-watchlist?percent={p}&reveal=1")
    assert status == 200
    got = json.loads(body)
    assert got["sizes"] == sizes and got["watchlist_size"] == w > 1
    assert got["fpir"] == as_json(want[0])
    assert [r["fpir"] for r in got["reference"]] == [as_json(row) for row in want[1:]]
    # at the run's own watchlist size the curve is the run's FPIR at that threshold
    row = json.loads(request(console, "GET", f"/api/threshold?percent={p}&reveal=1")[2])
    assert got["fpir"][-1] == pytest.approx(row["fpir"]["value"], abs=1e-12)
    if scores.complete and scores.impostor.size:
        fmr = fmr_fnmr(np.empty(0), scores.impostor, cos[0])[0][0]
        ext = got["extrapolated"]
        assert ext["fpir"] == [extrapolated_fpir(fmr, n)[0] for n in ext["sizes"]]
    hidden = json.loads(request(console, "GET", f"/api/fpir-watchlist?percent={p}")[2])
    assert not {"fpir", "reference", "extrapolated"} & set(hidden)
    assert hidden["sizes"] == sizes


def test_api_fpir_watchlist_guards_like_the_other_gets(console):
    status, _, body = request(console, "GET", "/api/fpir-watchlist?percent=120&reveal=1")
    assert status == 400 and json.loads(body)["exit_code"] == 2
    assert b"percent must lie in [0, 100]" in body
    status, _, body = request(
        console, "GET", "/api/fpir-watchlist?percent=50&reveal=1", host="evil.example:80"
    )
    assert status == 403 and b"loopback" in body
    status, _, body = request(console, "GET", "/api/fpir-watchlist?percent=50&mapping=nope")
    assert status == 400 and b"unknown percent mapping" in body


def test_api_review_agreement_and_groups_guard_and_keep_the_truth_unasked(console):
    status, _, body = request(console, "GET", "/api/groups?percent=120&reveal=1")
    assert status == 400 and b"percent must lie in [0, 100]" in body
    status, _, body = request(console, "GET", "/api/review-agreement?reveal=1", host="evil.example")
    assert status == 403 and b"loopback" in body
    status, _, body = request(console, "GET", "/api/review-agreement")
    assert status == 200 and set(json.loads(body)) == {"revealed", "decided"}
    status, _, body = request(console, "GET", "/api/review-agreement?reveal=1")
    doc = json.loads(body)
    assert status == 200 and doc["agree"] <= doc["compared"] <= doc["decided"]
    status, _, body = request(console, "GET", "/api/groups?percent=50&reveal=1")
    assert json.loads(body) == {"has_groups": False, "revealed": True, "percent": 50.0}


@pytest.mark.parametrize(
    ("name", "p"),
    [("npl-neoface-v4", 60), ("sface-synthetic", 35), ("sface-synthetic", 0),
     ("nist-frte-mugshot", 60)],
)  # fmt: skip
def test_api_profile_is_the_cli_prediction_at_the_runs_watchlist_size(console, run_copy, name, p):
    from facelab.profiles.profile import get_profile
    from facelab.search.percent import get_mapping

    with RunStore(run_copy) as s:
        w = load_scores(s).watchlist_size
    status, _, body = request(console, "GET", f"/api/profile?name={name}&percent={p}")
    assert status == 200
    got = json.loads(body)
    prof = get_profile(name)
    assert (got["profile"], got["version"], got["watchlist_size"]) == (name, prof.version, w)
    assert got["label"] == "profile prediction, not a measurement of this run"
    if prof.scale.percent == "none":  # no operator percent: nothing predicted at a percent
        assert got["score"] is None and got["rows"] == []
        return
    t = float(get_mapping(prof.scale.percent).to_cosine(p))
    if not np.isfinite(t):  # 0 % on a linear scale: every score, so every search, alerts
        assert (got["score"], got["rows"]) == ("-inf", []) and "every search alerts" in got["note"]
        return
    assert got["score"] == t and got["note"] is None
    assert [r["condition"] for r in got["rows"]] == list(prof.model.genuine)
    for r in got["rows"]:
        args = ["profile", "predict", name, "--gallery", str(w), "--condition", r["condition"],
                "--format", "json", f"--threshold={t}"]  # fmt: skip
        res = CliRunner().invoke(cli_app, args)
        assert res.exit_code == 0, res.output
        cli = json.loads(res.output)["rows"][0]
        assert r["fpir"] == cli["fpir"] and r["fnir"] == cli["fnir"]
        assert r["tpir"] == pytest.approx(1.0 - cli["fnir"], abs=1e-15)
    listed = json.loads(request(console, "GET", "/api/profiles")[2])["profiles"]
    assert name in [x["name"] for x in listed]


@pytest.mark.parametrize(
    "query",
    ["name=../../run.json&percent=50", "name=/etc/passwd&percent=50", "name=x.toml&percent=50",
     "name=npl-neoface-v4&percent=101", "name=npl-neoface-v4", "name=&percent=50"],
)  # fmt: skip
def test_api_profile_reads_no_file_a_request_names(console, query, tmp_path):
    status, _, body = request(console, "GET", f"/api/profile?{query}")
    assert status == 400 and json.loads(body)["exit_code"] == 2
    assert b"root:" not in body and b"facelab-run" not in body


def test_facelab_serve_prints_its_url_and_serves(run_copy):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "facelab", "serve", str(run_copy), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        if lines[1].strip() != f"open http://127.0.0.1:{port}/":  # loopback: no token
            proc.terminate()
            pytest.fail("".join(lines) + proc.stdout.read())
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/retention")
                assert conn.getresponse().status == 200
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        for path in ("/", "/threshold", "/search", "/retention"):  # all four views
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", path)
            res = conn.getresponse()
            assert res.status == 200 and b'aria-current="page"' in res.read(), path
    finally:
        proc.terminate()
        proc.wait(10)


# --------------------------------------------------------------------------- hostile requests


def _multipart(fields: dict) -> tuple[bytes, str]:
    boundary = "facelab-test-boundary"
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


HOSTILE = [  # (method, path, body, content type, status, exit code, fragment)
    ("POST", "/api/alerts/1/review", b"[" * 30_000 + b"]" * 30_000, "application/json",
     400, 2, "nested too deeply"),
    ("POST", "/api/alerts/1/review", b'{"note": "' + b"x" * 100_000 + b'"}', "application/json",
     400, 2, "larger than 65536 bytes"),
    ("POST", "/api/alerts/99999999999999999999999/review", b'{"decision": "confirm", "reason": "x"}',
     "application/json", 404, 9, "no alert 99999999999999999999999"),
    ("POST", "/api/search", *_multipart({"person": "0", "reason": "x", "min_percent": "abc"}),
     400, 2, "--min-percent must lie in [0, 100]"),
    ("POST", "/api/search", *_multipart({"person": "99999999999999999999", "reason": "x"}),
     404, 9, "no person 99999999999999999999"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "ctype", "status", "code", "fragment"),
                         HOSTILE, ids=[f"{h[1]}-{h[6]}" for h in HOSTILE])  # fmt: skip
def test_hostile_requests_get_the_cli_line_and_change_nothing(
    console, run_copy, method, path, body, ctype, status, code, fragment
):
    from runtree import tree_hash

    cookie, token = session(console)
    before = tree_hash(run_copy)
    got, _, out = request(console, method, path, body=body, headers={
        "Cookie": cookie, "X-CSRF-Token": token, "Content-Type": ctype})  # fmt: skip
    assert got == status, out
    error = json.loads(out)
    assert error["exit_code"] == code and fragment in error["error"], error
    assert error["error"].startswith("error: ") and "\n" not in error["error"]
    assert tree_hash(run_copy) == before


@pytest.mark.parametrize("where", ["unknown host", "port in use"])
def test_serve_refuses_an_address_it_cannot_listen_on_in_one_line(run_copy, where):
    from facelab.errors import ConfigError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        host = "999.1.1.1" if where == "unknown host" else "127.0.0.1"
        result = CliRunner().invoke(cli_app, ["serve", str(run_copy), "--host", host,
                                              "--port", str(port)])  # fmt: skip
    assert isinstance(result.exception, ConfigError), (result.output, result.exception)
    assert str(result.exception).startswith(f"--host {host}") and "cannot listen" in str(
        result.exception
    )
    assert "open http" not in result.output  # refused before the URL is printed
