"""Signed photos ("pre-loaded frames") of the people of a run's world.

One implementation for every photo of a person that facelab hands to the watchlist or to a
search: the scenario's watchlist photos enrolled by :mod:`facelab.run.pipeline`
(:func:`photo_records` with ``take=None``) and the fresh photos that ``facelab photo`` writes
(``take`` 1, 2, …). Both render the person's sighting latents as a portrait
(:func:`facelab.world.synth.photos`) and sign it with a provenance record
(:mod:`facelab.governance.provenance`). A fresh photo is another sighting of the same identity:
its latent noise, backdrop and degradation come from their own seed stream, so it is never the
enrolled photo itself.

Person ids are the world's: ``0 .. P-1`` for the people of the city, ``P`` and above for
watchlisted people who never come to the city; a scenario watchlist label (``WL-0001``) names
its identity.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelab.errors import DataError
from facelab.governance import provenance
from facelab.world import synth
from facelab.world.world import World

GENERATOR = "dcgan-digiface"
"""Generator name in the provenance records of photos."""

FRESH_PHOTO_STREAM = 106
"""Seed stream of fresh photos (latent noise, backdrop, degradation), apart from the
enrolment photos' :data:`facelab.world.synth.PHOTO_STREAM`."""

TAKE_SPAN = 1 << 20
"""Fresh photos per identity: the sighting id of take ``k`` is ``identity * TAKE_SPAN + k``."""


@dataclass(frozen=True)
class PersonPhoto:
    """A signed photo written by :func:`write_person_photo`."""

    path: Path
    identity: int
    take: int
    label: str | None
    in_city: bool
    sha256: str


def photo_records(generator, seed: int, identities, sigma: float, take: int | None = None,
                  attempts=None):  # fmt: skip
    """Photos of ``identities`` with their provenance records, as ``(image, record)`` pairs.

    ``take=None`` gives the scenario's enrolment photos (sighting id = identity, in
    :data:`facelab.world.synth.PHOTO_STREAM`); ``take >= 1`` a fresh photo of each.
    ``attempts``: each identity's latent candidate (:meth:`facelab.world.world.World.latent_attempts`).
    """
    ids = [int(i) for i in identities]
    if take is None:
        sightings, stream, params = ids, synth.PHOTO_STREAM, {"sigma": sigma, "stream": "photo"}
    else:
        if not 1 <= take < TAKE_SPAN:
            raise DataError(f"--take must lie in 1..{TAKE_SPAN - 1}, got {take}")
        sightings = [i * TAKE_SPAN + take for i in ids]
        stream = FRESH_PHOTO_STREAM
        params = {"sigma": sigma, "stream": "fresh-photo", "take": int(take)}
    images = synth.photos(generator, seed, ids, sightings, sigma, stream=stream, attempts=attempts)
    return [
        (
            img,
            provenance.make_record(
                "portrait",
                generator=GENERATOR,
                model_sha256=generator.model_sha256,
                seed=seed,
                identity=i,
                params=params,
            ),
        )  # fmt: skip
        for i, img in zip(ids, images)
    ]


def resolve_person(world: World, person: str | int) -> tuple[int, str | None, bool]:
    """``(identity, watchlist label or None, in_city)`` of a person id or scenario label."""
    by_label = {e.label: e for e in world.watchlist}
    by_identity = {e.identity: e for e in world.watchlist}
    text = str(person).strip()
    if text in by_label:
        e = by_label[text]
        return e.identity, e.label, e.in_city
    try:
        identity = int(text)
    except ValueError:
        raise DataError(
            f"no person {text!r} in this run's world: give a person id (0..{world.n_people - 1})"
            " or a watchlist label of the scenario (see `facelab world` / `facelab watchlist`)"
        ) from None
    if 0 <= identity < world.n_people:
        e = by_identity.get(identity)
        return identity, e.label if e else None, True
    if identity in by_identity:
        return identity, by_identity[identity].label, False
    raise DataError(
        f"no person {identity} in this run's world: person ids are 0..{world.n_people - 1}"
        " (plus the identities of watchlisted people who never come to the city)"
    )


def write_person_photo(scenario, person: str | int, out: str | Path, *, take: int = 1,
                       device: str = "cpu") -> PersonPhoto:  # fmt: skip
    """Write a fresh signed PNG photo of ``person`` of ``scenario``'s world to ``out``."""
    from facelab.world.world import build_world

    world = build_world(scenario)
    identity, label, in_city = resolve_person(world, person)
    gen = synth.FaceGenerator(device)
    ((image, record),) = photo_records(
        gen, scenario.seed, [identity], scenario.variation.enrol_sigma, take=take,
        attempts=world.latent_attempts([identity]),
    )  # fmt: skip
    out = Path(out)
    provenance.write_image(out, image, record)
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    return PersonPhoto(out, identity, take, label, in_city, sha)


def people_to_try(world: World, n: int = 5) -> dict[str, list[dict]]:
    """Person ids worth a photo: the scenario's watchlist, and the ``n`` people with the most
    passes at face-recognition cameras (not watchlisted), with their pass counts."""
    fr_passes = np.zeros(world.n_people, np.int64)
    for day in range(world.days):
        p = world.day_passes(day)
        p = p[world.camera_is_fr[p["camera"]]]
        fr_passes += np.bincount(p["person"], minlength=world.n_people)
    watch = [
        {
            "person": e.identity,
            "label": e.label,
            "in_city": e.in_city,
            "fr_passes": int(fr_passes[e.identity]) if e.in_city else 0,
        }
        for e in world.watchlist
    ]
    others = np.where(~world.watchlisted)[0]
    top = others[np.argsort(-fr_passes[others], kind="stable")[:n]]
    passers = [{"person": int(i), "fr_passes": int(fr_passes[i])} for i in top if fr_passes[i]]
    return {"watchlist": watch, "fr_passers": passers}
