"""Image-mode throughput: SFace faces/s by batch size, the face-search pipeline on pre-rendered
frames, and the full simulation (rendering included); the pipeline / embedder ratio.

* ``test_embedder_faces_per_s[B]``: ``Embedder(batch_size=B).embed`` on the aligned faces of
  the pre-rendered frames (the faces the pipeline embeds), B = 1, 8, 32, 64; achieved GFLOP/s
  from the model's own multiply-add count beside the sgemm roofline.
* ``test_pipeline_prerendered``: ``pipeline.Runner`` in image mode on the same frames, served
  from memory instead of being rendered: detect → align → embed → watchlist search → write
  the day's frames (signed JPEG), archive shard and rows; faces are detected in the frames'
  motion regions (the default, :mod:`facelab.world.motion`). Three rounds, the embedder measured at
  batch 8 and 32 just before each and after the last (this machine's speed drifts within
  minutes, so each round is compared with its neighbours only): faces/s, the median per-round
  ratio to the embedder at batch 32 (the pipeline's setting) and at its best batch (the
  target's reference), a stage-by-stage serial cost table and, when the ratio to the best
  batch is below 0.8, a cProfile of both threads (top functions by own time).
* ``test_pipeline_prerendered_variant[...]``: the same with one change made in the benchmark
  process only (facelab untouched), to measure what a fix would give.
* ``test_full_simulation_classroom``: ``pipeline.run_scenario`` of the ``classroom`` preset
  into a temporary folder (models loaded, watchlist enrolled, frames rendered).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from facelab.config.scenario import load_scenario
from facelab.config.sections import DetectionSpec, PopulationSpec
from facelab.cpus import usable_cpus
from facelab.governance import provenance
from facelab.run import pipeline
from facelab.truth import TruthStore
from facelab.vision import embed, models
from facelab.vision.embed import Embedder
from facelab.world import camera
from facelab.world.world import build_world

PEOPLE = 200  # classroom preset (seed 7) with 200 people and 2 days: 677 frames, 1 face each
DAYS = 2
BATCHES = (1, 8, 32, 64)
EMBED_FACES = 256  # aligned faces per embedder round
REFERENCE_BATCHES = (8, 32)  # embedder batches measured around each pipeline round
PIPELINE_ROUNDS = 3
TARGET_RATIO = 0.8
PROFILE_TOP = 20

_RESULTS: dict[str, float] = {}


# --------------------------------------------------------------------------- data


def _scenario():
    return load_scenario("classroom").with_overrides(population=PopulationSpec(PEOPLE), days=DAYS)


def render_frames(generator) -> dict:
    """Every FR-camera frame of the scenario (``camera.Frame`` by frame id), in pipeline chunks."""
    sc = _scenario()
    world = build_world(sc)
    renderer = camera.CameraRenderer(sc, world, generator)
    out = {}
    for day in range(sc.days):
        truth = list(world.fr_frames(day))
        for s in range(0, len(truth), pipeline.RENDER_BATCH):
            for fr in renderer.render(truth[s : s + pipeline.RENDER_BATCH]):
                out[fr.frame_id] = fr
    return out


@pytest.fixture(scope="module")
def frames(generator):
    """Every FR-camera frame of the scenario, rendered once."""
    t = time.perf_counter()
    out = render_frames(generator)
    out_seconds = time.perf_counter() - t
    return {
        "frames": out,
        "render_seconds": out_seconds,
        "generator_sha256": generator.model_sha256,
    }


@pytest.fixture(scope="module")
def aligned(frames, detector):
    """The aligned faces YuNet finds in the frames, in frame order: uint8 (n, 112, 112, 3)."""
    faces = []
    for fr in frames["frames"].values():
        det = detector.detect(fr.image)
        faces += [embed.align(fr.image, det.landmarks[j]) for j in range(len(det))]
    return np.stack(faces)


def model_gflop_per_face(name: str = "embedder") -> float:
    """Multiply-adds x 2 of one forward pass (Conv and Gemm/MatMul layers), in GFLOP."""
    import onnx
    from onnx import numpy_helper, shape_inference

    m = onnx.load(str(models.model_path(name)))
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    inferred = shape_inference.infer_shapes(m)
    shapes = {
        vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
        for vi in list(inferred.graph.value_info) + list(inferred.graph.output)
    }
    weights = {i.name: numpy_helper.to_array(i).shape for i in m.graph.initializer}
    flops = 0.0
    for node in m.graph.node:
        out = shapes.get(node.output[0])
        w = weights.get(node.input[1]) if len(node.input) > 1 else None
        if not out or w is None:
            continue
        if node.op_type == "Conv":
            flops += 2.0 * np.prod(out) * np.prod(w[1:])
        elif node.op_type == "Gemm":
            trans_b = any(a.name == "transB" and a.i for a in node.attribute)
            flops += 2.0 * np.prod(out) * (w[1] if trans_b else w[0])
        elif node.op_type == "MatMul":
            flops += 2.0 * np.prod(out) * w[0]
    return flops / 1e9


# --------------------------------------------------------------------------- embedder


def _embedder_rate(faces: np.ndarray, batch: int, rounds: int = 3) -> tuple[float, float]:
    emb = Embedder(batch_size=batch)
    emb.embed(faces[:batch])
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        emb.embed(faces)
        times.append(time.perf_counter() - t)
    return len(faces) / min(times), len(faces) / float(np.median(times))


@pytest.mark.benchmark(group="throughput: embedder faces/s by batch")
@pytest.mark.parametrize("batch", BATCHES)
def test_embedder_faces_per_s(benchmark, context, tools, aligned, batch):
    """SFace (onnxruntime, CPU) faces/s at one batch size, on faces from rendered frames."""
    faces = aligned[:EMBED_FACES]
    emb = Embedder(batch_size=batch)
    emb.embed(faces[:batch])  # warm-up at this batch size
    benchmark.pedantic(emb.embed, args=(faces,), rounds=3, iterations=1)
    best, median = benchmark.stats.stats.min, benchmark.stats.stats.median
    gflop = model_gflop_per_face()
    _RESULTS[f"embed_{batch}"] = len(faces) / best
    context.update(
        batch=batch,
        faces=len(faces),
        source=f"aligned YuNet faces of classroom (seed 7, population {PEOPLE}, days {DAYS}) frames",
        providers=list(emb.providers),
        device="cpu",
        faces_per_s_best=round(len(faces) / best, 1),
        faces_per_s_median=round(len(faces) / median, 1),
        gflop_per_face=round(gflop, 3),
        **tools.achieved(gflop * 1e9 * len(faces), best, context["roofline"]),
    )


# --------------------------------------------------------------------------- pipeline


class _Prerendered:
    """Stands in for ``camera.CameraRenderer``: returns the frames rendered beforehand."""

    def __init__(self, frames: dict):
        self._frames = frames

    def render(self, truth_frames):
        return [self._frames[f.frame_id] for f in truth_frames]


def _runner(tmp: Path, frames: dict) -> pipeline.Runner:
    runner = pipeline.Runner(_scenario(), tmp, truth=TruthStore(tmp, create=True), mode="image")
    runner._write_cameras()
    runner._enrol()  # watchlist photos: not part of the timed pipeline
    runner.source.renderer = _Prerendered(frames)
    return runner


def _profile_prepare(runner: pipeline.Runner, prof: cProfile.Profile) -> None:
    """Profile the render/detect worker thread too (cProfile sees one thread per profiler)."""
    inner = runner.source._prepare
    runner.source._prepare = lambda *a: prof.runcall(inner, *a)


def _top(stats: pstats.Stats, key: str, n: int) -> list[str]:
    buf = io.StringIO()
    stats.stream = buf
    stats.sort_stats(key).print_stats(n)
    rows = []
    for line in buf.getvalue().splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6 and parts[0].replace("/", "").isdigit() and _is_float(parts[1]):
            rows.append(f"{parts[5]}: tottime {parts[1]} s, cumtime {parts[3]} s, calls {parts[0]}")
    return rows


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _stage_costs(frames: dict, detector, tmp: Path) -> dict:
    """Serial, one-stage-at-a-time costs on the same frames (ms per frame or per face)."""
    sc = _scenario()
    sha = frames["generator_sha256"]
    fr = list(frames["frames"].values())
    t = time.perf_counter()
    full = [detector.detect(f.image) for f in fr]
    full_s = time.perf_counter() - t
    source = SimpleNamespace(scenario=sc)
    t = time.perf_counter()
    dets = []
    for s in range(0, len(fr), pipeline.RENDER_BATCH):
        chunk = fr[s : s + pipeline.RENDER_BATCH]
        regions = pipeline.ImageSource._regions(source, chunk)  # as the pipeline decides
        dets += [detector.detect_regions(f.image, r) for f, r in zip(chunk, regions)]
    detect_s = time.perf_counter() - t
    t = time.perf_counter()
    faces = [embed.align(f.image, d.landmarks[j]) for f, d in zip(fr, dets) for j in range(len(d))]
    align_s = time.perf_counter() - t
    folder = tmp / "frames"
    t = time.perf_counter()
    for f in fr:
        path = folder / f"{f.frame_id}{pipeline.FRAME_SUFFIX}"
        provenance.encode(f.image, camera.frame_record(f, sc, sha), path)
    encode_s = time.perf_counter() - t
    t = time.perf_counter()
    for f in fr:
        path = folder / f"{f.frame_id}{pipeline.FRAME_SUFFIX}"
        provenance.write_image(path, f.image, camera.frame_record(f, sc, sha))
    png_s = time.perf_counter() - t
    emb = Embedder(batch_size=embed.DEFAULT_BATCH)
    arr = np.stack(faces)
    emb.embed(arr[:32])
    t = time.perf_counter()
    emb.embed(arr)
    embed_s = time.perf_counter() - t
    n_fr, n_faces = len(fr), len(faces)
    return {
        "frames": n_fr,
        "faces": n_faces,
        "detect_ms_per_frame": round(detect_s / n_fr * 1e3, 2),
        "detect_regions": sc.detection.regions,
        "detect_whole_frame_ms_per_frame": round(full_s / n_fr * 1e3, 2),
        "faces_found_whole_frame": sum(len(d) for d in full),
        "align_ms_per_face": round(align_s / n_faces * 1e3, 3),
        "encode_signed_frame_ms_per_frame": round(encode_s / n_fr * 1e3, 2),
        "encode_and_write_signed_frame_ms_per_frame": round(png_s / n_fr * 1e3, 2),
        "frame_format": pipeline.FRAME_SUFFIX,
        "embed_ms_per_face_batch32": round(embed_s / n_faces * 1e3, 2),
        "serial_ms_per_face_sum": round((detect_s + align_s + png_s + embed_s) / n_faces * 1e3, 2),
    }


def _embed_reference(aligned: np.ndarray) -> tuple[float, float]:
    """(batch-32, best batch) embedder faces/s: this pytest session's figures, or measured now."""
    if "embed_32" not in _RESULTS:
        _RESULTS["embed_32"] = _embedder_rate(aligned[:EMBED_FACES], 32)[0]
    best = max(v for k, v in _RESULTS.items() if k.startswith("embed_"))
    return _RESULTS["embed_32"], best


