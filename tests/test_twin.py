"""Embedding twin: fidelity to image mode on fresh seeds, determinism, persistence, CLI.

The image samples use the real models (generator, YuNet, SFace). The twin is fitted on one
seed's people and checked against image-mode faces of *other* people (another seed), drawn by
a sampler with yet another seed.

Bounds. Scores are pairs of faces, and pairs that share a person are not independent: two
image-mode samples of 150 people each differ by KS ≈ 0.07–0.08 on genuine scores, and fall
outside each other's Wilson intervals at most thresholds. So the rates are checked against the
image-mode interval that allows for that clustering (the hull of the Wilson interval and an
identity-bootstrap interval, :func:`facelab.twin.validation.compare`), with a twin sample large
enough for its own Monte Carlo error to be small beside that interval (:data:`TWIN_PEOPLE`),
and the KS statistics against 0.15 with samples of 60 people (≈ 360 genuine, ≈ 28,000 impostor
pairs here). Good and photo are checked with the twin of those two kinds; fair and poor with a
twin of every kind. Even the clustering-aware intervals are strict: two image samples of 150
people put 35–47 of their 48 rates inside each other's (benchmarks/experiments/twin_seeds.py),
so a failure here after a change to the fit is a reason to look, re-run `facelab calibrate
--check 150` and compare with its yardstick line.
"""

from __future__ import annotations

import dataclasses
import json
import re
import zipfile

import numpy as np
import pytest
from typer.testing import CliRunner

from facelab.errors import ConfigError, DataError, ModelError
from facelab.twin.components import skewed
from facelab.twin.fit import (
    MAX_IDENTITY_SKEW,
    MAX_NOISE_SKEW,
    MAX_SPREAD,
    MIN_SKEW_PEOPLE,
    fit_twin,
)
from facelab.twin.imagesample import sample_image, sample_image_embeddings
from facelab.twin.model import FORMAT_VERSION, PHOTO, Stat, TwinModel, load_default
from facelab.twin.pairs import MIN_GOAT_PEOPLE, disjoint_products, goat_sd, skewness
from facelab.twin.rng import normals, row_keys
from facelab.twin.sampler import TwinSampler
from facelab.twin.simulation import Simulation
from facelab.twin.validation import compare, image_rates, ks_statistic

FIT_SEED, CHECK_SEED, SAMPLER_SEED = 11, 12, 99
N_FIT = N_CHECK = 60
NOISY = ("fair", "poor")  # the camera qualities checked beside good
KS_BOUND = 0.15
#: The twin sample of the fidelity checks: people, and impostor pairs scored. The twin's rates
#: are Monte Carlo estimates, and the image-mode intervals hold only the image sample's error,
#: so the twin is drawn large enough for its own error to be small beside them (fair FMR at
#: 50 %: sd over sampler seeds 0.00014 with 400 people and 200,000 pairs, 0.00007 with these).
TWIN_PEOPLE = 2000
TWIN_IMPOSTOR = 1_000_000
#: Rows drawn in different batches agree to float32 rounding of the BLAS products.
ROW_ATOL = 1e-6


@pytest.fixture(scope="module")
def opened():
    from facelab.vision import detect, embed
    from facelab.world import synth

    return synth.FaceGenerator(), detect.FaceDetector(), embed.Embedder()


@pytest.fixture(scope="module")
def samples(opened):
    """Image-mode faces: camera sightings (good) and enrolment photos, two seeds."""
    return {
        "fit_good": sample_image(N_FIT, 4, FIT_SEED, "good", models=opened),
        "fit_photo": sample_image(N_FIT, 2, FIT_SEED, PHOTO, models=opened),
        "check_good": sample_image(N_CHECK, 4, CHECK_SEED, "good", models=opened),
        "check_photo": sample_image(N_CHECK, 1, CHECK_SEED, PHOTO, models=opened),
    }


@pytest.fixture(scope="module")
def model(samples):
    g, p = samples["fit_good"], samples["fit_photo"]
    return fit_twin(
        g.embeddings, g.labels, "good", FIT_SEED, others={PHOTO: (p.embeddings, p.labels)},
        detect_rates={"good": g.detect_rate, PHOTO: p.detect_rate},
        n_identities=N_FIT, n_per_identity=4,
    )  # fmt: skip


