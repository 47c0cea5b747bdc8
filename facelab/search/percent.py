"""Named cosine → percent mappings, and percent thresholds back to cosine thresholds.

The "percent" an operator sees next to a candidate is a *display scale* for a cosine
similarity. **A percent is not a probability**: "87 %" does not mean an 87 % chance that the
candidate is the person searched for. How likely a match is to be right depends on the
gallery size, the population searched and the base rate of wanted people, none of which the
mapping knows. Different vendors use different scales, so the same pair of faces can be shown
as 40 % by one system and 95 % by another; facelab makes the scale a named, documented choice
so that runs can be compared under each.

Profiles (see :data:`MAPPINGS`):

``linear`` (default)
    ``percent = 100 × clip(cos, 0, 1)``.
``sigmoid``
    Vendor-style S-curve, ``percent = 100 / (1 + exp(-(cos - SIGMOID_CENTER) / SIGMOID_SCALE))``.
    It pushes typical impostor scores towards 0 % and typical genuine scores towards 100 %,
    which makes scores *look* more decisive than they are.
``log-fmr``
    Calibrated on the run's own impostor scores: ``percent = clip(100 × -log10(FMR(cos)) / L,
    0, 100)`` where ``FMR(cos)`` is the fraction of impostor scores ≥ cos (floored at
    ``1/(n+1)``) and ``L = log10(n+1)``. 50 % then means "about as rare among impostors as
    1 in sqrt(n+1)"; 100 % means "above every impostor seen".

Every mapping is monotone non-decreasing, and :meth:`PercentMapping.to_cosine` is its exact
inverse in the sense used for thresholds: for every finite float64 (or float32) cosine ``c``,
``to_percent(c) >= p`` if and only if ``c >= to_cosine(p)``.

The match rule
--------------
Score ≥ threshold is a match, everywhere (watchlist alerts, the pipeline's alert decision,
archive searches); ties count as a match. FAISS scores are ``float32``; a threshold (a float64
cosine from :meth:`PercentMapping.to_cosine`, or a number such as 0.70) is converted once by
:func:`threshold32` to the **smallest float32 >= it** (rounded up, not to nearest), and
:func:`at_or_above` compares ``score >= threshold32(t)`` in float32. For every float32 score
``s`` this is exactly ``s >= t`` on the real numbers, so a score is a match if and only if the
percent shown for it reaches the percent threshold. Example: 0.70 is not a float32; rounding to
nearest gives 0.699999988, below 0.70, which would let the score 0.699999988 (69.9999988 %
linear) match a 70 % threshold; :func:`threshold32` gives 0.700000048, the next float32 up, and
that score does not match. :func:`faiss_ip_radius` turns the same threshold into the radius of
a FAISS inner-product range search (which keeps ``score > radius``).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from facelab.errors import ConfigError, DataError

log = logging.getLogger(__name__)

#: Name of the mapping used when none is chosen.
DEFAULT_MAPPING = "linear"

#: Cosine at which the ``sigmoid`` profile shows 50 %. Chosen near the decision thresholds
#: commonly used with SFace-style 128-d embeddings (cosine ≈ 0.35).
SIGMOID_CENTER = 0.35

#: Width of the ``sigmoid`` profile's S-curve in cosine units: one ``SIGMOID_SCALE`` above the
#: centre shows ≈ 73 %, two show ≈ 88 %, three ≈ 95 %.
SIGMOID_SCALE = 0.08

_SIGN = 0x8000_0000_0000_0000
_MAGNITUDE = 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True)
class PercentMapping:
    """A named, monotone mapping from cosine similarity to a display percent.

    Parameters
    ----------
    name : str
        Registry name (``"linear"``, ``"sigmoid"``, ``"log-fmr"``).
    description : str
        One-line human description, for reports.
    forward : callable
        ``(n,) float64 → (n,) float64`` in [0, 100], monotone non-decreasing, defined for
        ±inf (``-inf`` is the padding of missing candidates and maps to 0). Use
        :meth:`to_percent` rather than calling it directly.
    """

    name: str
    description: str
    forward: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False)

    def to_percent(self, cos: np.ndarray | float) -> np.ndarray:
        """Map cosine similarities to percents.

        Parameters
        ----------
        cos : array_like, any shape, float32 or float64
            Cosine similarities; ``-inf`` (padding) is allowed and maps to 0.

        Returns
        -------
        np.ndarray
            float64, same shape as ``cos``, values in [0, 100].

        Raises
        ------
        DataError
            If ``cos`` contains NaN.
        """
        c = np.asarray(cos, dtype=np.float64)
        if np.isnan(c).any():
            raise DataError(f"cosine scores for mapping {self.name!r} contain NaN")
        return self.forward(c.reshape(-1)).reshape(c.shape)

    def to_cosine(self, percent: float) -> np.float64:
        """Return the cosine threshold equivalent to a percent threshold.

        The result ``t`` is the smallest float64 with ``to_percent(t) >= percent``, so that for
        every finite cosine ``c``: ``to_percent(c) >= percent  <=>  c >= t``. It is found by
        bisection over the ordered float64 values, which is exact for any mapping whose
        floating-point evaluation is monotone (all three profiles are; see the tests).

        Parameters
        ----------
        percent : float
            Percent threshold (any finite value; below the mapping's range every score
            matches, above it none does).

        Returns
        -------
        np.float64
            Cosine threshold; ``-inf`` when every score matches, ``+inf`` when no finite
            score can. It is a NumPy float64 (a ``float`` subclass) on purpose: under NumPy 2
            promotion rules, ``scores_f32 >= python_float`` compares in float32 and can
            disagree at the boundary, while ``scores_f32 >= np.float64(t)`` compares in float64.

        Raises
        ------
        ConfigError
            If ``percent`` is NaN.
        """
        p = float(percent)
        if math.isnan(p):
            raise ConfigError("percent threshold is NaN")

        def ok(key: int) -> bool:
            return bool(self.forward(np.array([_from_key(key)]))[0] >= p)

        lo, hi = _to_key(-math.inf), _to_key(math.inf)
        if ok(lo):
            return np.float64(-math.inf)
        if not ok(hi):
            return np.float64(math.inf)
        # Invariant: not ok(lo), ok(hi); find the smallest ok key.
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ok(mid):
                hi = mid
            else:
                lo = mid
        return np.float64(_from_key(hi))


def _to_key(x: float) -> int:
    """Map a float64 to an int so that the int order is the float order (±0 → 0)."""
    bits = int(np.float64(x).view(np.uint64))
    return -(bits & _MAGNITUDE) if bits & _SIGN else bits


def _from_key(key: int) -> float:
    """Inverse of :func:`_to_key` (0 → +0.0)."""
    bits = key if key >= 0 else (-key) | _SIGN
    return float(np.uint64(bits).view(np.float64))


def _linear(c: np.ndarray) -> np.ndarray:
    return 100.0 * np.clip(c, 0.0, 1.0)


def _sigmoid(c: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 100.0 / (1.0 + np.exp(-(c - SIGMOID_CENTER) / SIGMOID_SCALE))


def _log_fmr(impostor_scores: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    imp = np.sort(np.asarray(impostor_scores, dtype=np.float64).reshape(-1))
    n = imp.size
    big_l = math.log10(n + 1)
    counts = np.arange(n + 1, dtype=np.float64)  # number of impostors >= cos
    fmr = np.maximum(counts / n, 1.0 / (n + 1))
    table = np.clip(100.0 * -np.log10(fmr) / big_l, 0.0, 100.0)
    # Guarantee monotonicity in floating point: fewer impostors above → never a lower percent.
    table = np.minimum.accumulate(table)

    def forward(c: np.ndarray) -> np.ndarray:
        n_ge = n - np.searchsorted(imp, c, side="left")
        return table[n_ge]

    return forward


def _make_linear(impostor_scores: np.ndarray | None) -> PercentMapping:
    return PercentMapping("linear", "percent = 100 × clip(cos, 0, 1)", _linear)


def _make_sigmoid(impostor_scores: np.ndarray | None) -> PercentMapping:
    return PercentMapping(
        "sigmoid",
        f"vendor-style sigmoid, percent = 100 / (1 + exp(-(cos - {SIGMOID_CENTER}) / "
        f"{SIGMOID_SCALE}))",
        _sigmoid,
    )


def _make_log_fmr(impostor_scores: np.ndarray | None) -> PercentMapping:
    if impostor_scores is None:
        raise ConfigError("mapping 'log-fmr' needs the run's impostor scores (none given)")
    imp = np.asarray(impostor_scores, dtype=np.float64)
    if imp.size == 0:
        raise ConfigError("mapping 'log-fmr' needs at least one impostor score (got 0)")
    if np.isnan(imp).any():
        raise DataError("impostor_scores contain NaN")
    n = imp.size
    log.debug("log-fmr mapping calibrated on %d impostor scores", n)
    return PercentMapping(
        "log-fmr",
        f"percent = 100 × -log10(FMR(cos)) / log10(n+1), calibrated on n={n} impostor scores",
        _log_fmr(imp),
    )


#: Registry: mapping name → factory ``(impostor_scores or None) -> PercentMapping``.
MAPPINGS: dict[str, Callable[[np.ndarray | None], PercentMapping]] = {
    "linear": _make_linear,
    "sigmoid": _make_sigmoid,
    "log-fmr": _make_log_fmr,
}


def get_mapping(name: str, impostor_scores: np.ndarray | None = None) -> PercentMapping:
    """Build the named mapping.

    Parameters
    ----------
    name : str
        One of :data:`MAPPINGS` (``"linear"``, ``"sigmoid"``, ``"log-fmr"``).
    impostor_scores : np.ndarray, optional
        ``(n,)`` float impostor cosine scores; required by ``"log-fmr"``, ignored otherwise.

    Raises
    ------
    ConfigError
        Unknown name (the message lists the valid ones), or ``log-fmr`` without impostors.
    DataError
        NaN in ``impostor_scores``.
    """
    try:
        factory = MAPPINGS[name]
    except (KeyError, TypeError):
        valid = ", ".join(MAPPINGS)
        raise ConfigError(f"unknown percent mapping {name!r}; valid: {valid}") from None
    return factory(impostor_scores)


_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_MAX_THRESHOLDS = 10_000


def parse_thresholds(spec: str) -> np.ndarray:
    """Parse a percent-threshold spec.

    Accepted forms: ``"65"`` (one value), ``"50,60,70"`` (a list), ``"50:80:5"``
    (start:stop:step, stop included when reached).

    Returns
    -------
    np.ndarray
        ``(m,)`` float64, sorted ascending, without duplicates, each in [0, 100].

    Raises
    ------
    ConfigError
        One-line message if the spec is malformed, empty, out of [0, 100], has a non-positive
        step, stop below start, or more than 10 000 values.
    """
    text = str(spec).strip()
    if ":" in text:
        parts = [p.strip() for p in text.split(":")]
        if len(parts) != 3 or not all(re.fullmatch(_NUMBER, p) for p in parts):
            raise ConfigError(
                f"bad threshold range {spec!r}; expected start:stop:step, e.g. 50:80:5"
            )
        start, stop, step = (float(p) for p in parts)
        if step <= 0:
            raise ConfigError(f"bad threshold range {spec!r}: step must be > 0")
        if stop < start:
            raise ConfigError(f"bad threshold range {spec!r}: stop is below start")
        count = math.floor((stop - start) / step + 1e-9) + 1
        if count > _MAX_THRESHOLDS:
            raise ConfigError(f"bad threshold range {spec!r}: more than {_MAX_THRESHOLDS} values")
        values = np.round(start + step * np.arange(count), 9)
    else:
        parts = [p.strip() for p in text.split(",")]
        if not all(re.fullmatch(_NUMBER, p) for p in parts):
            raise ConfigError(f"bad thresholds {spec!r}; expected e.g. 65, 50,60,70 or 50:80:5")
        values = np.array([float(p) for p in parts], dtype=np.float64)
    if ((values < 0) | (values > 100)).any():
        raise ConfigError(f"bad thresholds {spec!r}: percents must lie in [0, 100]")
    return np.unique(values)


def shown(percent: float, sep: str = " ") -> str:
    """The one way a score's percent is printed: cut (never rounded up) to one decimal.

    ``56.29 → "56.2 %"``, ``59.99 → "59.9 %"``. Cutting keeps the match rule visible: a score
    is shown at or above a threshold of one decimal (``60 %``) exactly when it matches it, which
    rounding to nearest would break (59.96 would show as "60.0 %" and not match). A tolerance
    of 1e-9 keeps a stored ``56.3`` (binary ``56.2999…``) at "56.3 %". Proportions (rates) are
    printed by :func:`facelab.lab.report.text.pct`.
    """
    v = math.floor(float(percent) * 10 + 1e-9) / 10
    return f"{v:.1f}{sep}%"


def threshold32(threshold, name: str = "min_score"):
    """The float32 that float32 scores are compared with: the smallest float32 ``>= threshold``.

    For every float32 score ``s``: ``s >= threshold32(t)`` if and only if ``s >= t`` exactly
    (see the module docstring). A float32 threshold is returned unchanged; ``-inf`` stays
    ``-inf`` (every score matches), ``+inf`` stays ``+inf`` (none does), and a finite threshold
    beyond the float32 range becomes ``±inf`` or ``-FLT_MAX`` by the same rule.

    Parameters
    ----------
    threshold : float or array_like of float
        Cosine threshold(s), any real dtype.
    name : str
        What to call the threshold in error messages.

    Returns
    -------
    numpy.float32 or numpy.ndarray of float32
        A scalar for a scalar ``threshold``, else an array of its shape.

    Raises
    ------
    DataError
        ``threshold`` is not a number, or is NaN.
    """
    try:
        t = np.asarray(threshold, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be a number, got {threshold!r}") from None
    if np.isnan(t).any():
        raise DataError(f"{name} must be a number, got {threshold!r}")
    with np.errstate(over="ignore"):
        t32 = t.astype(np.float32)
    up = t32.astype(np.float64) < t  # rounded down (or overflowed to -inf): one float32 up
    t32 = np.where(up, np.nextafter(t32, np.float32(np.inf)), t32).astype(np.float32)
    return t32[()]


def at_or_above(scores, threshold) -> np.ndarray:
    """Which scores match: ``scores >= threshold32(threshold)``, compared in float32.

    Parameters
    ----------
    scores : array_like of float32
        FAISS scores (a float64 array of float32 values, e.g. read back from SQLite, gives the
        same answer).
    threshold : float or array_like of float
        One threshold, or one per score (broadcast against ``scores``).

    Returns
    -------
    numpy.ndarray of bool, the broadcast shape
    """
    return np.asarray(scores) >= threshold32(threshold)


def faiss_ip_radius(cos_threshold: float) -> np.float32:
    """Radius for FAISS inner-product ``range_search`` that implements ``score >= cos_threshold``.

    FAISS keeps inner-product results with ``score > radius`` (strict) and computes scores in
    float32. The returned radius is the float32 just below :func:`threshold32` of the threshold,
    so that for every float32 score ``s``: ``s > radius  <=>  s >= cos_threshold``.

    Parameters
    ----------
    cos_threshold : float
        Cosine threshold, e.g. from :meth:`PercentMapping.to_cosine` (may be ±inf), or its
        :func:`threshold32`.

    Returns
    -------
    np.float32

    Raises
    ------
    DataError
        ``cos_threshold`` is not a number, or is NaN.
    """
    t32 = threshold32(cos_threshold, "cosine threshold")
    return np.nextafter(t32, np.float32(-np.inf))
