"""Worker counts of the image pipeline, from the measured core-ms per face of its stages.

Image mode runs each chunk of frames through two CPU stages at once (:mod:`facelab.run.pipeline`):

* **prepare**, on ``prepare_workers`` threads: render the frames (the generator), sign and
  encode them as JPEG, detect faces in their motion regions, align them; the atomic writes go to
  a writer thread (I/O waits off the CPU path);
* **embed**, on ``embed_sessions`` SFace sessions of ``embed_threads`` threads each.

The day's commit (watchlist search, archive shard, truth, rows) runs after its chunks. On a
machine where every stage is CPU-bound, a day is fastest when each stage gets cores in
proportion to its cost: ``prepare_workers = round(cores × prepare / (prepare + embed))``,
at least one and leaving the embedder at least one core; the embedder's cores are split
between :data:`EMBED_SESSIONS` sessions, rounded up (two sessions that share no threads never
wait for a core the prepare worker holds; an odd core is shared rather than left idle). The chunk size and the embedder's batch stay at
:data:`facelab.run.pipeline.RENDER_BATCH` frames: at one thread, SFace's core-ms per face is
the same at batch 16 and 32 on both backends (:data:`COSTS`' source).

:data:`COSTS` are core-ms per face measured by ``benchmarks/test_bench_stages.py``
(``test_stage_core_ms`` in ``benchmarks/results-stages.json``: process CPU time, one thread,
the classroom preset's frames, AMD EPYC with AVX2, 2 cores at a load average of 25, which
inflates every figure alike); the JSON also holds the plan made from the costs of the machine it
ran on. On two cores every plan is one prepare worker and two one-thread
embedder sessions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EMBED_SESSIONS = 2
"""SFace sessions embedding chunks at once on the CPU."""


@dataclass(frozen=True)
class StageCosts:
    """Core-ms per face of each image-mode stage (one thread; ``embed`` per backend)."""

    render: float
    detect: float
    align: float
    jpeg: float  # sign + encode + atomic write of the frame
    commit: float  # watchlist search, archive shard, truth and rows
    embed: dict[str, float] = field(default_factory=dict)

    @property
    def prepare(self) -> float:
        """What one prepare worker spends on a face (render, JPEG, detect, align)."""
        return self.render + self.jpeg + self.detect + self.align

    def per_face(self, embed_backend: str, *, rendered: bool = True) -> float:
        """Core-ms of every stage for one face (``rendered=False``: frames given, not rendered)."""
        render = self.render if rendered else 0.0
        return self.prepare - self.render + render + self.embed[embed_backend] + self.commit


COSTS = StageCosts(
    render=30.7,
    detect=5.5,
    align=0.41,
    jpeg=4.6,
    commit=0.85,
    embed={"onnxruntime": 72.8, "openvino": 41.9},
)
"""Measured core-ms per face (see the module docstring)."""


@dataclass(frozen=True)
class Plan:
    """Threads of each stage for a given number of cores."""

    prepare_workers: int
    embed_sessions: int
    embed_threads: int

    def as_dict(self) -> dict[str, int]:
        return {
            "prepare_workers": self.prepare_workers,
            "embed_sessions": self.embed_sessions,
            "embed_threads": self.embed_threads,
        }


def plan(cores: int, embed_backend: str, costs: StageCosts = COSTS) -> Plan:
    """Prepare workers and embedder sessions and threads for ``cores`` CPUs.

    Parameters
    ----------
    cores : usable CPUs (:func:`facelab.cpus.usable_cpus`).
    embed_backend : the embedder's resolved backend (``"onnxruntime"`` or ``"openvino"``).
    costs : core-ms per face of each stage; default :data:`COSTS`.

    Returns
    -------
    Plan
        On 2 cores: 1 prepare worker, 2 embedder sessions of 1 thread (whatever the costs).
    """
    cores = max(1, int(cores))
    prepare, embed = costs.prepare, costs.embed[embed_backend]
    workers = round(cores * prepare / (prepare + embed))
    workers = min(max(1, workers), max(1, cores - 1))
    threads = max(1, -(-(cores - workers) // EMBED_SESSIONS))  # no core left idle
    return Plan(workers, EMBED_SESSIONS, threads)