# ------------------------------------------------------------------------------ image sample


@pytest.mark.costly
def test_image_sample_is_deterministic_and_well_formed(samples, opened):
    s = samples["fit_good"]
    assert s.embeddings.dtype == np.float32 and s.embeddings.shape == (len(s.labels), 128)
    assert s.labels.dtype == np.int64
    np.testing.assert_allclose(np.linalg.norm(s.embeddings, axis=1), 1.0, atol=1e-5)
    assert s.rendered == N_FIT * 4 and s.dropped == s.rendered - len(s.labels)
    assert s.detect_rate > 0.9
    # people 0..2 of the same seed are the same faces whatever the sample size
    small = sample_image(3, 4, FIT_SEED, "good", models=opened)
    keep = s.labels < 3
    assert np.array_equal(small.labels, s.labels[keep])
    np.testing.assert_allclose(small.embeddings, s.embeddings[keep], atol=1e-4)
    emb, labels = sample_image_embeddings(3, 4, FIT_SEED, "good")
    assert np.array_equal(emb, small.embeddings) and np.array_equal(labels, small.labels)


@pytest.mark.costly
def test_unknown_kind_is_a_config_error(opened):
    with pytest.raises(ConfigError, match="unknown twin kind"):
        sample_image(2, 2, 0, "blurry", models=opened)


# ------------------------------------------------------------------------------ fidelity


@pytest.mark.costly
@pytest.mark.parametrize("with_photo", [False, True], ids=["good-vs-good", "photo-vs-good"])
def test_twin_matches_image_mode_on_fresh_people(model, samples, with_photo):
    g, p = samples["check_good"], samples["check_photo"]
    r = compare(
        model, g.embeddings, g.labels, SAMPLER_SEED, "good",
        photo_emb=p.embeddings if with_photo else None,
        photo_labels=p.labels if with_photo else None,
        twin_identities=TWIN_PEOPLE, max_impostor=TWIN_IMPOSTOR,
    )  # fmt: skip
    assert r.n_image_identities == N_CHECK and r.n_twin_identities == TWIN_PEOPLE
    assert r.ks_genuine < KS_BOUND, r
    assert r.ks_impostor < KS_BOUND, r
    assert r.percents == (50.0, 60.0, 70.0, 80.0)
    for i in range(4):
        lo, hi = r.image_fmr_ci[i]
        assert lo <= r.twin_fmr[i].value <= hi, (r.pairs, r.percents[i], "FMR", r)
        lo, hi = r.image_fnmr_ci[i]
        assert lo <= r.twin_fnmr[i].value <= hi, (r.pairs, r.percents[i], "FNMR", r)
    assert r.all_inside_clustered


@pytest.mark.costly
def test_yardstick_places_image_rates_in_the_report_intervals(model, samples):
    """A sample's own rates lie in its intervals; another sample's are scored the same way."""
    g, p = samples["check_good"], samples["check_photo"]
    r = compare(model, g.embeddings, g.labels, SAMPLER_SEED, "good",
                     photo_emb=p.embeddings, photo_labels=p.labels)  # fmt: skip
    fmr, fnmr = image_rates(g.embeddings, g.labels, SAMPLER_SEED,
                                 photo_emb=p.embeddings, photo_labels=p.labels)  # fmt: skip
    assert [x.value for x in fmr] == [x.value for x in r.image_fmr]
    assert [x.value for x in fnmr] == [x.value for x in r.image_fnmr]
    assert r.inside(fmr, fnmr) == ((True,) * 4, (True,) * 4)
    shifted = [dataclasses.replace(x, value=min(1.0, x.value + 0.2)) for x in fnmr]
    assert r.inside(fmr, shifted)[1] != (True,) * 4
    other = samples["fit_good"]  # other people: scored like the check sample, mostly inside
    ofmr, ofnmr = image_rates(other.embeddings, other.labels, SAMPLER_SEED)
    assert all(0.0 <= x.value <= 1.0 for x in (*ofmr, *ofnmr))
    assert ofnmr[0].value <= ofnmr[-1].value