def _reference_rates(aligned: np.ndarray) -> dict[int, float]:
    """Embedder faces/s at :data:`REFERENCE_BATCHES`, measured now (one pass each, warmed up)."""
    return {b: _embedder_rate(aligned[:EMBED_FACES], b, rounds=1)[0] for b in REFERENCE_BATCHES}


def _pipeline_bench(benchmark, frames, aligned, tmp_path, tweak=None, rounds=2):
    """Pipeline rounds, each with the embedder measured just before it and after the last one
    (this machine's speed drifts within minutes: a ratio is taken between neighbours only).

    Returns the rounds' ``(seconds, summary)`` and, per round, the embedder's faces/s by batch
    averaged over the measurements before and after it."""
    runs: list[tuple[float, pipeline.RunSummary]] = []
    refs: list[dict[int, float]] = []
    state = {}

    def setup():
        refs.append(_reference_rates(aligned))
        state["runner"] = _runner(tmp_path / f"run-{len(runs)}", frames["frames"])
        if tweak is not None:
            tweak(state["runner"])
        return (), {}

    def run():
        runner = state["runner"]
        t = time.perf_counter()
        summary = runner.run()
        runs.append((time.perf_counter() - t, summary))
        runner.close()
        runner.truth.close()

    benchmark.pedantic(run, setup=setup, rounds=rounds, iterations=1)
    refs.append(_reference_rates(aligned))
    around = [
        {b: (refs[i][b] + refs[i + 1][b]) / 2 for b in REFERENCE_BATCHES} for i in range(len(runs))
    ]
    return runs, around


