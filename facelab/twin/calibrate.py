"""Calibrating the twin: an image sample drawn with the real models, and the fit to it."""

from __future__ import annotations

from facelab.twin.fit import fit_twin
from facelab.twin.imagesample import DEFAULT_QUALITIES, ImageSample, sample_all
from facelab.twin.model import TwinModel


def calibrate(
    identities: int = 150,
    sightings: int = 4,
    photos: int = 2,
    seed: int = 0,
    qualities=DEFAULT_QUALITIES,
    *,
    device: str = "cpu",
    models=None,
    progress=None,
) -> tuple[TwinModel, dict[str, ImageSample]]:
    """Render, detect and embed an image sample with the real models and fit the twin to it.

    Parameters
    ----------
    identities : people in the sample (the same people in every kind).
    sightings : camera faces per person and quality.
    photos : enrolment photos per person.
    seed : seed of the image sample and of the fit.
    qualities : camera qualities; the first is the fit's reference.
    device : device of the models opened here ("cpu", "cuda", "auto").
    models : ``(FaceGenerator, FaceDetector, Embedder)`` to reuse instead.
    progress : called with the number of faces just done.

    Returns
    -------
    (TwinModel, dict)
        The model (not yet saved) and the samples it was fitted on (``{kind: ImageSample}``).
    """
    from facelab.vision import detect, embed
    from facelab.vision import models as model_files
    from facelab.world import synth

    models = models or (
        synth.FaceGenerator(device),
        detect.FaceDetector(device),
        embed.Embedder(device),
    )
    quals = list(qualities)
    samples = sample_all(
        identities, sightings, photos, seed, quals, models=models, progress=progress
    )
    ref = samples[quals[0]]
    model = fit_twin(
        ref.embeddings, ref.labels, quals[0], seed,
        others={k: (v.embeddings, v.labels) for k, v in samples.items() if k != quals[0]},
        detect_rates={k: v.detect_rate for k, v in samples.items()},
        latent_sigmas={k: v.latent_sigma for k, v in samples.items()},
        n_identities=identities, n_per_identity=sightings,
        embedder_sha256=model_files.model_sha256("embedder"),
    )  # fmt: skip
    return model, samples