@pytest.fixture(scope="module")
def camera_kinds(opened, samples):
    """Fair and poor sightings of the same people (both seeds), and a twin of every kind."""
    seeds = (("fit", FIT_SEED), ("check", CHECK_SEED))
    extra = {f"{step}_{q}": sample_image(N_FIT, 4, seed, q, models=opened)
             for step, seed in seeds for q in NOISY}  # fmt: skip
    g = samples["fit_good"]
    others = {q: (extra[f"fit_{q}"].embeddings, extra[f"fit_{q}"].labels) for q in NOISY}
    others[PHOTO] = (samples["fit_photo"].embeddings, samples["fit_photo"].labels)
    return extra, fit_twin(g.embeddings, g.labels, "good", FIT_SEED, others=others)


@pytest.mark.costly
@pytest.mark.parametrize("quality", NOISY)
@pytest.mark.parametrize("with_photo", [False, True], ids=["within", "photo-vs"])
def test_noisier_cameras_match_image_mode_on_fresh_people(
    camera_kinds, samples, quality, with_photo
):
    """Every FMR / FNMR at 50–80 % inside the fresh sample's intervals for fair and poor too
    (60 people; poor keeps ~a third of its faces, so its KS statistics are not bounded here)."""
    extra, model = camera_kinds
    s, p = extra[f"check_{quality}"], samples["check_photo"]
    r = compare(model, s.embeddings, s.labels, SAMPLER_SEED, quality,
                photo_emb=p.embeddings if with_photo else None,
                photo_labels=p.labels if with_photo else None,
                twin_identities=TWIN_PEOPLE, max_impostor=TWIN_IMPOSTOR)  # fmt: skip
    assert model.kinds == (PHOTO, "good", "fair", "poor")
    assert r.all_inside_clustered, r
    if quality == "fair":
        assert r.ks_genuine < KS_BOUND and r.ks_impostor < KS_BOUND, r


@pytest.mark.costly
def test_fit_reaches_its_targets(model):
    fitted = np.abs(model.twin_stats - model.image_stats)
    assert np.nanmax(fitted[0, 0, [0, 2]]) < 0.01  # photo vs photo: genuine and impostor mean
    assert np.nanmax(fitted[1, 1, [0, 2]]) < 0.02  # good vs good (L[good, good] may sit at 0)
    assert fitted[1, 0, 0] < 0.01  # good vs photo, genuine mean


@pytest.mark.costly
def test_fit_reaches_its_shape_targets(model):
    """Impostor skewness (identity skew β) and goat spread (identity strength ν) are fitted."""
    fitted = np.abs(model.twin_stats - model.image_stats)
    skew, goat = Stat.IMPOSTOR_SKEWNESS, Stat.GOAT_SD
    assert fitted[0, 0, skew] < 0.01  # photo vs photo (β_0)
    assert fitted[1, 1, goat] < 0.01  # good vs good (ν_good)
    assert 0 < model.identity_skew[0] < MAX_IDENTITY_SKEW
    assert 0 < model.identity_spread[1] < MAX_SPREAD


@pytest.mark.costly
def test_fit_reaches_the_camera_kinds_impostor_skewness(camera_kinds, samples):
    """The noise skew η carries a camera kind's impostor skewness (its own identity factor is
    too small a part of its faces), so the twin's within-kind skewness is the image sample's, or
    η sits at its bound (skews are fitted from ≥ MIN_SKEW_PEOPLE people: poor keeps too few
    here)."""
    extra, model = camera_kinds
    labels = {"good": samples["fit_good"].labels, **{q: extra[f"fit_{q}"].labels for q in NOISY}}
    skew = Stat.IMPOSTOR_SKEWNESS
    fitted = [q for q, lab in labels.items() if len(np.unique(lab)) >= MIN_SKEW_PEOPLE]
    assert "good" in fitted
    for q in fitted:
        k = model.index(q)
        miss = abs(model.twin_stats[k, k, skew] - model.image_stats[k, k, skew])
        at_bound = model.noise_skew[k] == pytest.approx(MAX_NOISE_SKEW, abs=1e-3)
        assert miss < 0.01 or at_bound, q
    assert model.noise_skew[0] == 0  # the hub's skew is its shared factor's
    assert (model.noise_skew[1:] > 0).any()
    assert (model.noise_skew <= MAX_NOISE_SKEW).all()