def _ratios(rates: list[float], around: list[dict[int, float]]) -> dict:
    """Per-round pipeline / embedder ratios (batch 32, and the best reference batch), medians."""
    r32 = [r / a[32] for r, a in zip(rates, around)]
    best = [r / max(a.values()) for r, a in zip(rates, around)]
    return {
        "embedder_faces_per_s_around_each_round": [
            {str(b): round(v, 1) for b, v in a.items()} for a in around
        ],
        "ratio_to_embedder_batch32_per_round": [round(x, 3) for x in r32],
        "ratio_to_embedder_best_batch_per_round": [round(x, 3) for x in best],
        "ratio_to_embedder_batch32": round(float(np.median(r32)), 3),
        "ratio_to_embedder_best_batch": round(float(np.median(best)), 3),
    }


@pytest.mark.benchmark(group="throughput: pipeline on pre-rendered frames")
def test_pipeline_prerendered(benchmark, context, tools, frames, aligned, detector, tmp_path):
    """Detect → align → embed → search → store on frames rendered beforehand (image mode)."""
    runs, around = _pipeline_bench(benchmark, frames, aligned, tmp_path, rounds=PIPELINE_ROUNDS)
    faces = runs[0][1].total("sightings")
    rates = [faces / s for s, _ in runs]
    ratios = _ratios(rates, around)
    rate = max(rates)
    _RESULTS["pipeline"] = rate
    info = {
        "scenario": f"classroom (seed 7), population {PEOPLE}, days {DAYS}, image mode, cpu",
        "frames": len(frames["frames"]),
        "faces": faces,
        "render_seconds_excluded": round(frames["render_seconds"], 2),
        "faces_per_s_best": round(rate, 1),
        "faces_per_s_median": round(float(np.median(rates)), 1),
        "faces_per_s_run_summary": [round(s.faces_per_s, 1) for _, s in runs],
        "faces_per_s_rounds": [round(r, 1) for r in rates],
        **ratios,
        "target_ratio": TARGET_RATIO,
        "target_met": ratios["ratio_to_embedder_best_batch"] >= TARGET_RATIO,
        "stage_costs_serial": _stage_costs(frames, detector, tmp_path),
    }
    if not info["target_met"]:
        main_prof, worker_prof = cProfile.Profile(), cProfile.Profile()
        runner = _runner(tmp_path / "run-profiled", frames["frames"])
        _profile_prepare(runner, worker_prof)
        t = time.perf_counter()
        main_prof.enable()
        runner.run()
        main_prof.disable()
        wall = time.perf_counter() - t
        runner.close()
        runner.truth.close()
        info["profile"] = {
            "wall_seconds": round(wall, 2),
            "main_thread_by_tottime": _top(pstats.Stats(main_prof), "tottime", PROFILE_TOP),
            "worker_thread_by_tottime": _top(pstats.Stats(worker_prof), "tottime", PROFILE_TOP),
            "worker_thread_by_cumtime": _top(pstats.Stats(worker_prof), "cumulative", PROFILE_TOP),
        }
    context.update(info)
    assert faces > 0


