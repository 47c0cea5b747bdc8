"""Tests for facelab.search.percent: mappings, exact threshold inversion, threshold specs."""

import math

import numpy as np
import pytest

from facelab.errors import ConfigError, DataError
from facelab.search.percent import (
    DEFAULT_MAPPING,
    MAPPINGS,
    SIGMOID_CENTER,
    faiss_ip_radius,
    get_mapping,
    parse_thresholds,
)

RNG_SEED = 20240601


def _impostors() -> np.ndarray:
    rng = np.random.default_rng(RNG_SEED)
    imp = rng.normal(0.05, 0.1, 2000).astype(np.float32)
    # repeated values, as float32 scores from a real index produce
    return np.concatenate([imp, imp[:200], np.float32([0.3, 0.3, 0.3])])


def _all_mappings():
    return [get_mapping(name, impostor_scores=_impostors()) for name in MAPPINGS]


def _neighbours(t: float, n: int = 3) -> list[float]:
    """t and the n float64 neighbours on each side (finite only)."""
    out = [t]
    lo = hi = t
    for _ in range(n):
        lo, hi = np.nextafter(lo, -np.inf), np.nextafter(hi, np.inf)
        out += [float(lo), float(hi)]
    return [x for x in out if math.isfinite(x)]


def test_default_is_linear():
    assert DEFAULT_MAPPING == "linear"
    m = get_mapping(DEFAULT_MAPPING)
    np.testing.assert_array_equal(
        m.to_percent(np.array([-0.5, 0.0, 0.25, 0.873, 1.0, -np.inf])),
        [0.0, 0.0, 25.0, 87.3, 100.0, 0.0],
    )


def test_to_percent_dtype_shape_and_range():
    scores = np.random.default_rng(1).uniform(-1, 1, (7, 5)).astype(np.float32)
    for m in _all_mappings():
        p = m.to_percent(scores)
        assert p.dtype == np.float64 and p.shape == (7, 5)
        assert ((p >= 0) & (p <= 100)).all()


def test_sigmoid_centre_is_fifty():
    m = get_mapping("sigmoid")
    assert m.to_percent(np.array([SIGMOID_CENTER]))[0] == pytest.approx(50.0)
    assert m.to_cosine(50.0) == pytest.approx(SIGMOID_CENTER)


@pytest.mark.parametrize("name", list(MAPPINGS))
def test_ge_equivalence_at_and_around_boundaries(name):
    m = get_mapping(name, impostor_scores=_impostors())
    rng = np.random.default_rng(7)
    percents = [0.0, 1e-9, 0.5, 12.5, 33.3, 50.0, 50.000001, 73.0, 87.3, 99.99, 100.0]
    percents += list(rng.uniform(0, 100, 40))
    # percents that are exact images of some cosine: ties must match
    percents += list(m.to_percent(rng.uniform(-0.3, 1.0, 40)))
    for p in percents:
        t = m.to_cosine(p)
        assert isinstance(t, np.float64)  # keeps float32 comparisons in float64
        probe = _neighbours(t) if math.isfinite(t) else []
        probe += list(rng.uniform(-1, 1, 50)) + [-1.0, 0.0, 1.0]
        c = np.array(probe, dtype=np.float64)
        np.testing.assert_array_equal(m.to_percent(c) >= p, c >= t, err_msg=f"{name} p={p}")
        # float32 scores compared in float64 obey the same rule
        c32 = c.astype(np.float32)
        np.testing.assert_array_equal(m.to_percent(c32) >= p, c32 >= t)


@pytest.mark.parametrize("name", list(MAPPINGS))
def test_round_trip(name):
    m = get_mapping(name, impostor_scores=_impostors())
    for c in np.linspace(-0.2, 0.99, 60):
        p = float(m.to_percent(np.array([c]))[0])
        t = m.to_cosine(p)
        assert t <= c  # c itself reaches p
        assert m.to_percent(np.array([t]))[0] >= p
        assert m.to_percent(np.array([np.nextafter(t, -np.inf)]))[0] < p or t == -np.inf


