"""Image mode stage by stage: core-ms per face of each stage on each backend, the embedder's
GFLOP/s against an sgemm roofline on the same threads, and the pre-rendered pipeline on both
backends in alternating rounds.

* ``test_stage_core_ms``: every stage run serially, one thread, on the frames of the
  ``classroom`` preset (seed 7) with :data:`PEOPLE` people, day 0: render (generator on each
  backend), detect in motion regions (YuNet on each backend), align, embed (SFace on each
  backend, one chunk of :data:`pipeline.RENDER_BATCH` frames a call, and batch 32), signed JPEG
  encode, atomic write, and the day's commit (watchlist search, archive shard, truth, rows)
  timed inside a real ``Runner``. Costs are process CPU seconds (``time.process_time``) per
  face, so other work on the machine does not count, though it still slows the caches. The
  worker plan :func:`facelab.run.balance.plan` makes from these costs is recorded beside the
  plan from the committed constants.
* ``test_roofline_embedder``: numpy float32 sgemm 2048³ on 1 thread and on every usable core
  (threadpoolctl), SFace GFLOP/s on each backend at the same thread counts (batch 32), and
  the bf16 row: measured only where OpenVINO reports BF16 (AVX-512 BF16 / AMX), else
  recorded as not available, with the CPU flags that decided it.
* ``test_pipeline_prerendered_ab``: ``pipeline.Runner`` on the frames rendered beforehand with
  ``--backend onnxruntime`` and ``--backend auto`` (the embedder on OpenVINO), alternately,
  :data:`AB_PAIRS` pairs; faces/s of each, the median per-pair ratio, and each backend's
  bound (usable cores × 1000 / the summed core-ms per face of its stages) with the
  pipeline's fraction of it.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_stages.py -q -p no:cacheprovider
--benchmark-json=benchmarks/results-stages.json``
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from facelab.config.scenario import load_scenario
from facelab.config.sections import PopulationSpec
from facelab.cpus import usable_cpus
from facelab.fileio import write_atomic
from facelab.governance import provenance
from facelab.run import balance, pipeline
from facelab.truth import TruthStore
from facelab.vision import backend, faces
from facelab.vision.detect import FaceDetector
from facelab.vision.embed import Embedder
from facelab.world import camera, synth
from facelab.world.world import build_world

pytestmark = pytest.mark.skipif(not backend.openvino_available(), reason="openvino not installed")

PEOPLE = 200  # classroom preset (seed 7), 200 people, day 0 only
MAX_FRAMES = 96  # frames timed per stage, and run by the A/B pipeline (6 chunks)
AB_PAIRS = 2
ROOFLINE_N = 2048
SFACE_GFLOP = 1.135  # per face (multiply-adds x 2 of Conv and Gemm layers)
BACKENDS = (backend.ORT, backend.OV)

_COSTS: dict[str, float] = {}


def _scenario():
    return load_scenario("classroom").with_overrides(population=PopulationSpec(PEOPLE), days=1)


def _cpu(fn, *args):
    """(result, process CPU seconds) of ``fn(*args)``."""
    t = time.process_time()
    out = fn(*args)
    return out, time.process_time() - t


@pytest.fixture(scope="module")
def day_frames():
    """Day 0's first FR frames (``camera.Frame``, rendered on onnxruntime), in pipeline chunks."""
    sc = _scenario()
    world = build_world(sc)
    renderer = camera.CameraRenderer(sc, world, synth.FaceGenerator())
    truth = list(world.fr_frames(0))[:MAX_FRAMES]
    chunks = [
        truth[s : s + pipeline.RENDER_BATCH] for s in range(0, len(truth), pipeline.RENDER_BATCH)
    ]
    frames = [fr for c in chunks for fr in renderer.render(c)]
    return {"scenario": sc, "world": world, "truth": truth, "frames": frames}


def _render_cost(sc, world, truth, name: str) -> tuple[float, int]:
    renderer = camera.CameraRenderer(sc, world, synth.FaceGenerator(backend=name))
    renderer.render(truth[: pipeline.RENDER_BATCH])  # warm-up
    step = pipeline.RENDER_BATCH
    total, n_faces = 0.0, 0
    for s in range(0, min(len(truth), MAX_FRAMES), step):
        out, sec = _cpu(renderer.render, truth[s : s + step])
        total += sec
        n_faces += sum(len(f.faces) for f in out)
    return total, n_faces