def _chunk_embedders(sessions: int, threads: int | None = None, spinning: bool = False):
    """Embed the pipeline's chunks with ``sessions`` onnxruntime sessions of other thread
    settings (facelab: ``pipeline.EMBED_WORKERS`` sessions sharing the cores, not spinning)."""
    import queue

    import onnxruntime as ort

    def tweak(runner):
        embedders = queue.SimpleQueue()
        for _ in range(sessions):
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            if threads is not None:
                opts.intra_op_num_threads = threads
            opts.add_session_config_entry(
                "session.intra_op.allow_spinning", "1" if spinning else "0"
            )
            emb = Embedder()
            emb._session = ort.InferenceSession(
                str(models.model_path("embedder")), sess_options=opts,
                providers=["CPUExecutionProvider"],
            )  # fmt: skip
            embedders.put(emb)
        runner.source._embedders = embedders

    return tweak


def _whole_frame_detection(runner):
    # YuNet on every whole frame (``[detection] regions = "full"``) instead of motion regions.
    sc = runner.source.scenario
    runner.source.scenario = sc.with_overrides(detection=DetectionSpec("full"))


def _no_frames(runner):
    # Not a proposal (frames are evidence): measures what encoding and writing them costs.
    pipeline.provenance.encode = lambda image, record, path, key=None: b""
    pipeline.write_atomic = lambda path, data: Path(path)