@pytest.mark.costly
def test_sampler_applies_noise_skew(camera_kinds):
    """η makes impostor scores of a camera kind right-skewed, and leaves genuine pairs' mean."""
    _, model = camera_kinds
    n = 300
    ids = np.repeat(np.arange(n, dtype=np.int64), 2)
    passes = np.tile(np.arange(2, dtype=np.int64), n)

    def scores(m):
        e = TwinSampler(m, 5).sightings(ids, passes, "poor")
        a, b = e[0::2], e[1::2]
        s = a @ b.T
        return skewness(s[~np.eye(n, dtype=bool)]), float(np.diagonal(s).mean())

    eta = np.array(model.noise_skew)
    (flat, gen_flat), (strong, gen_strong) = (
        scores(_with(model, noise_skew=eta * 0)),
        scores(_with(model, noise_skew=eta * 0 + 0.6)),
    )
    assert flat < strong - 0.03
    assert abs(gen_flat - gen_strong) < 0.02


def _with(model, **changes):
    return dataclasses.replace(model, **changes)


@pytest.mark.costly
def test_sampler_applies_identity_skew_and_spread(model):
    """β makes impostor scores right-skewed; ν spreads people's expected genuine score."""
    n = 400
    ids = np.arange(n, dtype=np.int64)

    def impostor_skew(m):
        p = TwinSampler(m, 7).photos(np.r_[ids, ids], np.r_[ids * 0, ids * 0 + 1])
        s = (p[:n] @ p[n:].T)[~np.eye(n, dtype=bool)]
        return skewness(s)

    flat = _with(model, identity_skew=np.zeros(len(model.kinds)))
    strong = _with(model, identity_skew=np.full(len(model.kinds), 0.8))
    assert impostor_skew(flat) < impostor_skew(model) < impostor_skew(strong)

    labels, passes = np.repeat(ids, 4), np.tile(np.arange(4, dtype=np.int64), n)

    def goat(m):
        e = TwinSampler(m, 7).sightings(labels, passes, "good")
        return goat_sd(e, labels)

    spread = np.array(model.identity_spread)
    none = _with(model, identity_spread=spread * 0)
    more = _with(model, identity_spread=spread + 0.3)
    assert goat(none) < goat(more) - 0.02


def test_goat_estimate_agrees_with_the_fit_simulation_and_a_brute_force_count():
    rng = np.random.default_rng(3)
    n = 40
    centre = rng.normal(size=(n, 1, 128)) * rng.uniform(0.2, 1.5, size=(n, 1, 1))
    faces = centre + rng.normal(size=(n, 4, 128))
    faces /= np.linalg.norm(faces, axis=2, keepdims=True)
    emb, labels = faces.reshape(-1, 128).astype(np.float32), np.repeat(np.arange(n), 4)
    c = np.einsum("nkd,nld->nkl", faces, faces)
    assert goat_sd(emb, labels) == pytest.approx(Simulation.goat(c, True), rel=1e-5)
    other = faces[:, :2] + 0.1 * rng.normal(size=(n, 2, 128))
    c2 = np.einsum("nkd,nld->nkl", faces, other)
    got = goat_sd(emb, labels, other.reshape(-1, 128), np.repeat(np.arange(n), 2))
    assert got == pytest.approx(Simulation.goat(c2, False), rel=1e-5)
    assert got > 0.1  # the people differ a lot in how alike their faces are
    # the disjoint-pair sums, against counting every pair of pairs
    m = c2[0]
    brute = [m[i, p] * m[j, q] for i in range(4) for j in range(4) for p in range(2)
             for q in range(2) if i != j and p != q]  # fmt: skip
    total, count = disjoint_products(m, False)
    assert count == len(brute) and total == pytest.approx(sum(brute))
    w = c[0]
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    brute = [w[a] * w[b] for a in pairs for b in pairs if not set(a) & set(b)]
    total, count = disjoint_products(w, True)
    assert count == len(brute) and total == pytest.approx(sum(brute))
    few = np.repeat(np.arange(n), 4)[: 4 * (MIN_GOAT_PEOPLE - 1)]
    assert np.isnan(goat_sd(emb[: len(few)], few))