def _detect(detector, frames, sc):
    source = SimpleNamespace(scenario=sc)
    found = []
    for s in range(0, len(frames), pipeline.RENDER_BATCH):
        chunk = frames[s : s + pipeline.RENDER_BATCH]
        regions = pipeline.ImageSource._regions(source, chunk)  # as the pipeline decides
        found += [
            faces.select(faces.find_faces(detector, f.image, r), faces.ALL)
            for f, r in zip(chunk, regions)
        ]
    return found


def _commit_cost(tmp: Path, frames, name: str) -> dict:
    """The day's commit and its watchlist search, timed inside a Runner (serial in the main
    thread after the day's frames are done)."""
    runner = pipeline.Runner(
        _scenario(), tmp, truth=TruthStore(tmp, create=True), mode="image", backend=name
    )
    runner._write_cameras()
    runner._enrol()  # before the world is narrowed to the timed frames
    by_id = {f.frame_id: f for f in frames}
    world = runner.source.world
    runner.source.renderer = SimpleNamespace(render=lambda tf: [by_id[f.frame_id] for f in tf])
    runner.source.world = SimpleNamespace(
        fr_frames=lambda day: [f for f in world.fr_frames(day) if f.frame_id in by_id]
    )
    spent = {"commit": 0.0, "search": 0.0}
    commit = runner._commit

    def timed_commit(batch, watch, t0):
        search = watch.search

        def timed_search(*a, **k):
            out, sec = _cpu(search, *a, **k)
            spent["search"] += sec
            return out

        watch.search = timed_search
        out, sec = _cpu(commit, batch, watch, t0)
        watch.search = search
        spent["commit"] += sec
        return out

    runner._commit = timed_commit
    try:
        summary = runner.run()
    finally:
        runner.close()
        runner.truth.close()
    return {"sightings": summary.total("sightings"), **spent}


def test_stage_core_ms(benchmark, context, day_frames, tmp_path):
    """Core-ms per face of every image-mode stage, one thread, both backends."""
    sc, world, truth = day_frames["scenario"], day_frames["world"], day_frames["truth"]
    frames = day_frames["frames"][:MAX_FRAMES]
    n_frames = len(frames)
    ms: dict[str, float] = {}
    found_by = {}
    for name in BACKENDS:
        sec, n_faces_rendered = _render_cost(sc, world, truth, name)
        ms[f"render_{name}_per_frame"] = sec / n_frames * 1e3
        det = FaceDetector(backend=name, threads=1)
        _detect(det, frames[:16], sc)
        found_by[name], sec = _cpu(_detect, det, frames, sc)
        ms[f"detect_{name}_per_frame"] = sec / n_frames * 1e3
    found = found_by[backend.ORT]  # the detector auto runs
    n_faces = sum(len(f) for f in found)
    aligned, sec = _cpu(
        lambda: np.concatenate([faces.align_faces(f.image, d) for f, d in zip(frames, found)])
    )
    ms["align_per_face"] = sec / n_faces * 1e3
    for name in BACKENDS:
        for batch in (pipeline.RENDER_BATCH, 32):
            emb = Embedder(backend=name, threads=1, batch_size=batch)
            emb.embed(aligned[:batch])
            _, sec = _cpu(emb.embed, aligned)
            ms[f"embed_{name}_batch{batch}_per_face"] = sec / n_faces * 1e3
    records = [camera.frame_record(f, sc, "0" * 64) for f in frames]
    folder = tmp_path / "frames"
    paths = [folder / f"{f.frame_id}{pipeline.FRAME_SUFFIX}" for f in frames]
    blobs, sec = _cpu(
        lambda: [provenance.encode(f.image, r, p) for f, r, p in zip(frames, records, paths)]
    )
    ms["jpeg_encode_per_frame"] = sec / n_frames * 1e3
    t = time.perf_counter()
    _, sec = _cpu(lambda: [write_atomic(p, b) for p, b in zip(paths, blobs)])
    ms["write_atomic_per_frame"] = sec / n_frames * 1e3
    ms["write_atomic_wall_per_frame"] = (time.perf_counter() - t) / n_frames * 1e3
    commit = _commit_cost(tmp_path / "run", frames, "auto")
    ms["search_per_face"] = commit["search"] / commit["sightings"] * 1e3
    ms["commit_per_face"] = commit["commit"] / commit["sightings"] * 1e3  # search included
    faces_per_frame = n_faces / n_frames
    per_face = {k: v / faces_per_frame if k.endswith("_per_frame") else v for k, v in ms.items()}
    _COSTS.update(per_face)
    measured = balance.StageCosts(
        render=per_face["render_onnxruntime_per_frame"],
        detect=per_face["detect_onnxruntime_per_frame"],
        align=per_face["align_per_face"],
        jpeg=per_face["jpeg_encode_per_frame"] + per_face["write_atomic_per_frame"],
        commit=per_face["commit_per_face"],
        embed={n: per_face[f"embed_{n}_batch{pipeline.RENDER_BATCH}_per_face"] for n in BACKENDS},
    )
    cores = usable_cpus()
    context.update(
        scenario=f"classroom (seed 7), population {PEOPLE}, day 0, first {n_frames} frames",
        frames=n_frames,
        faces=n_faces,
        faces_rendered=n_faces_rendered,
        core_ms={k: round(v, 3) for k, v in ms.items()},
        core_ms_per_face={k.replace("_per_frame", ""): round(v, 3) for k, v in per_face.items()},
        plan_from_measured={n: balance.plan(cores, n, measured).as_dict() for n in BACKENDS},
        plan_from_constants={n: balance.plan(cores, n).as_dict() for n in BACKENDS},
        cores=cores,
    )
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    assert n_faces > 0


