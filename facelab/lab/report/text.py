"""Short text forms of numbers, shared by the HTML report, its figures and ``facelab sweep``.

:func:`pct` is the one formatter of a proportion as a percent; :func:`duration` and :func:`num`
write review times and plain counts per day or per camera-day.
"""

from __future__ import annotations

import math


def pct(x: float | None, sep: str = " ") -> str:
    """A proportion as a short percent string: ``0.0935 → "9.35 %"``, NaN → ``"n/a"``;
    ``sep`` goes between the number and the sign (the terminal tables use none)."""
    if x is None or math.isnan(x):
        return "n/a"
    v = 100.0 * x
    if v == 0:
        return f"0{sep}%"
    if v < 0.001:
        return f"{v:.1e}{sep}%"
    return f"{v:.3g}{sep}%"


def duration(hours: float | None) -> str:
    """Review time in minutes below an hour, else in hours: ``0.25 → "15 min"``."""
    if hours is None or math.isnan(hours):
        return "n/a"
    if hours == 0:
        return "0 min"
    if hours < 1:
        return f"{hours * 60:.3g} min"
    return f"{hours:.3g} h"


def num(x: float | None) -> str:
    """A number to 3 significant digits; None or NaN → ``"n/a"``."""
    if x is None or math.isnan(x):
        return "n/a"
    return f"{x:.3g}"