VARIANTS = {
    "detection-whole-frame": _whole_frame_detection,
    # one SFace session on every core: each layer waits for a core the render worker holds
    "one-embedder-all-cores": _chunk_embedders(1),
    "ort-spinning": _chunk_embedders(
        pipeline.EMBED_WORKERS, max(1, usable_cpus() // pipeline.EMBED_WORKERS), spinning=True
    ),
    "no-frame-files": _no_frames,
}


@pytest.mark.benchmark(group="throughput: pipeline variants (diagnostic)")
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_pipeline_prerendered_variant(
    benchmark, context, frames, aligned, tmp_path, variant, monkeypatch
):
    """The pre-rendered pipeline with one change applied in this process (facelab untouched)."""
    if variant == "no-frame-files":  # restored after the test
        monkeypatch.setattr(pipeline.provenance, "encode", pipeline.provenance.encode)
        monkeypatch.setattr(pipeline, "write_atomic", pipeline.write_atomic)
    runs, around = _pipeline_bench(
        benchmark, frames, aligned, tmp_path, VARIANTS[variant], rounds=1
    )
    faces = runs[0][1].total("sightings")
    rates = [faces / s for s, _ in runs]
    context.update(
        variant=variant,
        faces=faces,
        faces_per_s_best=round(max(rates), 1),
        faces_per_s_median=round(float(np.median(rates)), 1),
        as_shipped_faces_per_s=round(_RESULTS["pipeline"], 1) if "pipeline" in _RESULTS else None,
        **_ratios(rates, around),
    )
    assert faces > 0


# --------------------------------------------------------------------------- full simulation


@pytest.mark.benchmark(group="throughput: full simulation (rendering included)")
def test_full_simulation_classroom(benchmark, context, aligned, tmp_path):
    """``run_scenario`` of the classroom preset (seed 7, 40 people, 2 days, image mode)."""
    sc = load_scenario("classroom")
    runs: list[tuple[float, pipeline.RunSummary]] = []

    def run():
        t = time.perf_counter()
        out = tmp_path / f"run-{len(runs)}"
        with TruthStore(out, create=True) as truth:
            summary = pipeline.run_scenario(sc, out, truth=truth)
        runs.append((time.perf_counter() - t, summary))

    benchmark.pedantic(run, rounds=2, iterations=1)
    faces = runs[0][1].total("sightings")
    rates = [faces / s for s, _ in runs]
    embed32, _ = _embed_reference(aligned)
    context.update(
        scenario="classroom preset (seed 7, population 40, days 2), image mode, cpu",
        faces=faces,
        frames=runs[0][1].total("frames"),
        wall_seconds=[round(s, 2) for s, _ in runs],
        faces_per_s_wall_best=round(max(rates), 1),
        faces_per_s_days_only=[round(s.faces_per_s, 1) for _, s in runs],
        embedder_faces_per_s_batch32=round(embed32, 1),
        ratio_to_embedder_batch32=round(max(rates) / embed32, 3),
        note="wall clock of run_scenario: model loading, enrolment and rendering included",
    )
    assert faces > 0