def test_skewed_identity_variables_are_standardised():
    g = np.random.default_rng(2).standard_normal(400_000).astype(np.float32)
    assert skewed(g.copy(), 0.0) == pytest.approx(g)
    beta = 0.5
    h = skewed(g.copy(), beta).astype(np.float64)
    e = np.exp(beta**2)
    assert abs(h.mean()) < 0.01 and h.std() == pytest.approx(1.0, abs=0.01)
    assert skewness(h) == pytest.approx((e + 2) * np.sqrt(e - 1), rel=0.05)


@pytest.mark.costly
def test_model_records_its_source(model, samples):
    from facelab import __version__
    from facelab.vision import models

    assert model.kinds == (PHOTO, "good") and model.reference == PHOTO
    assert model.seed == FIT_SEED and model.n_identities == N_FIT and model.n_per_identity == 4
    assert model.embedder_sha256 == models.model_sha256("embedder")
    assert model.facelab_version == __version__
    assert model.detect_rate[1] == pytest.approx(samples["fit_good"].detect_rate)


# ------------------------------------------------------------------------------ determinism


@pytest.mark.costly
def test_sampler_is_deterministic(model):
    ids = np.arange(50, dtype=np.int64)
    a = TwinSampler(model, 5).sightings(ids, ids + 1000, "good")
    b = TwinSampler(model, 5, workers=1).sightings(ids, ids + 1000, "good")
    c = TwinSampler(model, 6).sightings(ids, ids + 1000, "good")
    assert a.dtype == np.float32 and a.shape == (50, 128)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.costly
def test_template_of_a_person_does_not_depend_on_the_batch(model):
    s = TwinSampler(model, 5, block=7)
    batch = s.templates(np.arange(100, 140))
    for k in (100, 113, 139):
        np.testing.assert_allclose(s.templates([k])[0], batch[k - 100], rtol=0, atol=ROW_ATOL)
    assert np.array_equal(s.templates(np.arange(100, 140)), batch)  # same call, same bytes
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)


@pytest.mark.costly
def test_sighting_of_a_pass_does_not_depend_on_the_batch(model):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 30, 200).astype(np.int64)
    pids = np.arange(200, dtype=np.int64) + 10_000
    s = TwinSampler(model, 5, block=16)
    full = s.sightings(ids, pids, "good")
    order = rng.permutation(200)
    shuffled = TwinSampler(model, 5, block=64).sightings(ids[order], pids[order], "good")
    np.testing.assert_allclose(shuffled, full[order], rtol=0, atol=ROW_ATOL)
    alone = s.sightings(ids[17:18], pids[17:18], "good")[0]
    np.testing.assert_allclose(alone, full[17], rtol=0, atol=ROW_ATOL)
    per_row = s.sightings(ids, pids, np.array(["good"] * 200))
    assert np.array_equal(per_row, full)
    photos = s.photos(ids, pids)
    np.testing.assert_allclose(s.photos(ids[5:6], pids[5:6])[0], photos[5], rtol=0, atol=ROW_ATOL)
    assert not np.allclose(photos, full)


@pytest.mark.costly
def test_sampler_rejects_unknown_or_misused_kinds(model):
    s = TwinSampler(model, 0)
    with pytest.raises(ConfigError, match="not calibrated for 'poor'"):
        s.sightings([1], [1], "poor")
    with pytest.raises(ConfigError, match="use photos"):
        s.sightings([1], [1], PHOTO)
    with pytest.raises(DataError):
        s.sightings([1, 2], [1], "good")


def test_counter_based_normals_are_standard():
    z = normals(row_keys(3, 1, np.arange(20_000)), 130)
    assert abs(float(z.mean())) < 0.005 and abs(float(z.std()) - 1.0) < 0.005
    assert abs(float((z**4).mean()) - 3.0) < 0.05
    c = np.corrcoef(z[:, :8].T)
    assert np.abs(c - np.eye(8)).max() < 0.03


# ------------------------------------------------------------------------------ statistics


def test_ks_statistic_matches_a_brute_force_reference():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=300), rng.normal(0.3, 1.2, size=170)
    grid = np.concatenate([a, b])
    brute = max(abs((a <= x).mean() - (b <= x).mean()) for x in grid)
    assert ks_statistic(a, b) == pytest.approx(brute)
    assert ks_statistic(a, a) == 0.0
    with pytest.raises(DataError):
        ks_statistic(a, [])


