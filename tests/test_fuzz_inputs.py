"""Property-based contract for hostile input: scenario TOML and photo bytes.

Whatever a user hands facelab, the command either does its job (exit 0) or is refused with
exactly one ``error: …`` line and the documented exit code (:mod:`facelab.errors`), quickly
and in bounded memory, leaving the run directory byte-for-byte as it was.

The bulk runs through typer's CliRunner on :data:`facelab.cli.app` inside one spawned worker
process (tests/bounds.py; the refusal is the :class:`~facelab.errors.FacelabError` that the
console's error boundary prints as one line); a handful of fixed cases run the real console
(``python -m facelab``) and check stderr. The hypothesis budget is fixed here
(``max_examples``) so the module stays within about a minute on two cores; each command must
finish within ``bounds.SECONDS`` and ``bounds.MAX_RSS`` (the issue's 10 s and 2 GiB), measured
by tests/bounds.py rather than with hypothesis' ``deadline``, which a busy shared machine makes
flaky.
"""

from __future__ import annotations

import math
import os

import pytest
from bounds import Outcome, Worker, check_bounds, console
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runtree import tree_hash

from facelab.errors import ConfigError, FacelabError, ImageError, ProvenanceError

# A tiny valid scenario; its [limits] keep anything hypothesis makes of it small enough to build
# in well under a second (a bigger population or more days is refused at load, before work).
BASE: dict = {
    "seed": 3,
    "start": "2026-03-02",
    "days": 2,
    "mode": "embedding",
    "population": {"size": 30},
    "movement": {"passes_per_day": [1, 3], "active_hours": [7, 20]},
    "cameras": [
        {"id": "gate-01", "kind": "metro_gate", "station": "North", "fr": True},
        {"id": "street-01", "kind": "street", "station": "South"},
    ],
    "camera_groups": [{"prefix": "g", "count": 2, "kind": "platform", "stations": 2}],
    "watchlist": {"size": 4, "in_city": 2},
    "thresholds": {"mapping": "linear", "alert_percent": 60.0},
    "limits": {"memory_gib": 0.02, "disk_gib": 0.02, "cameras": 50, "days": 400},
}

# --------------------------------------------------------------------------- a TOML writer


def _bare(key: str) -> str:
    return (
        key if key and all(c.isalnum() or c in "_-" for c in key) and key.isascii() else _str(key)
    )


def _str(s: str) -> str:
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_bare(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def to_toml(data: dict) -> str:
    """Top-level keys as ``key = value`` (tables inline): any structure, one writer."""
    return "".join(f"{_bare(k)} = {toml_value(v)}\n" for k, v in data.items())


# --------------------------------------------------------------------------- strategies

SCALARS = st.one_of(
    st.integers(min_value=-2, max_value=60),  # plausible values: some scenarios pass
    st.floats(min_value=0.0, max_value=1.0),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**12, 10**18]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
    st.sampled_from(["log-fmr", "bogus", "sigmoid", "linear", "2026-02-30", "../x", ""]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)

# Every key path of BASE (tables and array positions included), and some that are not there.
PATHS: list[tuple] = []


def _walk(node, path):
    PATHS.append(path)
    if isinstance(node, dict):
        for k, v in node.items():
            _walk(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _walk(v, (*path, i))


_walk(BASE, ())
PATHS.remove(())
PATHS += [
    ("limits", "memory_gib"),
    ("resolution",),
    ("detection", "regions"),
    ("retention", "days"),
]
PATHS += [("cameras", 0, "resolution"), ("camera_groups", 0, "count"), ("mode",)]


def _set(data, path, value):
    node = data
    for k in path[:-1]:
        if isinstance(node, dict) and isinstance(k, str):
            node = node.setdefault(k, {})
        elif isinstance(node, list) and isinstance(k, int) and k < len(node):
            node = node[k]
        else:
            return
    last = path[-1]
    if (isinstance(node, dict) and isinstance(last, str)) or (
        isinstance(node, list) and isinstance(last, int) and last < len(node)
    ):
        node[last] = value


@st.composite
def scenarios(draw) -> dict:
    import copy

    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(0, 3))):
        _set(data, draw(st.sampled_from(PATHS)), draw(VALUES))
    return data


