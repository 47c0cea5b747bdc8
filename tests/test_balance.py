"""The image pipeline's worker plan (:func:`facelab.run.balance.plan`): threads from the measured
stage costs, never fewer than one per stage, never more than the cores allow."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from facelab.run import balance
from facelab.run.balance import COSTS, StageCosts, plan

cost = st.floats(0.01, 1000.0, allow_nan=False)


def test_two_cores_one_worker_and_two_one_thread_sessions():
    for name in ("onnxruntime", "openvino"):
        assert plan(2, name).as_dict() == {
            "prepare_workers": 1, "embed_sessions": balance.EMBED_SESSIONS, "embed_threads": 1,
        }  # fmt: skip


def test_a_faster_embedder_gets_fewer_cores():
    ort, ov = plan(16, "onnxruntime"), plan(16, "openvino")
    assert ov.prepare_workers > ort.prepare_workers
    assert ov.embed_threads < ort.embed_threads
    # shares follow the costs: prepare / (prepare + embed) of 16 cores, rounded
    share = COSTS.prepare / (COSTS.prepare + COSTS.embed["openvino"])
    assert ov.prepare_workers == round(16 * share)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 512), cost, cost, cost, cost)
def test_plan_stays_within_the_cores(cores, render, detect, embed_ms, more):
    costs = StageCosts(render=render, detect=detect, align=0.1, jpeg=1.0, commit=0.5,
                       embed={"x": embed_ms})  # fmt: skip
    p = plan(cores, "x", costs)
    assert p.prepare_workers >= 1 and p.embed_threads >= 1
    assert p.prepare_workers <= max(1, cores - 1)
    used = p.prepare_workers + p.embed_sessions * p.embed_threads
    assert max(cores, 1 + p.embed_sessions) <= used <= cores + p.embed_sessions
    heavier = StageCosts(render=render + more, detect=detect, align=0.1, jpeg=1.0, commit=0.5,
                         embed={"x": embed_ms})  # fmt: skip
    assert plan(cores, "x", heavier).prepare_workers >= p.prepare_workers