# --------------------------------------------------------------------------- roofline


def _bf16_flags() -> list[str]:
    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    return sorted(f for f in flags if f in ("avx512_bf16", "amx_bf16", "amx_tile", "avx512f"))


def _sgemm_gflops(threads: int) -> float:
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((ROOFLINE_N, ROOFLINE_N), dtype=np.float32)
    b = rng.standard_normal((ROOFLINE_N, ROOFLINE_N), dtype=np.float32)
    with threadpool_limits(limits=threads, user_api="blas"):
        a @ b
        best = min(_wall(lambda: a @ b) for _ in range(5))
    return 2 * ROOFLINE_N**3 / best / 1e9


def _ov_matmul_gflops(threads: int, precision: str) -> float:
    """OpenVINO MatMul 2048³ at an inference precision (the bf16 roofline where the CPU has it)."""
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([ROOFLINE_N, ROOFLINE_N], np.float32)
    w = ops.constant(
        np.random.default_rng(0).standard_normal((ROOFLINE_N, ROOFLINE_N), dtype=np.float32)
    )
    model = ov.Model([ops.matmul(x, w, False, False)], [x])
    compiled = ov.Core().compile_model(
        model, "CPU", {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": threads}
    )
    req = compiled.create_infer_request()
    a = np.random.default_rng(1).standard_normal((ROOFLINE_N, ROOFLINE_N), dtype=np.float32)
    req.infer([a])
    best = min(_wall(lambda: req.infer([a])) for _ in range(5))
    return 2 * ROOFLINE_N**3 / best / 1e9


def _wall(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def test_roofline_embedder(benchmark, context, day_frames):
    """SFace GFLOP/s per backend against sgemm (and bf16 MatMul where the CPU has bf16)."""
    frames = day_frames["frames"][:64]
    det = FaceDetector()
    found = [faces.select(faces.find_faces(det, f.image), faces.ALL) for f in frames]
    aligned = np.concatenate([faces.align_faces(f.image, d) for f, d in zip(frames, found)])[:32]
    rows = {}
    for threads in sorted({1, usable_cpus()}):
        row = {"sgemm_fp32_gflops": round(_sgemm_gflops(threads), 1)}
        row["ov_matmul_fp32_gflops"] = round(_ov_matmul_gflops(threads, "f32"), 1)
        if "BF16" in backend.cpu_capabilities():
            row["ov_matmul_bf16_gflops"] = round(_ov_matmul_gflops(threads, "bf16"), 1)
        else:
            row["ov_matmul_bf16_gflops"] = "not available on this CPU"
        sessions = {n: Embedder(backend=n, threads=threads, batch_size=32) for n in BACKENDS}
        for emb in sessions.values():
            emb.embed(aligned)
        times: dict[str, list[float]] = {n: [] for n in BACKENDS}
        for i in range(5):  # alternating, so that load from other work falls on both alike
            for n in BACKENDS if i % 2 == 0 else BACKENDS[::-1]:
                times[n].append(_wall(lambda e=sessions[n]: e.embed(aligned)))
        for n in BACKENDS:
            gflops = len(aligned) * SFACE_GFLOP / min(times[n])
            row[f"sface_{n}_{sessions[n].precision}_gflops"] = round(gflops, 1)
            row[f"sface_{n}_fraction_of_sgemm"] = round(gflops / row["sgemm_fp32_gflops"], 3)
        rows[f"{threads}_threads"] = row
    context.update(
        roofline_by_threads=rows,
        ov_capabilities=list(backend.cpu_capabilities()),
        cpu_flags_checked=_bf16_flags(),
        bf16_rule="bf16 where OpenVINO's CPU OPTIMIZATION_CAPABILITIES lists BF16 "
        "(AVX-512 BF16 or AMX); /proc/cpuinfo flags avx512_bf16 / amx_bf16 say the same",
        sface_gflop_per_face=SFACE_GFLOP,
        faces=len(aligned),
    )
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    assert rows


# --------------------------------------------------------------------------- pipeline A/B


def test_pipeline_prerendered_ab(benchmark, context, day_frames, tmp_path):
    """The pre-rendered pipeline with onnxruntime and with auto (embedder on OpenVINO),
    alternating; faces/s, ratio and each one's fraction of its stage-cost bound."""
    frames = day_frames["frames"][:MAX_FRAMES]
    by_id = {f.frame_id: f for f in frames}
    rates: dict[str, list[float]] = {"onnxruntime": [], "auto": []}
    order = ("onnxruntime", "auto")
    for i in range(AB_PAIRS):
        for name in order if i % 2 == 0 else order[::-1]:
            out = tmp_path / f"{name}-{i}"
            runner = pipeline.Runner(
                _scenario(), out, truth=TruthStore(out, create=True), mode="image", backend=name
            )
            runner._write_cameras()
            runner._enrol()  # watchlist photos: not part of the timed pipeline
            runner.source.renderer = SimpleNamespace(
                render=lambda tf: [by_id[f.frame_id] for f in tf]
            )
            world = runner.source.world
            runner.source.world = SimpleNamespace(
                fr_frames=lambda day, w=world: [f for f in w.fr_frames(day) if f.frame_id in by_id]
            )
            t = time.perf_counter()
            summary = runner.run()
            rates[name].append(summary.total("sightings") / (time.perf_counter() - t))
            runner.close()
            runner.truth.close()
    ratios = [b / a for a, b in zip(rates["onnxruntime"], rates["auto"])]
    cores = usable_cpus()
    info = {
        "scenario": f"classroom (seed 7), population {PEOPLE}, day 0, first {len(frames)} frames "
        "rendered beforehand",
        "faces": summary.total("sightings"),
        "faces_per_s": {k: [round(x, 1) for x in v] for k, v in rates.items()},
        "faces_per_s_median": {k: round(statistics.median(v), 1) for k, v in rates.items()},
        "ratio_auto_over_onnxruntime_per_pair": [round(r, 3) for r in ratios],
        "ratio_auto_over_onnxruntime_median": round(statistics.median(ratios), 3),
        "cores": cores,
    }
    if _COSTS:  # the stage costs of this session: the bound each backend could reach
        for name, emb in (("onnxruntime", "onnxruntime"), ("auto", "openvino")):
            per_face = (
                _COSTS["detect_onnxruntime_per_frame"]
                + _COSTS["align_per_face"]
                + _COSTS[f"embed_{emb}_batch{pipeline.RENDER_BATCH}_per_face"]
                + _COSTS["jpeg_encode_per_frame"]
                + _COSTS["write_atomic_per_frame"]
                + _COSTS["commit_per_face"]
            )
            bound = cores * 1000 / per_face
            info[f"bound_faces_per_s_{name}"] = round(bound, 1)
            info[f"fraction_of_bound_{name}"] = round(statistics.median(rates[name]) / bound, 3)
    context.update(info)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    assert all(r > 0 for r in ratios)