# --------------------------------------------------------------------------- the contract


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    """The process that runs this module's commands; one accepted scenario first, so that the
    timed examples do not pay the imports."""
    w = Worker()
    path = tmp_path_factory.mktemp("warm") / "base.toml"
    path.write_text(to_toml(BASE), encoding="utf-8")
    result = w.invoke(["world", path])
    assert result.exit_code == 0, (result.output, result.message)
    yield w
    w.close()


def check_refusal(result: Outcome, allowed: tuple[type[FacelabError], ...]) -> None:
    """Within the time and memory bounds; exit 0, or one of ``allowed`` as one line with its own
    exit code (and no traceback)."""
    check_bounds(result)
    if result.exit_code == 0:
        return
    assert result.raised(*allowed), (result.exit_code, result.output, result.error, result.message)
    message = " ".join(result.message.split())
    assert message and "\n" not in result.message.strip(), result.message
    assert result.error_exit_code == result.class_exit_code


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=scenarios())
def test_scenario_toml_is_done_or_refused_in_one_line(worker, tmp_path, data):
    path = tmp_path / "fuzz.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    check_refusal(worker.invoke(["world", path]), (ConfigError,))


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    cut=st.integers(0, 4000),
    flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(1, 255)), max_size=4),
)
def test_scenario_bytes_are_done_or_refused(worker, tmp_path, cut, flips):
    raw = bytearray(to_toml(BASE).encode())
    for pos, x in flips:
        if pos < len(raw):
            raw[pos] ^= x
    path = tmp_path / "bytes.toml"
    path.write_bytes(bytes(raw[: cut or len(raw)]))
    check_refusal(worker.invoke(["world", path]), (ConfigError,))


def test_deep_nesting_and_special_files_are_refused(worker, tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("seed = " + "[" * 5000 + "]" * 5000 + "\n")
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)  # the open must not block
    link = tmp_path / "null.toml"
    link.symlink_to("/dev/null")
    for path, fragment in ((deep, "nested too deeply"), (fifo, "FIFO"), (link, "device")):
        result = worker.invoke(["world", path])
        check_refusal(result, (ConfigError,))
        assert result.raised(ConfigError) and fragment in result.message, result


# --------------------------------------------------------------------------- photos


@pytest.fixture(scope="module")
def run_dir(run_copy):
    return run_copy


@pytest.fixture(scope="module")
def good_photo(run_dir, worker) -> bytes:
    from facelab.governance import provenance
    from facelab.world import synth

    gen = synth.FaceGenerator()
    photo = synth.portrait(gen.identities(7, [3])[0], __import__("numpy").random.default_rng(0))
    record = provenance.make_record(
        "portrait", generator="dcgan-digiface", model_sha256="0" * 64, seed=7, identity=3
    )
    good = provenance.encode_png(photo, record)
    # one real search first (models loaded, archive opened), so the timed examples do not pay it
    path = run_dir.parent / "good.png"
    path.write_bytes(good)
    result = worker.invoke(["search", run_dir, path, "--reason", "warm-up"])
    assert result.exit_code == 0, (result.output, result.message)
    return good


PHOTO_ERRORS = (ImageError, ProvenanceError)


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(
    kind=st.sampled_from(["flip", "cut", "random", "header"]),
    pos=st.integers(0, 1 << 16),
    value=st.integers(1, 255),
    junk=st.binary(max_size=256),
)
def test_photo_bytes_are_refused_in_one_line_and_run_unchanged(
    run_dir, worker, good_photo, tmp_path_factory, kind, pos, value, junk
):
    data = bytearray(good_photo)
    if kind == "flip":
        data[pos % len(data)] ^= value
    elif kind == "cut":
        data = data[: pos % len(data)]
    elif kind == "random":
        data = bytearray(junk)
    else:  # an IHDR claiming a huge image, or a JPEG start with junk after it
        data = bytearray(b"\xff\xd8\xff" + junk) if value % 2 else data[:16] + junk
    photo = tmp_path_factory.mktemp("p") / "probe.png"
    photo.write_bytes(bytes(data))
    before = tree_hash(run_dir)
    result = worker.invoke(["search", run_dir, photo, "--reason", "fuzz"])
    assert result.exit_code != 0  # a changed byte never passes the provenance check
    check_refusal(result, PHOTO_ERRORS)
    assert tree_hash(run_dir) == before


