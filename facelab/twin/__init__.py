"""The calibrated embedding twin: SFace-like embeddings without images, for scale.

Image mode renders a face, detects, aligns and embeds it: about 30–50 faces/s on two CPU cores.
Embedding mode draws each sighting's embedding from a small statistical model fitted to image
mode, so that millions of sightings take seconds while their genuine (same person) and impostor
(different people) cosine distributions stay close to those of the real models.

Modules
-------
- :mod:`~facelab.twin.model`: the model (:class:`TwinModel`), its file, the calibrated default.
- :mod:`~facelab.twin.sampler`: :class:`TwinSampler`, deterministic draws of templates,
  sightings and photos, on the counter-based generator of :mod:`~facelab.twin.rng` and the
  components of :mod:`~facelab.twin.components`.
- :mod:`~facelab.twin.imagesample`: the image-mode sample (real models) a twin is fitted on.
- :mod:`~facelab.twin.pairs`: genuine / impostor pairs and their score statistics.
- :mod:`~facelab.twin.fit` (with :mod:`~facelab.twin.simulation`): fitting, a table of
  (parameter, statistic, bounds) tuned by bisection; :mod:`~facelab.twin.calibrate`: sample and
  fit in one call.
- :mod:`~facelab.twin.validation`: twin against image mode (KS, FMR / FNMR with intervals); the
  only module here that uses :mod:`facelab.lab.metrics`.

Embedding mode (:mod:`facelab.run.pipeline`) needs only model, sampler and calibrate, none of
which imports :mod:`facelab.lab`. This package imports nothing itself.
"""