def test_round_trip_linear_and_sigmoid_are_continuous():
    for name in ("linear", "sigmoid"):
        m = get_mapping(name)
        for c in np.linspace(0.01, 0.6, 30):
            p = float(m.to_percent(np.array([c]))[0])
            assert m.to_cosine(p) == pytest.approx(c, abs=1e-12)


def test_out_of_range_percents():
    lin = get_mapping("linear")
    assert lin.to_cosine(0.0) == -math.inf  # every score matches at 0 %
    assert lin.to_cosine(-5.0) == -math.inf
    assert lin.to_cosine(100.0) == 1.0
    assert lin.to_cosine(100.5) == math.inf
    with pytest.raises(ConfigError):
        lin.to_cosine(float("nan"))


def test_log_fmr_monotone_and_calibrated():
    imp = _impostors()
    m = get_mapping("log-fmr", impostor_scores=imp)
    c = np.sort(np.concatenate([np.linspace(-1, 1, 5001), imp.astype(np.float64)]))
    p = m.to_percent(c)
    assert (np.diff(p) >= 0).all()
    assert m.to_percent(np.array([-np.inf, imp.min()])).tolist() == [0.0, 0.0]
    assert m.to_percent(np.array([np.nextafter(float(imp.max()), 2.0)]))[0] == 100.0
    # 1 impostor in 1000 at or above -> 100 * 3 / log10(n+1)
    n = imp.size
    t = float(np.sort(imp)[-(n // 1000)])
    fmr = np.mean(imp >= t)
    expected = 100 * -np.log10(fmr) / np.log10(n + 1)
    assert m.to_percent(np.array([t]))[0] == pytest.approx(expected)


def test_log_fmr_needs_impostors():
    with pytest.raises(ConfigError, match="impostor"):
        get_mapping("log-fmr")
    with pytest.raises(ConfigError):
        get_mapping("log-fmr", impostor_scores=np.array([]))
    with pytest.raises(DataError):
        get_mapping("log-fmr", impostor_scores=np.array([0.1, np.nan]))


def test_unknown_mapping_lists_valid_names():
    with pytest.raises(ConfigError) as exc:
        get_mapping("vendor-x")
    for name in MAPPINGS:
        assert name in str(exc.value)


def test_nan_cosine_raises():
    with pytest.raises(DataError):
        get_mapping("linear").to_percent(np.array([0.1, np.nan]))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("50:80:5", [50, 55, 60, 65, 70, 75, 80]),
        ("50:81:5", [50, 55, 60, 65, 70, 75, 80]),
        ("0.1:0.3:0.1", [0.1, 0.2, 0.3]),
        ("50,60,70", [50, 60, 70]),
        (" 70 , 50,60 ", [50, 60, 70]),
        ("65", [65]),
        ("65:65:1", [65]),
        ("0,100", [0, 100]),
    ],
)
def test_parse_thresholds(spec, expected):
    out = parse_thresholds(spec)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "abc",
        "50:80",
        "50:80:0",
        "50:80:-5",
        "80:50:5",
        "50,,60",
        "101",
        "-1",
        "nan",
        "1:2:3:4",
        "0:100:0.000001",
        "50;60",
    ],
)
def test_parse_thresholds_errors(spec):
    with pytest.raises(ConfigError) as exc:
        parse_thresholds(spec)
    assert "\n" not in str(exc.value)


def test_faiss_ip_radius_strict_equivalence():
    rng = np.random.default_rng(3)
    scores = rng.uniform(-1, 1, 2000).astype(np.float32)
    for t in list(rng.uniform(-1, 1, 30)) + [float(s) for s in scores[:30]] + [0.0, 0.5]:
        r = faiss_ip_radius(t)
        assert r.dtype == np.float32
        np.testing.assert_array_equal(scores > r, scores >= t)
    assert faiss_ip_radius(-math.inf) == -np.inf