# --------------------------------------------------------------------------- real console


def test_real_console_refusals_are_one_line(run_dir, worker, good_photo, tmp_path):
    import cv2
    import numpy as np

    jpg = cv2.imencode(".jpg", np.full((64, 64, 3), 90, np.uint8))[1].tobytes()
    bad_jpg = tmp_path / "bad.jpg"
    bad_jpg.write_bytes(jpg[:200] + b"\x00" * 50 + jpg[-2:])  # corrupt scan data, end marker kept
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    deep = tmp_path / "deep.toml"
    deep.write_text("seed = " + "[" * 3000 + "]" * 3000 + "\n")
    huge = tmp_path / "huge.toml"
    huge.write_text(to_toml({**BASE, "population": {"size": 10**9}, "limits": {}}))
    before = tree_hash(run_dir)
    console_cases = [  # the real console: one stderr line, no decoder chatter, the exit code
        (["search", run_dir, bad_jpg, "--reason", "x"], ImageError.exit_code, "bad.jpg"),
        (["search", run_dir, fifo, "--reason", "x"], ImageError.exit_code, "FIFO"),
        (["world", deep], 2, "nested too deeply"),
        (["world", huge], 2, "needs about"),
    ]
    for args, code, fragment in console_cases:
        p = console(*args)
        check_bounds(p)
        lines = p.stderr.splitlines()
        assert p.returncode == code, (args, p.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, p.stderr)
        assert fragment in lines[0], lines[0]
    parameter_cases = [  # in-process: a ConfigError (exit code 2) naming the option
        (["search", run_dir, bad_jpg, "--reason", "x", "--top", str(2**64)], "--top"),
        (["search", run_dir, bad_jpg, "--reason", "x", "--min-percent", "nan"], "--min-percent"),
        (["alerts", run_dir, "--limit", "-1"], "--limit"),
        (["alerts", run_dir, "--min-percent", "-inf"], "--min-percent"),
        (["sweep", run_dir, "--seconds-per-candidate", "inf"], "--seconds-per-candidate"),
        (["sweep", run_dir, "--rank", "0"], "--rank"),
        (["purge", run_dir, "--retention-days", "-3"], "--retention-days"),
        (["run", "classroom", "--out", tmp_path / "r", "--days", "0"], "--days"),
        (["run", "classroom", "--out", tmp_path / "r", "--seed", str(2**63)], "--seed"),
    ]
    for args, option in parameter_cases:
        result = worker.invoke(args)
        check_refusal(result, (ConfigError,))
        assert result.raised(ConfigError), (args, result.output)
        assert result.message.startswith(option) and result.error_exit_code == 2
    assert tree_hash(run_dir) == before
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("depth", [20, 100_000])
def test_deeply_nested_provenance_record_is_refused_without_recursion(depth):
    """A record nested deeper than provenance.MAX_RECORD_DEPTH is malformed: refused with one
    line (ProvenanceError), never a RecursionError from the JSON parser."""
    import numpy as np

    from facelab.governance import provenance
    from facelab.imageio import png_chunk, png_chunks

    image = np.full((64, 64, 3), 120, np.uint8)
    good = provenance.encode_png(image, provenance.make_record("portrait", generator="x",
                                                               model_sha256="0" * 64, seed=1))  # fmt: skip
    text = ('{"record": ' + "[" * depth + "]" * depth + ', "sig": "' + "0" * 64 + '"}').encode()
    payload = provenance.KEYWORD + b"\x00\x00\x00\x00\x00" + text
    chunks = png_chunks(good)
    itxt = next(c for c in chunks if c.type == b"iTXt")
    end = itxt.offset + 12 + len(itxt.data)
    forged = good[: itxt.offset] + png_chunk(b"iTXt", payload) + good[end:]
    with pytest.raises(ProvenanceError, match="nested") as info:
        provenance.read_record(forged, "deep.png")
    assert "\n" not in str(info.value)
