"""Bad inputs to enroll / search / watchlist / alerts / review: one-line error, non-zero exit,
and the run directory left byte-for-byte unchanged (audit log included).

Each refusal goes through the CLI with typer's CliRunner (the exception the error boundary turns
into ``error: <message>`` and ``exit_code``) in a worker process, and a few through the real
console (``python -m facelab``), checking stderr is exactly one line; every one within the time
and memory bounds of tests/bounds.py (10 s, 2 GiB peak RSS). Uses the session's shared
classroom run (see test_search) on a module copy.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from bounds import MAX_RSS, Worker, check_bounds, console
from runtree import tree_hash

from facelab.errors import (
    AuditError,
    ConfigError,
    DataError,
    FacelabError,
    ImageError,
    ProvenanceError,
    RunError,
)
from facelab.governance import provenance
from facelab.world import synth

# --------------------------------------------------------------------------- shared run


@pytest.fixture(scope="module")
def run_dir(run_copy):
    return run_copy


# --------------------------------------------------------------------------- bad files


def _record(identity=1) -> dict:
    return provenance.make_record(
        "portrait", generator="dcgan-digiface", model_sha256="0" * 64, seed=7, identity=identity
    )


def _chunks(png: bytes):
    pos, out = 8, []
    while pos < len(png):
        (n,) = struct.unpack_from(">I", png, pos)
        out.append((png[pos + 4 : pos + 8], pos, pos + 12 + n))
        pos += 12 + n
    return out


@pytest.fixture(scope="module")
def bad(run_dir, tmp_path_factory):
    """name → path of each bad photo (made once)."""
    d = tmp_path_factory.mktemp("photos")
    gen = synth.FaceGenerator()
    face = gen.identities(7, [3])[0]
    photo = synth.portrait(face, np.random.default_rng(0))
    good = provenance.encode_png(photo, _record(3))
    files: dict[str, bytes] = {}
    idat = next(c for c in _chunks(good) if c[0] == b"IDAT")
    corrupt = bytearray(good)
    corrupt[idat[1] + 20] ^= 0xFF  # one byte of pixel data: the chunk's CRC no longer matches
    files["corrupt.png"] = bytes(corrupt)
    files["truncated.png"] = good[: len(good) // 2]
    jpg = cv2.imencode(".jpg", photo)[1].tobytes()
    files["truncated.jpg"] = jpg[: len(jpg) * 2 // 3]
    files["16bit.png"] = cv2.imencode(".png", photo.astype(np.uint16) * 257)[1].tobytes()
    files["grayscale.png"] = cv2.imencode(".png", cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY))[
        1
    ].tobytes()
    files["not-an-image.png"] = b"these are not the pixels you are looking for\n" * 20
    files["empty.png"] = b""
    files["no-provenance.png"] = cv2.imencode(".png", photo)[1].tobytes()
    edited = photo.copy()
    edited[10, 10] ^= 1
    itxt = next(c for c in _chunks(good) if c[0] == b"iTXt")
    plain = cv2.imencode(".png", edited)[1].tobytes()
    iend = _chunks(plain)[-1][1]
    files["edited-pixels.png"] = plain[:iend] + good[itxt[1] : itxt[2]] + plain[iend:]
    blank = np.full((192, 192, 3), 140, np.uint8)
    blank[:, :96] = 90
    files["no-face.png"] = provenance.encode_png(blank, _record(None))
    two = np.full((200, 360, 3), 150, np.uint8)
    faces = gen.identities(7, [3, 5])
    synth.paste_face(two, faces[0], 20, 40, 120)
    synth.paste_face(two, faces[1], 200, 50, 100)
    files["two-faces.png"] = provenance.encode_png(two, _record(None))
    files["good.png"] = good
    out = {}
    for name, data in files.items():
        (d / name).write_bytes(data)
        out[name] = d / name
    out["missing.png"] = d / "missing.png"
    out["a-folder.png"] = d / "a-folder.png"
    out["a-folder.png"].mkdir()
    return out


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def worker(run_dir, bad):
    """The process that runs this module's commands, models loaded by a first refused search
    (so that the timed commands do not pay that)."""
    w = Worker()
    warm = w.invoke(search_args(run_dir, bad["two-faces.png"]))
    assert warm.raised(ImageError), warm
    yield w
    w.close()


def refused(worker, args, run: Path | None, error: type[FacelabError], fragment: str) -> str:
    """Run a CLI command that must be refused, within the bounds; return its one-line
    message."""
    before = tree_hash(run) if run is not None and run.exists() else None
    result = worker.invoke(args)
    check_bounds(result)
    assert result.raised(error), (args, result.output, result.error, result.message)
    message = result.message
    assert "\n" not in message and message.strip() == message, message
    assert fragment in message, message
    assert result.error_exit_code != 0
    if before is not None:
        assert tree_hash(run) == before, f"{args} changed the run directory"
    return message


def search_args(run, photo, *extra):
    return ["search", run, photo, "--reason", "test", *extra]


def enroll_args(run, photo, *extra):
    return ["enroll", run, photo, "--label", "NEW-1", "--reason", "test", *extra]


PHOTO_CASES = [
    ("corrupt.png", ImageError, "corrupt PNG (bad CRC in chunk b'IDAT'"),
    ("truncated.png", ImageError, "truncated PNG"),
    ("truncated.jpg", ImageError, "truncated JPEG"),
    ("16bit.png", ImageError, "16-bit images are not supported"),
    ("grayscale.png", ImageError, "grayscale images are not supported"),
    ("not-an-image.png", ImageError, "not an image, or a corrupt one"),
    ("empty.png", ImageError, "empty file"),
    ("missing.png", ImageError, "file not found"),
    ("a-folder.png", ImageError, "is a directory"),
    ("no-provenance.png", ProvenanceError, "carries no facelab provenance record"),
    ("edited-pixels.png", ProvenanceError, "provenance signature does not match"),
    ("no-face.png", ImageError, "no face found"),
    ("two-faces.png", ImageError, "2 faces found; crop the photo to one person, or pass --largest"),
]


@pytest.mark.parametrize("command", ["search", "enroll"])
@pytest.mark.parametrize(
    ("name", "error", "fragment"), PHOTO_CASES, ids=[c[0] for c in PHOTO_CASES]
)
def test_bad_photo_is_refused_and_run_unchanged(run_dir, bad, worker, command, name, error,
                                                fragment):  # fmt: skip
    args = (search_args if command == "search" else enroll_args)(run_dir, bad[name])
    message = refused(worker, args, run_dir, error, fragment)
    assert message.startswith(("refused: " + str(bad[name]), str(bad[name])))


def test_largest_face_is_taken_when_asked_and_said(run_dir, bad, worker):
    result = worker.invoke(search_args(run_dir, bad["two-faces.png"], "--largest"))
    assert result.exit_code == 0, (result.output, result.message)
    assert "the photo holds 2 faces; the largest was used" in result.output


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        ("missing", "run directory not found"),
        ("empty-folder", "not a facelab run directory (no run.json)"),
        ("foreign", "not a facelab run directory (foreign run.json)"),
        ("older", "has format version 0, this facelab reads version 3"),
        ("a-file", "not a run directory (a file)"),
    ],
)
def test_bad_run_directory(run_dir, bad, worker, tmp_path, make, fragment):
    target = tmp_path / "run"
    if make == "empty-folder":
        target.mkdir()
    elif make == "foreign":
        target.mkdir()
        (target / "run.json").write_text(json.dumps({"format": "someone-elses-tool", "version": 1}))
    elif make == "older":
        shutil.copytree(run_dir, target)
        meta = json.loads((target / "run.json").read_text())
        (target / "run.json").write_text(json.dumps({**meta, "version": 0}))
    elif make == "a-file":
        target.write_text("not a folder")
    for args in (
        search_args(target, bad["good.png"]),
        enroll_args(target, bad["good.png"]),
        ["watchlist", target],
        ["alerts", target],
        ["review", target, "1", "--confirm", "--reason", "x"],
    ):
        refused(worker, args, target if target.is_dir() else None, RunError, fragment)
    if make == "missing":
        assert not target.exists()


def test_search_without_reason_is_refused_and_writes_nothing(run_dir, bad, worker):
    good = bad["good.png"]
    for args, fragment in [
        (["search", run_dir, good], "a stated reason (--reason) is required for a search"),
        (["search", run_dir, good, "--reason", "  "], "--reason"),
    ]:
        refused(worker, args, run_dir, AuditError, fragment)


def test_other_refusals_leave_the_run_unchanged(run_dir, bad, worker):
    good = bad["good.png"]
    cases = [
        (enroll_args(run_dir, good, "--label", "WL-0001"), DataError,
         "label 'WL-0001' is already on the watchlist"),
        (["enroll", run_dir, good, "--label", "../escape", "--reason", "x"], DataError,
         "bad label '../escape'"),
        (["enroll", run_dir, good, "--label", "NEW-2"], AuditError, "required for enrolment"),
        (["watchlist", run_dir, "--remove", "WL-0001"], AuditError, "removal"),
        (["watchlist", run_dir, "--remove", "NOBODY", "--reason", "x"], DataError,
         "no active watchlist entry 'NOBODY'"),
        (search_args(run_dir, good, "--min-percent", "150"), ConfigError,
         "--min-percent must lie in [0, 100]"),
        (search_args(run_dir, good, "--camera", "mars"), ConfigError, "unknown camera 'mars'"),
        (search_args(run_dir, good, "--from", "soon"), ConfigError, "is not a date or time"),
        (["review", run_dir, "999999999999", "--confirm", "--reason", "x"], DataError,
         "no alert 999999999999"),
    ]  # fmt: skip
    for args, error, fragment in cases:
        refused(worker, args, run_dir, error, fragment)


# --------------------------------------------------------------------------- real console


@pytest.mark.parametrize(
    ("case", "code", "start"),
    [
        ("missing-run", RunError.exit_code, "error: run directory not found: "),
        ("older-run", RunError.exit_code, "error: run directory "),
        ("corrupt.png", ImageError.exit_code, "error: "),
        ("two-faces.png", ImageError.exit_code, "error: "),
        ("no-provenance.png", ProvenanceError.exit_code, "error: refused: "),
    ],
)
def test_real_console_one_line_and_exit_code(run_dir, bad, tmp_path, case, code, start):
    run = run_dir
    if case == "missing-run":
        run = tmp_path / "nowhere"
    elif case == "older-run":
        run = tmp_path / "old"
        shutil.copytree(run_dir, run)
        meta = json.loads((run / "run.json").read_text())
        (run / "run.json").write_text(json.dumps({**meta, "version": 0}))
    photo = bad.get(case, bad["good.png"])
    before = tree_hash(run) if run.exists() else None
    p = console("search", run, photo, "--reason", "test")
    check_bounds(p)
    assert 50 * 2**20 < p.max_rss < MAX_RSS  # measured: the child's own peak, numpy and all
    assert p.returncode == code, (p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(start), p.stderr
    assert p.stdout == ""
    if before is not None:
        assert tree_hash(run) == before
    else:
        assert not run.exists()


HUGE_DISK = """
name = "huge-disk"
seed = 1
start = 2026-03-02
days = 3000
mode = "image"
[population]
size = 100000
[movement]
passes_per_day = [1, 3]
active_hours = [8, 18]
[[cameras]]
id = "gate"
kind = "metro_gate"
station = "A"
fr = true
resolution = [3840, 2160]
[watchlist]
size = 3
in_city = 2
[limits]
memory_gib = 1e9
disk_gib = 1e9
"""


def test_a_run_that_would_not_fit_on_its_disk_is_refused_before_any_write(worker, tmp_path):
    from facelab.config.resources import estimate
    from facelab.config.scenario import load_scenario

    toml = tmp_path / "huge-disk.toml"
    toml.write_text(HUGE_DISK)
    need = estimate(load_scenario(toml)).disk_bytes  # [limits] raised: only the disk refuses it
    assert need > shutil.disk_usage(tmp_path).free
    out = tmp_path / "new" / "run"
    result = worker.invoke(["run", toml, "--out", out])
    check_bounds(result)
    assert result.raised(ConfigError) and result.error_exit_code == 2, result
    assert result.message.startswith(f"not enough disk space for --out {out}: the run needs ")
    assert f", {tmp_path} has " in result.message and " free; " in result.message
    assert sorted(tmp_path.iterdir()) == [toml]  # nothing written


# --------------------------------------------------------------------------- newer commands


def _hostile_files(d: Path) -> dict[str, Path]:
    """Inputs a hostile user hands the newer commands (made fresh in ``d``)."""
    import os

    (d / "deep.toml").write_text("a = " + "[" * 3000 + "]" * 3000 + "\n")
    os.mkfifo(d / "pipe.toml")
    (d / "notes.txt").write_text("not a folder")
    return {"deep": d / "deep.toml", "pipe": d / "pipe.toml", "file": d / "notes.txt"}


NEWER = [  # (args with RUN / deep / pipe / file placeholders, error, fragment)
    (["review", "RUN", "18446744073709551616", "--confirm", "--reason", "x"], DataError,
     "bad alert id '18446744073709551616'"),
    (["review", "RUN", "A-99999999999999999999-1", "--confirm", "--reason", "x"], DataError,
     "bad alert id 'A-99999999999999999999-1'"),
    (["retention", "close-case", "RUN", "", "--reason", "x"], DataError, "no case ''"),
    (["retention", "close-case", "RUN", "C-NOBODY", "--reason", "x"], DataError,
     "no case 'C-NOBODY'"),
    (["report", "RUN", "--out", "RUN/facelab.sqlite", "--force"], ConfigError,
     "the report is an HTML file"),
    (["report", "RUN", "--out", "RUN/archive/r.html", "--force"], ConfigError,
     "is inside a folder of the run"),
    (["profile", "fit", "pipe"], ConfigError, "is a FIFO (named pipe), not a regular file"),
    (["profile", "fit", "deep"], ConfigError, "nested too deeply"),
    (["profile", "predict", "nist-frte-mugshot", "--gallery", "1e30", "--fpir", "0.003"],
     ConfigError, "--gallery must be an integer from 1 to 9223372036854775807, got '1e30'"),
    (["profile", "predict", "nist-frte-mugshot", "--gallery", "1000", "--threshold", "nan"],
     ConfigError, "--threshold must lie in"),
    (["profile", "predict", "nist-frte-mugshot", "--gallery", "1000", "--fpir", "1"],
     ConfigError, "--fpir must lie in (0, 1)"),
    (["profile", "city", "npl-neoface-v4", "--threshold", "60", "--draws", "99999999999999"],
     ConfigError, "--draws must be an integer from 1 to 100000"),
    (["profile", "city", "npl-neoface-v4", "--threshold", "60", "--seed", "-1"], ConfigError,
     "--seed must be an integer from 0"),
    (["run", "classroom", "--out", "file/sub"], OSError, "File exists"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "error", "fragment"), NEWER,
                         ids=[" ".join(a[:2] + a[3:4]) for a, _, _ in NEWER])  # fmt: skip
def test_newer_commands_refuse_hostile_input_in_one_line(run_dir, worker, tmp_path, args, error,
                                                         fragment):  # fmt: skip
    files = _hostile_files(tmp_path)
    subst = {"RUN": str(run_dir), **{k: str(v) for k, v in files.items()}}
    args = [subst.get(a, a.replace("RUN/", f"{run_dir}/").replace("file/", f"{files['file']}/"))
            for a in args]  # fmt: skip
    refused(worker, args, run_dir, error, fragment)


def test_a_file_the_system_refuses_is_one_line_with_exit_1_on_the_console(tmp_path):
    (tmp_path / "notes.txt").write_text("not a folder")
    p = console("run", "classroom", "--out", tmp_path / "notes.txt" / "run")
    check_bounds(p)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert p.stderr.splitlines() == [f"error: {tmp_path / 'notes.txt'}: File exists"]


@pytest.fixture
def read_only_run(run_dir, tmp_path):
    """A copy of the run that no one may write to (``chattr +i``: root ignores mode bits)."""
    import subprocess

    ro = tmp_path / "ro-run"
    shutil.copytree(run_dir, ro)
    try:
        subprocess.run(["chattr", "-R", "+i", str(ro)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("chattr +i is not available here")
    yield ro
    subprocess.run(["chattr", "-R", "-i", str(ro)], check=True)


@pytest.mark.parametrize(
    "args",
    [["review", "RUN", "A-0-0005", "--confirm", "--reason", "x"],
     ["watchlist", "RUN", "--remove", "WL-0001", "--reason", "x"],
     ["purge", "RUN", "--retention-days", "1"]],
    ids=["review", "remove", "purge"],
)  # fmt: skip
def test_a_read_only_run_is_refused_as_read_only_not_damaged(read_only_run, worker, args):
    args = [str(read_only_run) if a == "RUN" else a for a in args]
    refused(worker, args, read_only_run, RunError, "cannot be opened for writing")
