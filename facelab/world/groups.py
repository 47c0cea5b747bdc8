"""Groups of synthetic people, measured on their faces: the Individual Typology Angle (ITA).

A group is a band of one colour measure of an identity's rendered face, never an assertion
about the person: the people do not exist, and the measure is of pixels, lighting included.

**The measure.** ``ITA = arctan((L* − 50) / b*) · 180/π`` (degrees), with ``L*`` and ``b*`` the
medians, over the *skin pixels*, of the CIELAB values (OpenCV's 8-bit conversion, ``L*`` rescaled
to 0–100) of the identity's undisturbed 64×64 DCGAN face (latent ``z``, no sighting noise, no
camera). The skin pixels are the pixels of two fixed 8×8 cheek boxes of the crop (rows 36–43,
columns 16–23 and 40–47: below the eyes, beside the nose, where the generator's faces put cheeks)
with ``b* ≥ 2``, ``a* ≥ 0`` and ``5 ≤ L* ≤ 98`` (drops hair, glasses, blue backdrop and clipped
pixels). With fewer than 16 such pixels, all 128 box pixels count. ``b*`` is floored at 1, so
ITA lies in (−90°, 90°).

**The groups** are the standard ITA bands (:data:`facelab.config.limits.ITA_GROUPS`): very light
> 55°, light 41–55°, intermediate 28–41°, tan 10–28°, brown −30–10°, dark < −30°. On the
generator's faces the bands are not evenly filled (its faces are dimly lit: about half fall
below −30°); ``facelab synth groups`` shows the distribution.

**Choosing faces of a group** (``[population] groups``). Each identity is given a wanted group
(exact counts from the shares, largest remainder, assigned to identities in a seeded random
order); its latent is the first of its candidate latents whose measured group is the wanted
one: candidate 0 is the latent the identity has without groups, candidate ``k`` is drawn from
``SeedSequence([seed, IDENTITY_STREAM, identity, k])`` (:func:`facelab.world.synth.identity_latents`).
This is rejection sampling from the generator's own latent distribution, measured on the
generator's CPU output, so it is the same on every machine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from facelab.config.limits import ITA_GROUPS, ITA_LOWER_BOUNDS
from facelab.errors import ConfigError
from facelab.world import synth

log = logging.getLogger(__name__)

#: Cheek boxes ``(row0, row1, col0, col1)`` (half-open) of the 64×64 generated face.
SKIN_BOXES: tuple[tuple[int, int, int, int], ...] = ((36, 44, 16, 24), (36, 44, 40, 48))
MIN_SKIN_PIXELS = 16
MIN_B = 1.0
#: Seed stream of the wanted-group draw: ``SeedSequence([seed, GROUP_STREAM])``.
GROUP_STREAM = 0x47520001
#: Candidate latents tried per identity before giving up (the rarest band holds ~5 %).
MAX_ATTEMPTS = 400
#: Candidate faces rendered per round of the rejection sampling.
BLOCK_FACES = 64
MAX_BLOCK = 8


def skin_mask_boxes() -> np.ndarray:
    """bool (64, 64): the cheek boxes the skin pixels are taken from."""
    m = np.zeros((synth.FACE_SIZE, synth.FACE_SIZE), bool)
    for r0, r1, c0, c1 in SKIN_BOXES:
        m[r0:r1, c0:c1] = True
    return m


def ita(faces: np.ndarray) -> np.ndarray:
    """ITA in degrees of 64×64 faces.

    Parameters
    ----------
    faces : uint8 (n, 64, 64, 3) BGR

    Returns
    -------
    float64 (n,), in (−90, 90)
    """
    faces = np.asarray(faces, np.uint8).reshape(-1, synth.FACE_SIZE, synth.FACE_SIZE, 3)
    n = len(faces)
    if n == 0:
        return np.zeros(0)
    lab = cv2.cvtColor(faces.reshape(-1, synth.FACE_SIZE, 3), cv2.COLOR_BGR2LAB)
    lab = lab.reshape(faces.shape).astype(np.float64)
    box = skin_mask_boxes()
    L = lab[:, box, 0] * (100.0 / 255.0)
    a = lab[:, box, 1] - 128.0
    b = lab[:, box, 2] - 128.0
    skin = (b >= 2) & (a >= 0) & (L >= 5) & (L <= 98)
    skin[skin.sum(axis=1) < MIN_SKIN_PIXELS] = True
    out = np.empty(n)
    for i in range(n):
        l_med = np.median(L[i][skin[i]])
        b_med = max(float(np.median(b[i][skin[i]])), MIN_B)
        out[i] = np.degrees(np.arctan((l_med - 50.0) / b_med))
    return out


def group_index(angles: np.ndarray) -> np.ndarray:
    """Index into :data:`~facelab.config.limits.ITA_GROUPS` of each ITA (int8, same shape)."""
    angles = np.asarray(angles, np.float64)
    idx = np.zeros(angles.shape, np.int8)
    for g, lo in enumerate(ITA_LOWER_BOUNDS[:-1]):
        idx[(idx == g) & (angles <= lo)] = g + 1
    return idx


def group_names(index: np.ndarray) -> list[str]:
    """Group names of group indexes."""
    return [ITA_GROUPS[int(i)] for i in np.asarray(index).ravel()]


def wanted_groups(seed: int, n: int, shares, stream_key: int = 0) -> np.ndarray:
    """Wanted group index of each of ``n`` identities: exact counts from ``shares``.

    Parameters
    ----------
    seed : world seed.
    n : identities.
    shares : ``(name, share)`` pairs (:attr:`facelab.config.sections.PopulationSpec.groups`).
    stream_key : separates independent draws (residents 0, out-of-city watchlist 1).

    Returns
    -------
    int8 (n,)
    """
    idx = np.array([ITA_GROUPS.index(name) for name, _ in shares], np.int8)
    p = np.array([share for _, share in shares], np.float64)
    raw = p * n
    counts = np.floor(raw).astype(np.int64)
    rest = n - int(counts.sum())
    order = np.lexsort((np.arange(len(p)), -(raw - counts)))  # largest remainder, then order
    counts[order[:rest]] += 1
    labels = np.repeat(idx, counts)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), GROUP_STREAM, stream_key]))
    return labels[rng.permutation(n)].astype(np.int8)


@dataclass(frozen=True)
class IdentityGroups:
    """Each identity's chosen latent candidate, measured ITA and group.

    Attributes
    ----------
    attempt : int32 (N,), the candidate latent (:func:`facelab.world.synth.identity_latents`).
    ita : float64 (N,), degrees, measured on the chosen face.
    group : int8 (N,), index into :data:`~facelab.config.limits.ITA_GROUPS`.
    """

    attempt: np.ndarray
    ita: np.ndarray
    group: np.ndarray

    def names_all(self) -> list[str]:
        """Group names of identities ``0 .. N-1``."""
        return group_names(self.group)

    def names(self, identities) -> list[str]:
        """Group names of identities."""
        return group_names(self.group[np.asarray(identities, np.int64)])


def choose(
    seed: int,
    wanted: np.ndarray,
    generator: synth.FaceGenerator,
    max_attempts: int = MAX_ATTEMPTS,
) -> IdentityGroups:
    """Rejection sampling: for identity ``i`` the first candidate latent of group ``wanted[i]``.

    Parameters
    ----------
    seed : world seed.
    wanted : int8 (N,), wanted group of identities ``0 .. N-1``.
    generator : a CPU :class:`~facelab.world.synth.FaceGenerator` (the measure is defined on
        its output).

    Raises
    ------
    ConfigError
        When some identity has no face of its group among ``max_attempts`` candidates.
    """
    n = len(wanted)
    attempt = np.full(n, -1, np.int32)
    angle = np.full(n, np.nan)
    pending = np.arange(n, dtype=np.int64)
    k0 = 0
    while len(pending) and k0 < max_attempts:
        # a block of candidates per pending identity, so the generator runs in full batches;
        # the first matching candidate of the block is the one taken, as one at a time would
        block = min(max(1, BLOCK_FACES // len(pending)), MAX_BLOCK, max_attempts - k0)
        ids = np.repeat(pending, block)
        tries = np.tile(np.arange(k0, k0 + block), len(pending))
        got = ita(generator.render(synth.identity_latents(seed, ids, tries))).reshape(-1, block)
        ok = group_index(got) == wanted[pending][:, None]
        hit = ok.any(axis=1)
        first = ok.argmax(axis=1)
        attempt[pending[hit]] = k0 + first[hit]
        angle[pending[hit]] = got[hit, first[hit]]
        pending = pending[~hit]
        k0 += block
    if len(pending):
        name = ITA_GROUPS[int(wanted[pending[0]])]
        raise ConfigError(
            f"population.groups: no face of group {name!r} among {max_attempts} candidates "
            f"for {len(pending)} identities; lower its share"
        )
    log.info("groups: %d identities, %.1f candidate faces each", n, (attempt + 1).mean())
    return IdentityGroups(attempt=attempt, ita=angle, group=wanted.astype(np.int8))


def assign(world, generator: synth.FaceGenerator | None = None) -> IdentityGroups | None:
    """Groups of every identity of ``world`` (residents, then out-of-city watchlist entries),
    or ``None`` when its scenario sets no ``[population] groups``."""
    shares = world.scenario.population.groups
    if shares is None:
        return None
    gen = generator if generator is not None else synth.FaceGenerator("cpu", "onnxruntime")
    n_out = sum(not e.in_city for e in world.watchlist)
    wanted = np.concatenate([
        wanted_groups(world.seed, world.n_people, shares, 0),
        wanted_groups(world.seed, n_out, shares, 1),
    ])  # fmt: skip
    return choose(world.seed, wanted, gen)


@dataclass(frozen=True)
class Distribution:
    """How the generator's own faces fall into the groups (``facelab synth groups``).

    Attributes
    ----------
    seed, identities, sightings, sigma : what was drawn: identities ``0 .. identities-1``
        (latent candidate 0, as without groups) and ``sightings`` latent variations of each.
    ita : float64 (identities,), ITA of each undisturbed face.
    counts : dict group -> identities whose face is of that group.
    percentiles : dict "p5" … "p95" -> ITA percentile over the identities.
    agreement : float, share of sightings whose face is of its identity's group (NaN when
        ``sightings == 0``).
    """

    seed: int
    identities: int
    sightings: int
    sigma: float
    ita: np.ndarray
    counts: dict[str, int]
    percentiles: dict[str, float]
    agreement: float

    def to_dict(self) -> dict:
        return {
            "seed": self.seed,
            "identities": self.identities,
            "sightings": self.sightings,
            "sigma": self.sigma,
            "counts": self.counts,
            "shares": {g: round(c / self.identities, 4) for g, c in self.counts.items()},
            "ita_percentiles": self.percentiles,
            "sighting_agreement": None if np.isnan(self.agreement) else round(self.agreement, 4),
        }


def distribution(
    identities: int,
    seed: int = 0,
    sightings: int = 0,
    sigma: float = synth.DEFAULT_LATENT_SIGMA,
    generator: synth.FaceGenerator | None = None,
) -> Distribution:
    """The ITA distribution of the generator's faces, and how stable a face's group is under
    sighting variation (latent noise ``sigma``, no camera degradation)."""
    gen = generator if generator is not None else synth.FaceGenerator("cpu", "onnxruntime")
    ids = np.arange(identities, dtype=np.int64)
    angle = ita(gen.identities(seed, ids))
    grp = group_index(angle)
    agreement = float("nan")
    if sightings:
        who = np.repeat(ids, sightings)
        sid = who * sightings + np.tile(np.arange(sightings), identities)
        seen = group_index(ita(gen.sightings(seed, who, sid, sigma)))
        agreement = float((seen == grp[who]).mean())
    qs = (5, 25, 50, 75, 95)
    return Distribution(
        seed=seed,
        identities=identities,
        sightings=sightings,
        sigma=float(sigma),
        ita=angle,
        counts={g: int((grp == i).sum()) for i, g in enumerate(ITA_GROUPS)},
        percentiles={f"p{q}": round(float(v), 2) for q, v in zip(qs, np.percentile(angle, qs))},
        agreement=agreement,
    )
