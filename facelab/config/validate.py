"""Field readers for scenario tables, raising one-line errors that name the file and the key.

Two kinds of callable work together. A *check* (:func:`int_min`, :func:`probability`,
:func:`choice`, ...) takes one TOML value and returns it converted, or raises :class:`Invalid`
with the reason. :func:`required` and :func:`optional` read one key of a table through a check
and turn its :class:`Invalid` into a :class:`~facelab.errors.ConfigError` worded::

    classroom.toml: cameras[2].kind: unknown camera kind 'bus' (choose from entrance, ...)

An :class:`ErrorContext` carries the file name for these messages.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import re
from typing import Any, NoReturn

from facelab.config.limits import INT64_MAX, MAX_RESOLUTION, MIN_RESOLUTION
from facelab.errors import ConfigError

#: What :func:`safe_name` accepts: letters, digits, '_', '-' and '.' (safe in ids and file names).
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


class ErrorContext:
    """Carries the source name (a file name) for messages.

    Parameters
    ----------
    source : str
        Written first in every message.
    """

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, msg: str) -> NoReturn:
        """Raise ``ConfigError("SOURCE: KEY: MSG")``."""
        raise ConfigError(f"{self.source}: {key}: {msg}")

    def missing(self, key: str) -> NoReturn:
        """Raise ``ConfigError("SOURCE: missing key 'KEY'")``."""
        raise ConfigError(f"{self.source}: missing key '{key}'")


class Invalid(Exception):
    """Raised by a check with the reason; :func:`optional` adds the file and the key."""


_REQUIRED = object()


def _join(prefix: str, key: str) -> str:
    k = key_repr(key)
    return f"{prefix}.{k}" if prefix else k


def key_repr(key: str) -> str:
    """``key`` as written in a dotted path: bare if it is a TOML bare key, else quoted."""
    return key if re.fullmatch(r"[A-Za-z0-9_]+", key) else f'"{key}"'


def describe(v: Any) -> str:
    """A short description of a TOML value for messages, e.g. ``'bus' (a string)``."""
    kinds = {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    kind = next((name for t, name in kinds.items() if type(v) is t), type(v).__name__)
    if isinstance(v, dict):
        return kind
    text = repr(v)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{text} ({kind})"


def check_keys(ctx: ErrorContext, table: dict, prefix: str, allowed: tuple[str, ...]) -> None:
    """Fail on the first key of ``table`` not in ``allowed``, suggesting the closest one."""
    for key in table:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            more = f"; did you mean {hint[0]!r}?" if hint else f" (known: {', '.join(allowed)})"
            ctx.fail(_join(prefix, str(key)), f"unknown key{more}")


def required(ctx: ErrorContext, table: dict, prefix: str, key: str, check) -> Any:
    """``check(table[key])``; fail if ``key`` is missing or the check raises :class:`Invalid`."""
    return optional(ctx, table, prefix, key, check, _REQUIRED)


def optional(ctx: ErrorContext, table: dict, prefix: str, key: str, check, default: Any) -> Any:
    """``check(table[key])``, or ``default`` if ``key`` is missing; fail if the check raises.

    ``prefix`` is the dotted path of ``table`` (``""`` at the top), used in the message.
    """
    if key not in table:
        if default is _REQUIRED:
            ctx.missing(_join(prefix, key))
        return default
    try:
        return check(table[key])
    except Invalid as exc:
        ctx.fail(_join(prefix, key), str(exc))


def required_table(ctx: ErrorContext, data: dict, key: str) -> dict:
    """The table ``data[key]``; fail if it is missing or not a table."""
    if key not in data:
        ctx.missing(key)
    return optional_table(ctx, data, key)


def optional_table(ctx: ErrorContext, data: dict, key: str) -> dict:
    """The table ``data[key]``, ``{}`` if missing; fail if it is not a table."""
    t = data.get(key, {})
    if not isinstance(t, dict):
        ctx.fail(key, f"must be a table ([{key}]), got {describe(t)}")
    return t


def check_int(
    ctx: ErrorContext, key: str, v: Any, minimum: int, maximum: int | None = None
) -> None:
    """Fail naming ``key`` unless ``v`` is an integer from ``minimum`` to ``maximum``
    (:data:`~facelab.config.limits.INT64_MAX` when ``None``)."""
    try:
        int_range(minimum, maximum)(v)
    except Invalid as exc:
        ctx.fail(key, str(exc))


def int_range(lo: int | None, hi: int | None):
    """Check: an integer (not a bool) with ``lo <= v <= hi``; ``None`` leaves a side open up to
    the signed 64-bit range (:data:`~facelab.config.limits.INT64_MAX`)."""

    def check(v: Any) -> int:
        if type(v) is not int:
            raise Invalid(f"must be {_int_phrase(lo, hi)}, got {describe(v)}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise Invalid(f"must be {_int_phrase(lo, hi)}, got {v}")
        if abs(v) > INT64_MAX:
            raise Invalid(f"must be {_int_phrase(lo, hi)} that fits in 64 bits, got {v}")
        return v

    return check


def _int_phrase(lo: int | None, hi: int | None) -> str:
    if hi is None:
        return {0: "an integer >= 0", 1: "a positive integer"}.get(lo, f"an integer >= {lo}")
    return f"an integer from {lo} to {hi}"


def int_min(lo: int):
    """Check: an integer >= ``lo``."""
    return int_range(lo, None)


def _number(v: Any, what: str) -> float:
    if type(v) not in (int, float):
        raise Invalid(f"must be {what}, got {describe(v)}")
    f = float(v)
    if f != f or f in (float("inf"), float("-inf")):
        raise Invalid(f"must be {what}, got {v}")
    return f


def float_min(lo: float):
    """Check: a finite number >= ``lo``, returned as a float."""

    def check(v: Any) -> float:
        f = _number(v, f"a number >= {lo:g}")
        if f < lo:
            raise Invalid(f"must be a number >= {lo:g}, got {v}")
        return f

    return check


def positive_float(v: Any) -> float:
    """Check: a finite number > 0, returned as a float."""
    f = _number(v, "a positive number")
    if f <= 0:
        raise Invalid(f"must be a positive number, got {v}")
    return f


def probability(v: Any) -> float:
    """Check: a number in [0, 1], returned as a float."""
    f = _number(v, "a probability in [0, 1]")
    if not 0.0 <= f <= 1.0:
        raise Invalid(f"must be a probability in [0, 1], got {v}")
    return f


def percent(v: Any) -> float:
    """Check: a number with 0 < p <= 100, returned as a float."""
    f = _number(v, "a percent with 0 < p <= 100")
    if not 0.0 < f <= 100.0:
        raise Invalid(f"must be a percent with 0 < p <= 100, got {v}")
    return f


def boolean(v: Any) -> bool:
    """Check: ``true`` or ``false``."""
    if type(v) is not bool:
        raise Invalid(f"must be true or false, got {describe(v)}")
    return v


def string(v: Any) -> str:
    """Check: any string."""
    if not isinstance(v, str):
        raise Invalid(f"must be a string, got {describe(v)}")
    return v


def nonempty_string(v: Any) -> str:
    """Check: a string that is not empty or blank."""
    v = string(v)
    if not v.strip():
        raise Invalid("must not be empty")
    return v


def safe_name(v: Any) -> str:
    """Check: a non-empty name of letters, digits, '_', '-' and '.' (safe in ids and file names)."""
    v = string(v)
    if not NAME_RE.match(v):
        raise Invalid(f"must be a non-empty name of letters, digits, '_', '-' or '.', got {v!r}")
    return v


def choice(options: tuple[str, ...], what: str):
    """Check: one of ``options``; ``what`` names the option in the message."""

    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise Invalid(f"must be a string, one of {', '.join(options)}; got {describe(v)}")
        if v not in options:
            raise Invalid(f"unknown {what} {v!r} (choose from {', '.join(options)})")
        return v

    return check


def calendar_date(v: Any) -> _dt.date:
    """Check: a TOML date, or a ``"YYYY-MM-DD"`` string; a date-time is refused."""
    if isinstance(v, _dt.datetime):
        raise Invalid(f"must be a date like 2026-03-02 without a time, got {v.isoformat()}")
    if isinstance(v, _dt.date):
        return v
    if isinstance(v, str):
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
                return _dt.date.fromisoformat(v)
        except ValueError:
            pass
    raise Invalid(f"must be a date like 2026-03-02, got {describe(v)}")


def range_of(item):
    """Check: a ``[low, high]`` array whose ends pass ``item``, with ``low <= high``."""

    def check(v: Any) -> tuple:
        if not isinstance(v, list) or len(v) != 2:
            raise Invalid(f"must be a range [low, high], got {describe(v)}")
        lo, hi = item(v[0]), item(v[1])
        if lo > hi:
            raise Invalid(f"range [low, high] is reversed: {v}")
        return (lo, hi)

    return check


def frame_size(v: Any) -> tuple[int, int]:
    """Check: ``[width, height]`` in pixels, at least
    :data:`~facelab.config.limits.MIN_RESOLUTION`."""
    if not isinstance(v, list) or len(v) != 2 or any(type(x) is not int for x in v):
        raise Invalid(f"must be [width, height] in pixels, got {describe(v)}")
    w, h = v
    if w < MIN_RESOLUTION[0] or h < MIN_RESOLUTION[1]:
        raise Invalid(f"must be at least {MIN_RESOLUTION[0]}x{MIN_RESOLUTION[1]}, got {w}x{h}")
    if w > MAX_RESOLUTION[0] or h > MAX_RESOLUTION[1]:
        raise Invalid(f"must be at most {MAX_RESOLUTION[0]}x{MAX_RESOLUTION[1]}, got {w}x{h}")
    return (w, h)


def station_names(v: Any, max_count: int = INT64_MAX) -> tuple[str, ...]:
    """Check: distinct station names, or a count N (at most ``max_count``, checked before any
    name is made) meaning ``station-001`` … ``station-N``."""
    if type(v) is int:
        if v < 1:
            raise Invalid(f"must be a positive integer or a list of station names, got {v}")
        if v > max_count:
            raise Invalid(f"{v} stations for {max_count} cameras: every station needs a camera")
        return tuple(f"station-{j + 1:03d}" for j in range(v))
    if isinstance(v, list) and v:
        names = []
        for x in v:
            if not isinstance(x, str) or not x.strip():
                raise Invalid(f"station names must be non-empty strings, got {describe(x)}")
            names.append(x)
        if len(set(names)) != len(names):
            raise Invalid("station names must be distinct")
        return tuple(names)
    raise Invalid(f"must be a positive integer or a list of station names, got {describe(v)}")


# --------------------------------------------------------------------------- option values


def _shown(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def option_int(name: str, value: Any, lo: int = 0, hi: int = INT64_MAX) -> int:
    """An option value (``--top``, an id, ``days=``…) as an integer with ``lo <= v <= hi``.

    Takes what a user typed (decimal text) or a Python ``int``; text that is not a plain
    integer, a bool, a float, or a value outside the range (``hi`` at most 2**63 - 1, the run
    database's integers) raises :class:`~facelab.errors.ConfigError` naming ``name``.
    """
    hi = min(hi, INT64_MAX)
    bad = ConfigError(f"{name} must be an integer from {lo} to {hi}, got {_shown(value)}")
    if type(value) is int:
        number = value
    elif isinstance(value, str):
        s = value.strip()
        body = s[1:] if s[:1] in "+-" else s
        if not (body.isascii() and body.isdigit()) or len(body) > 20:
            raise bad
        number = int(s)
    elif hasattr(value, "__index__") and not isinstance(value, bool):
        number = int(value.__index__())  # numpy integers
    else:
        raise bad
    if not lo <= number <= hi:
        raise bad
    return number


def option_number(
    name: str,
    value: Any,
    lo: float = float("-inf"),
    hi: float = float("inf"),
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """An option value (``--min-percent``, seconds…) as a finite float in ``lo .. hi``
    (``lo_open``/``hi_open``: that end excluded); NaN, infinities, text that is not a number
    and bools raise :class:`~facelab.errors.ConfigError` naming ``name``."""
    left, right = "(" if lo_open else "[", ")" if hi_open else "]"
    bad = ConfigError(
        f"{name} must lie in {left}{lo:g}, {hi:g}{right} (a finite number), got {_shown(value)}"
    )
    if isinstance(value, bool):
        raise bad
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise bad from None
    if number != number or number in (float("inf"), float("-inf")):
        raise bad
    if number < lo or number > hi or (lo_open and number == lo) or (hi_open and number == hi):
        raise bad
    return number
