"""Range-checked option values, shared by every command module.

Each factory returns a ``parser`` for ``typer.Option(..., parser=...)`` /
``typer.Argument(..., parser=...)``. A parser takes the text the user typed and returns the
value, or raises :class:`~facelab.errors.ConfigError` (a parameter error, exit code 2) with one
line naming the option: text that is not a number, NaN, infinities, values outside the
option's range, and integers past 64 bits are all refused the same way, e.g.::

    error: --top must be an integer from 1 to 9223372036854775807, got '-3'

(click's own ``BadParameter`` would print a framed, multi-line usage message instead.)
"""

from __future__ import annotations

import math
from collections.abc import Callable

from facelab.config.limits import INT64_MAX
from facelab.errors import ConfigError

__all__ = ["INT64_MAX", "count", "identifier", "number", "seed"]


def _shown(text: object) -> str:
    s = str(text)
    return repr(s if len(s) <= 40 else s[:37] + "...")


def integer(name: str, lo: int = 0, hi: int = INT64_MAX) -> Callable[[str], int]:
    """Parser: a decimal integer with ``lo <= value <= hi`` (``hi`` at most 2**63 - 1)."""

    def parse(text: str) -> int:
        if isinstance(text, int) and not isinstance(text, bool):
            value = text
        else:
            s = str(text).strip()
            body = s[1:] if s[:1] in "+-" else s
            if not body.isdigit() or not body.isascii() or len(body) > 20:
                raise ConfigError(f"{name} must be an integer from {lo} to {hi}, got {_shown(text)}")
            value = int(s)
        if not lo <= value <= hi:
            raise ConfigError(f"{name} must be an integer from {lo} to {hi}, got {_shown(text)}")
        return value

    return parse


def count(name: str, lo: int = 1, hi: int = INT64_MAX) -> Callable[[str], int]:
    """Parser: a count (``--top``, ``--limit``, ``--days``, ...), by default at least 1."""
    return integer(name, lo, hi)


def identifier(name: str) -> Callable[[str], int]:
    """Parser: a database id (an integer from 0 to 2**63 - 1)."""
    return integer(name, 0, INT64_MAX)


def seed(name: str = "--seed") -> Callable[[str], int]:
    """Parser: a seed (an integer from 0 to 2**63 - 1)."""
    return integer(name, 0, INT64_MAX)


def number(
    name: str,
    lo: float = -math.inf,
    hi: float = math.inf,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> Callable[[str], float]:
    """Parser: a finite decimal number in the range ``lo .. hi`` (``lo_open`` / ``hi_open``:
    the end itself excluded); NaN and infinities are refused."""
    left, right = "(" if lo_open else "[", ")" if hi_open else "]"
    what = f"lie in {left}{lo:g}, {hi:g}{right} (a finite number)"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{name} must {what}, got {_shown(text)}") from None
        if not math.isfinite(value):
            raise ConfigError(f"{name} must {what}, got {_shown(text)}")
        if value < lo or value > hi or (lo_open and value == lo) or (hi_open and value == hi):
            raise ConfigError(f"{name} must {what}, got {_shown(text)}")
        return value

    return parse
