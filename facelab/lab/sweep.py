"""Threshold sweep over stored scores: one row of error rates and workload per percent threshold.

:func:`sweep` takes score arrays (1:1 genuine/impostor comparisons, 1:N candidate lists,
watchlist alerts), a percent mapping and percent thresholds. Each percent is turned into the
exactly equivalent cosine threshold with
:meth:`~facelab.search.percent.PercentMapping.to_cosine`, and every rate is computed on the
cosine scores with ``score >= threshold`` as a match. The result, a :class:`SweepTable`, renders
as deterministic CSV / JSON (floats rounded to 6 significant digits) or as an aligned text table.

:func:`sweep_run` applies :func:`sweep` to a run's stored scores
(:class:`~facelab.lab.scores.RunScores`), optionally restricted to one camera kind;
:func:`run_mapping` builds the percent mapping for a run. Both serve ``facelab sweep``,
``facelab demo`` and the HTML report.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facelab.errors import ConfigError
from facelab.lab.metrics import (
    SECONDS_PER_CANDIDATE,
    Rate,
    SearchScores,
    fmr_fnmr,
    fnir,
    fpir,
    operational_figures,
    pass_fnir,
    pass_fpir,
    rate_fields,
)
from facelab.lab.passes import PASS_LEVEL, SEARCH_LEVEL, PassTruth
from facelab.lab.scores import RunScores
from facelab.search.percent import (
    DEFAULT_MAPPING,
    PercentMapping,
    get_mapping,
    parse_thresholds,
)

log = logging.getLogger(__name__)

#: Percent thresholds swept by default (the "usually 50–80 %" band of the seed articles).
DEFAULT_THRESHOLDS = "50:80:5"

_RATE_NAMES = ("fmr", "fnmr", "fpir", "fnir", "pass_fpir", "pass_fnir")


@dataclass(frozen=True)
class SweepRow:
    """Figures at one threshold; a field is None when its input was not given.

    Attributes
    ----------
    percent : float
        Percent threshold under the table's mapping.
    cosine : float
        Equivalent cosine threshold (``percent(c) >= percent  <=>  c >= cosine``; may be ±inf).
    fmr, fnmr : Rate or None
        1:1 rates (need impostor / genuine scores).
    fpir, fnir : Rate or None
        Search-level 1:N rates (need :class:`~facelab.lab.metrics.SearchScores`); FNIR at the
        table's rank.
    pass_fpir, pass_fnir : Rate or None
        Pass-level (transaction-level) 1:N rates (need a :class:`~facelab.lab.passes.PassTruth`):
        an undetected pass is a non-alert / a miss.
    alerts, true_alerts, false_alerts : int or None
        Watchlist alerts raised at this threshold.
    false_alert_share : Rate or None
        False alerts / alerts.
    false_alerts_per_camera_day, candidates_per_search, review_hours : float or None
        Operational load.
    """

    percent: float
    cosine: float
    fmr: Rate | None = None
    fnmr: Rate | None = None
    fpir: Rate | None = None
    fnir: Rate | None = None
    pass_fpir: Rate | None = None
    pass_fnir: Rate | None = None
    alerts: int | None = None
    true_alerts: int | None = None
    false_alerts: int | None = None
    false_alert_share: Rate | None = None
    false_alerts_per_camera_day: float | None = None
    candidates_per_search: float | None = None
    review_hours: float | None = None


@dataclass(frozen=True)
class SweepTable:
    """The result of :func:`sweep`: one :class:`SweepRow` per percent threshold, ascending.

    Attributes
    ----------
    mapping : str
        Name of the percent mapping.
    mapping_description : str
        Its one-line definition.
    rank : int
        Rank used for FNIR.
    seconds_per_candidate : float
        Review time per alert used for ``review_hours``.
    rows : tuple of SweepRow
    """

    mapping: str
    mapping_description: str
    rank: int
    seconds_per_candidate: float
    rows: tuple[SweepRow, ...]

    def _has(self, name: str) -> bool:
        return any(getattr(r, name) is not None for r in self.rows)

    def definitions(self) -> dict[str, str]:
        """One-line definitions of the search-level and pass-level rates the table holds."""
        out = {}
        if self._has("fpir") or self._has("fnir"):
            out["FPIR, FNIR"] = SEARCH_LEVEL
        if self._has("pass_fpir") or self._has("pass_fnir"):
            out["pass FPIR, pass FNIR"] = PASS_LEVEL
        return out

    def to_rows(self) -> list[dict[str, Any]]:
        """Flat dicts, one per threshold, with a fixed column order.

        Columns: ``percent, cosine``; for each rate given (``fmr, fnmr, fpir, fnir, pass_fpir,
        pass_fnir``) its value
        and ``_count, _total, _lo, _hi``; with alerts ``alerts, true_alerts, false_alerts,
        false_alert_share, false_alert_share_lo, false_alert_share_hi,
        false_alerts_per_camera_day, candidates_per_search, review_hours``. Values are
        unrounded Python numbers (NaN where a total is 0).
        """
        rates = [n for n in _RATE_NAMES if self._has(n)]
        alerts = self._has("alerts")
        out = []
        for r in self.rows:
            d: dict[str, Any] = {"percent": r.percent, "cosine": r.cosine}
            for name in rates:
                d.update(rate_fields(getattr(r, name), name))
            if alerts:
                share = r.false_alert_share
                d.update(
                    alerts=r.alerts,
                    true_alerts=r.true_alerts,
                    false_alerts=r.false_alerts,
                    false_alert_share=share.value,
                    false_alert_share_lo=share.lo,
                    false_alert_share_hi=share.hi,
                    false_alerts_per_camera_day=r.false_alerts_per_camera_day,
                    candidates_per_search=r.candidates_per_search,
                    review_hours=r.review_hours,
                )
            out.append(d)
        return out

    def to_csv(self) -> str:
        """CSV text (header + one line per threshold, ``\\n`` line ends, floats to 6
        significant digits, NaN as ``nan``, infinities as ``inf`` / ``-inf``)."""
        rows = self.to_rows()
        buf = io.StringIO()
        columns = list(rows[0]) if rows else ["percent", "cosine"]
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_cell(row[c]) for c in columns])
        return buf.getvalue()

    def to_json(self) -> str:
        """JSON text, deterministic: fixed key order, floats to 6 significant digits, NaN as
        ``null``, infinities as the strings ``"inf"`` / ``"-inf"``."""
        doc = {
            "mapping": self.mapping,
            "mapping_description": self.mapping_description,
            "note": "a percent is a display scale, not a probability; score >= threshold matches",
            "rank": self.rank,
            "definitions": self.definitions(),
            "seconds_per_candidate": _json_value(self.seconds_per_candidate),
            "rows": [{k: _json_value(v) for k, v in row.items()} for row in self.to_rows()],
        }
        return json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n"

    def to_text(self) -> str:
        """Aligned plain-text table; rates shown with counts and 95 % intervals."""
        headers = ["percent", "cosine"]
        getters: list[Any] = [lambda r: f"{r.percent:g}", lambda r: f"{r.cosine:.6g}"]
        labels = {"fmr": "FMR", "fnmr": "FNMR", "fpir": "FPIR", "fnir": f"FNIR@{self.rank}",
                  "pass_fpir": "pass FPIR", "pass_fnir": f"pass FNIR@{self.rank}"}  # fmt: skip
        for name in _RATE_NAMES:
            if self._has(name):
                headers.append(labels[name])
                getters.append(lambda r, n=name: str(getattr(r, n)))
        if self._has("alerts"):
            headers += ["alerts", "false", "false share", "FA/cam-day", "cand/search", "review h"]
            getters += [
                lambda r: str(r.alerts),
                lambda r: str(r.false_alerts),
                lambda r: str(r.false_alert_share),
                lambda r: _num(r.false_alerts_per_camera_day),
                lambda r: _num(r.candidates_per_search),
                lambda r: _num(r.review_hours),
            ]
        cells = [headers] + [[g(r) for g in getters] for r in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        lines = [
            f"percent mapping: {self.mapping} ({self.mapping_description})",
            "a percent is a display scale, not a probability; score >= threshold is a match",
            "",
        ]
        for j, row in enumerate(cells):
            lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)).rstrip())
            if j == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines += [f"{k}: {v}" for k, v in self.definitions().items()]
        return "\n".join(lines) + "\n"


def _round6(x: float) -> float:
    return float(f"{x:.6g}")


def _json_value(v: Any) -> Any:
    if v is None or isinstance(v, bool | str):
        return v
    if isinstance(v, int | np.integer):
        return int(v)
    x = float(v)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return _round6(x)


def _csv_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, int | np.integer) and not isinstance(v, bool):
        return str(int(v))
    x = float(v)
    if math.isnan(x) or math.isinf(x):
        return str(x)
    return repr(_round6(x))


def _num(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:.4g}"


def cosines_for(mapping: PercentMapping, percents: Sequence[float] | np.ndarray) -> np.ndarray:
    """``(m,)`` float64 cosine thresholds equivalent to percent thresholds under ``mapping``."""
    return np.array([mapping.to_cosine(p) for p in np.asarray(percents, float)], np.float64)


def sweep(
    thresholds: np.ndarray | Sequence[float] | str,
    mapping: PercentMapping | str = DEFAULT_MAPPING,
    *,
    genuine: np.ndarray | None = None,
    impostor: np.ndarray | None = None,
    searches: SearchScores | None = None,
    rank: int = 1,
    alert_true: np.ndarray | None = None,
    alert_score: np.ndarray | None = None,
    n_searches: int | None = None,
    camera_days: int | None = None,
    seconds_per_candidate: float = SECONDS_PER_CANDIDATE,
    passes: PassTruth | None = None,
) -> SweepTable:
    """Sweep percent thresholds over stored cosine scores.

    Parameters
    ----------
    thresholds : array_like or str
        Percent thresholds, ``(m,)`` float, or a spec for
        :func:`~facelab.search.percent.parse_thresholds` (``"50:80:5"``). Rows come out ascending and
        without duplicates.
    mapping : PercentMapping or str
        The percent mapping, or its name; by name, ``"log-fmr"`` is calibrated on ``impostor``.
    genuine, impostor : np.ndarray, optional
        ``(g,)`` / ``(i,)`` float 1:1 comparison scores → FNMR / FMR columns.
    searches : SearchScores, optional
        1:N candidate lists → FPIR and FNIR (at ``rank``) columns.
    rank : int
        Rank for FNIR.
    alert_true, alert_score : np.ndarray, optional
        ``(a,)`` bool / float watchlist alerts (see
        :func:`~facelab.lab.metrics.operational_figures`) → alert columns. Give both or neither.
    n_searches : int, optional
        Searches behind the alerts; defaults to ``searches.n_searches`` when ``searches`` is
        given.
    camera_days : int, optional
        Camera-days behind the alerts; required with alerts.
    seconds_per_candidate : float
        Review time per alert.
    passes : PassTruth, optional
        The pass of each search and the passes to count → pass-level FPIR and FNIR columns
        (needs ``searches``).

    Returns
    -------
    SweepTable

    Raises
    ------
    ConfigError
        Bad threshold spec, unknown mapping, or incomplete alert or pass inputs.
    DataError
        NaN scores or mismatched array lengths.
    """
    started = time.perf_counter()
    if isinstance(thresholds, str):
        percents = parse_thresholds(thresholds)
    else:
        percents = np.unique(np.asarray(thresholds, dtype=np.float64).reshape(-1))
    if isinstance(mapping, str):
        mapping = get_mapping(mapping, impostor_scores=impostor)
    cosines = cosines_for(mapping, percents)
    m = percents.size
    columns: dict[str, list[Any]] = {}

    if genuine is not None or impostor is not None:
        pairs = fmr_fnmr(
            genuine if genuine is not None else np.empty(0),
            impostor if impostor is not None else np.empty(0),
            cosines,
        )
        if impostor is not None:
            columns["fmr"] = [p[0] for p in pairs]
        if genuine is not None:
            columns["fnmr"] = [p[1] for p in pairs]
    if searches is not None:
        columns["fpir"] = fpir(searches, cosines)
        columns["fnir"] = fnir(searches, cosines, rank=rank)
    if passes is not None:
        if searches is None:
            raise ConfigError("sweep with passes needs searches")
        columns["pass_fpir"] = pass_fpir(searches, passes.search_pass, passes.innocent, cosines)
        columns["pass_fnir"] = pass_fnir(
            searches, passes.search_pass, passes.wanted, cosines, rank=rank
        )
    if (alert_true is None) != (alert_score is None):
        raise ConfigError("sweep needs both alert_true and alert_score, or neither")
    if alert_score is not None:
        if n_searches is None:
            if searches is None:
                raise ConfigError("sweep with alerts needs n_searches (or searches)")
            n_searches = searches.n_searches
        if camera_days is None:
            raise ConfigError("sweep with alerts needs camera_days")
        ops = operational_figures(
            alert_true, alert_score, n_searches, camera_days, cosines, seconds_per_candidate
        )
        for name in (
            "alerts",
            "true_alerts",
            "false_alerts",
            "false_alert_share",
            "false_alerts_per_camera_day",
            "candidates_per_search",
            "review_hours",
        ):
            columns[name] = [getattr(o, name) for o in ops]

    rows = tuple(
        SweepRow(
            percent=float(percents[i]),
            cosine=float(cosines[i]),
            **{name: values[i] for name, values in columns.items()},
        )
        for i in range(m)
    )
    log.debug(
        "sweep: %d thresholds, mapping %s, %.3f s", m, mapping.name, time.perf_counter() - started
    )
    return SweepTable(
        mapping=mapping.name,
        mapping_description=mapping.description,
        rank=int(rank),
        seconds_per_candidate=float(seconds_per_candidate),
        rows=rows,
    )


def run_mapping(scores: RunScores, name: str | PercentMapping) -> PercentMapping:
    """The named percent mapping; ``"log-fmr"`` is calibrated on the run's impostor scores.

    Raises
    ------
    ConfigError
        Unknown name, or ``log-fmr`` on a run with no impostor score.
    """
    if isinstance(name, PercentMapping):
        return name
    return get_mapping(name, impostor_scores=scores.impostor if name == "log-fmr" else None)


def sweep_run(
    scores: RunScores,
    thresholds: str | Sequence[float] | np.ndarray = DEFAULT_THRESHOLDS,
    mapping: str | PercentMapping = DEFAULT_MAPPING,
    *,
    rank: int = 1,
    seconds_per_candidate: float = SECONDS_PER_CANDIDATE,
    camera_kind: str | None = None,
    camera_days: int | None = None,
    passes: PassTruth | None = None,
) -> SweepTable:
    """Sweep percent thresholds over a run's stored scores (never re-embedding).

    Every stored candidate is a potential alert (the pipeline raises one for each candidate at
    or above the camera's threshold), so the alert columns count candidates ≥ T. FMR and FNMR
    are included only when the 1:1 impostor scores are complete (``scores.complete``); on a run
    that kept fewer candidates than the watchlist holds they would be biased.

    Parameters
    ----------
    scores : RunScores
        From :func:`facelab.lab.scores.load_scores`.
    thresholds : str or array_like
        Percent thresholds or a spec such as ``"50:80:5"``.
    mapping : str or PercentMapping
        Percent mapping (see :func:`run_mapping`). The same mapping must be used for every
        group of a breakdown, so pass the object when sweeping a subset.
    rank : int
        Rank for FNIR.
    seconds_per_candidate : float
        Human review time per alert.
    camera_kind : str, optional
        Restrict to the searches made at cameras of this kind.
    camera_days : int, optional
        Camera-days behind those searches; required with ``camera_kind``.
    passes : PassTruth, optional
        From :func:`facelab.lab.passes.load_passes` → pass-level FPIR and FNIR columns.

    Returns
    -------
    SweepTable
    """
    m = run_mapping(scores, mapping)
    s = scores.searches
    if passes is not None and camera_kind is not None:
        passes = passes.of_kind(camera_kind, scores.camera_kind)
    if camera_kind is None:
        alert_true, alert_score = scores.cand_mate, scores.cand_score
        genuine, impostor = scores.genuine, scores.impostor
        days = scores.camera_days
    else:
        s = s.subset(np.asarray(scores.camera_kind == camera_kind, bool))
        finite = np.isfinite(s.scores)
        alert_true, alert_score = s.is_mate[finite], s.scores[finite]
        genuine, impostor = s.scores[s.is_mate], s.scores[finite & ~s.is_mate]
        days = int(camera_days or 0)
    one_to_one = scores.complete
    return sweep(
        thresholds,
        m,
        genuine=genuine if one_to_one else None,
        impostor=impostor if one_to_one else None,
        searches=s,
        rank=rank,
        alert_true=alert_true,
        alert_score=alert_score,
        n_searches=s.n_searches,
        camera_days=days,
        seconds_per_candidate=seconds_per_candidate,
        passes=passes,
    )


def disagreements(a: SweepTable, b: SweepTable) -> list[str]:
    """Where two sweeps at the same thresholds disagree beyond their 95 % intervals.

    For every rate both tables hold (FMR, FNMR, FPIR, FNIR and the pass-level ones) at every
    threshold, each table's value must lie inside the other's Wilson interval; NaN rates (no
    trials) are skipped. Used to compare runs of one scenario made on two backends.

    Returns
    -------
    list of str
        One line per disagreement, e.g. ``"fnir at 60.0 %: 0.31 outside [0.12, 0.29]"``;
        empty when the sweeps agree.
    """
    out = []
    rows_a, rows_b = a.to_rows(), b.to_rows()
    if [r["percent"] for r in rows_a] != [r["percent"] for r in rows_b]:
        raise ValueError("disagreements: the sweeps have different thresholds")
    for ra, rb in zip(rows_a, rows_b):
        for name in _RATE_NAMES:
            if name not in ra or name not in rb:
                continue
            for x, other in ((ra, rb), (rb, ra)):
                v, lo, hi = x[name], other[f"{name}_lo"], other[f"{name}_hi"]
                if np.isnan(v) or np.isnan(lo) or lo <= v <= hi:
                    continue
                out.append(f"{name} at {ra['percent']:.1f} %: {v:.4g} outside [{lo:.4g}, {hi:.4g}]")
    return out
