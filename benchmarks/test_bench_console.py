"""A bounded load test of the classroom console: ``CLIENTS`` browsers polling for ``SECONDS``.

The console (``facelab serve``, uvicorn) runs in its own process on a free loopback port over a
fresh classroom run. Each client thread keeps one HTTP connection and polls without pause, in
turn, what the pages fetch: the review queue (``/api/queue``, which an open operator page
fetches again every 10 s), the CLI's alert list (``/api/alerts``) and the threshold figures at
a seeded random percent (``/api/threshold``): a bound well above a class's real load. ``extra_info`` records
requests, errors (non-200 answers and failed connections), requests per second, the latency
percentiles (p50, p95, p99, max, in milliseconds) and the machine's load: the 1-, 5- and
15-minute load averages before the clients start (``loadavg_before``), the 1-minute load
average sampled every second while they run (``loadavg_1m_during``: min, mean, max) and the
number of CPUs, so that figures from a shared machine are read as such. The clients run in the
benchmark's process and the console in its own, on the same CPUs: latency includes the
clients' own share of the machine. See benchmarks/README.md, "Console".
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from facelab import api

SEED = 17
CLIENTS = int(os.environ.get("FACELAB_BENCH_CLIENTS", "20"))
SECONDS = float(os.environ.get("FACELAB_BENCH_SECONDS", "30"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    run = tmp_path_factory.mktemp("console") / "run"
    api.run("classroom", run)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "facelab", "serve", str(run), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"console did not start: {proc.stdout.read()}") from None
            time.sleep(0.2)
    yield port
    proc.terminate()
    proc.wait(10)


def _client(port: int, seed: int, stop: float, out: list) -> None:
    rng = np.random.default_rng(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    i = 0
    while time.monotonic() < stop:
        kind = i % 3
        path = ("/api/queue", "/api/alerts",
                f"/api/threshold?percent={int(rng.integers(0, 101))}")[kind]  # fmt: skip
        t0 = time.perf_counter()
        try:
            conn.request("GET", path)
            res = conn.getresponse()
            res.read()
            ok = res.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        out.append((kind, time.perf_counter() - t0, ok))
        i += 1
    conn.close()


def _load_sampler(stop: float, out: list) -> None:
    """The 1-minute load average once a second until ``stop``."""
    while time.monotonic() < stop:
        out.append(os.getloadavg()[0])
        time.sleep(1.0)


def test_console_under_polling_clients(benchmark, context, console):
    results: list[list] = [[] for _ in range(CLIENTS)]
    load_samples: list[float] = []
    before = [round(x, 2) for x in os.getloadavg()]

    def load() -> None:
        stop = time.monotonic() + SECONDS
        threads = [threading.Thread(target=_client, args=(console, SEED + i, stop, results[i]))
                   for i in range(CLIENTS)]  # fmt: skip
        threads.append(threading.Thread(target=_load_sampler, args=(stop, load_samples)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    benchmark.pedantic(load, rounds=1, iterations=1)
    rows = [r for rs in results for r in rs]
    lat = np.array([r[1] for r in rows]) * 1000
    errors = sum(not r[2] for r in rows)
    pct = {f"p{q}_ms": round(float(np.percentile(lat, q)), 1) for q in (50, 95, 99)}
    by_kind = {
        name: round(float(np.percentile(lat[[r[0] == k for r in rows]], 95)), 1)
        for k, name in enumerate(("queue", "alerts", "threshold"))
    }
    context.update(
        clients=CLIENTS, seconds=SECONDS, requests=len(rows), errors=errors,
        requests_per_s=round(len(rows) / SECONDS, 1), max_ms=round(float(lat.max()), 1),
        p95_ms_by_endpoint=by_kind, **pct, loadavg_before=before,
        loadavg_1m_during={"min": round(min(load_samples), 2), "max": round(max(load_samples), 2),
                           "mean": round(float(np.mean(load_samples)), 2),
                           "samples": len(load_samples)},
    )  # fmt: skip
    assert len(rows) > 0 and load_samples