def test_fit_rejects_bad_input():
    e = np.random.default_rng(0).normal(size=(8, 128)).astype(np.float32)
    with pytest.raises(DataError):
        fit_twin(e[:, :64], np.arange(8), embedder_sha256="x")
    with pytest.raises(DataError):
        fit_twin(e, np.zeros(8, np.int64), embedder_sha256="x")
    with pytest.raises(DataError):
        fit_twin(e, np.arange(8), embedder_sha256="x")  # nobody seen twice
    with pytest.raises(ConfigError):
        fit_twin(e, np.arange(8) // 2, PHOTO, embedder_sha256="x")


# ------------------------------------------------------------------------------ persistence


@pytest.mark.costly
def test_save_load_round_trip(model, tmp_path):
    path = model.save(tmp_path / "twin.npz")
    back = TwinModel.load(path)
    assert back.metadata() == model.metadata()
    for name in TwinModel._ARRAYS:
        assert np.array_equal(getattr(back, name), getattr(model, name), equal_nan=True), name
    ids = np.arange(20, dtype=np.int64)
    assert np.array_equal(
        TwinSampler(back, 3).sightings(ids, ids, "good"),
        TwinSampler(model, 3).sightings(ids, ids, "good"),
    )
    assert [p.name for p in tmp_path.iterdir()] == ["twin.npz"]  # no temporary left behind


@pytest.mark.costly
def test_missing_or_corrupt_file_is_a_model_error_naming_it(model, tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(ModelError, match="nope.npz"):
        TwinModel.load(missing)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(ModelError, match="garbage.npz"):
        TwinModel.load(garbage)
    good = model.save(tmp_path / "good.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:-500])
    with pytest.raises(ModelError, match="truncated.npz"):
        TwinModel.load(truncated)
    # a well-formed archive whose arrays were altered after saving
    altered = tmp_path / "altered.npz"
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["noise_scale"] = arrays["noise_scale"] * 2
    np.savez(altered, **arrays)
    with pytest.raises(ModelError, match="altered.npz.*hash"):
        TwinModel.load(altered)
    # a file of the previous format (before the noise skew)
    older = tmp_path / "older.npz"
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files if k != "noise_skew"}
    meta = json.loads(str(arrays["meta"][()]))
    meta["format_version"] = FORMAT_VERSION - 1
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(older, **arrays)
    with pytest.raises(
        ModelError, match=r"older.npz: twin format version 2 is not 3 .*facelab calibrate"
    ):
        TwinModel.load(older)
    # not a twin at all
    other = tmp_path / "other.npz"
    np.savez(other, meta=np.array(json.dumps({"format": "something-else"})))
    with pytest.raises(ModelError, match="other.npz"):
        TwinModel.load(other)
    assert zipfile.is_zipfile(good)


def test_load_default_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.setenv("FACELAB_MODEL_DIR", str(tmp_path))
    with pytest.raises(ModelError, match="no calibrated twin at .*facelab calibrate"):
        load_default()


# ------------------------------------------------------------------------------ CLI


@pytest.mark.costly
def test_calibrate_cli_writes_a_twin_and_prints_the_comparison(tmp_path):
    from facelab.cli import app

    out = tmp_path / "twin.npz"
    args = ["calibrate", "--identities", "12", "--sightings", "3", "--qualities", "good",
            "--seed", "4", "--out", str(out), "--check", "8"]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    model = TwinModel.load(out)
    assert model.kinds == (PHOTO, "good") and model.seed == 4 and model.n_identities == 12
    for text in ("KS", "FMR", "FNMR", "photo vs good", "good vs good", "seed 4", str(out),
                 "fresh people, seed 5", "yardstick: the twin puts"):  # fmt: skip
        assert text in result.output, text
    assert re.search(
        r"fitted image sample \(other people, same cameras\) puts \d+ of 16", result.output
    )


def test_calibrate_cli_rejects_unknown_quality(tmp_path):
    from facelab.cli import app

    result = CliRunner().invoke(app, ["calibrate", "--qualities", "grainy", "--out",
                                      str(tmp_path / "t.npz")])  # fmt: skip
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    assert not (tmp_path / "t.npz").exists()
