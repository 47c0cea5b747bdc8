"""Range-checked option values, shared by every command module.

Each factory returns a ``parser`` for ``typer.Option(..., parser=...)`` /
``typer.Argument(..., parser=...)``. A parser takes the text the user typed and returns the
value, or raises :class:`~facelab.errors.ConfigError` (a parameter error, exit code 2) with one
line naming the option: text that is not a number, NaN, infinities, values outside the
option's range, and integers past 64 bits are all refused the same way, e.g.::

    error: --top must be an integer from 1 to 9223372036854775807, got '-3'

The checks themselves are :func:`facelab.config.validate.option_int` and
:func:`~facelab.config.validate.option_number`, which :mod:`facelab.api` applies to the same
values given from Python.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated

import typer

from facelab.config.limits import INT64_MAX
from facelab.config.validate import option_int, option_number
from facelab.errors import ConfigError

__all__ = [
    "INT64_MAX",
    "TEXT_OR_JSON",
    "choice",
    "count",
    "identifier",
    "integer",
    "number",
    "seed",
]

#: ``--format`` of the commands that print either text or JSON.
TEXT_OR_JSON = ("text", "json")


def choice(name: str, allowed: tuple[str, ...]) -> Callable[[str], str]:
    """Parser: one of ``allowed`` (``--format text|json``)."""

    def parse(text: str) -> str:
        if text not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {text!r}")
        return text

    return parse


def integer(name: str, lo: int = 0, hi: int = INT64_MAX) -> Callable[[str], int]:
    """Parser: a decimal integer with ``lo <= value <= hi`` (``hi`` at most 2**63 - 1)."""
    return lambda text: option_int(name, text, lo, hi)


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
    return lambda text: option_number(name, text, lo, hi, lo_open=lo_open, hi_open=hi_open)


#: The ``--format text|json`` option (default ``"text"``).
TextOrJson = Annotated[
    str,
    typer.Option("--format", parser=choice("--format", TEXT_OR_JSON), help="text or json."),
]
