"""Bad inputs to enroll / search / watchlist / alerts / review: one-line error, non-zero exit,
and the run directory left byte-for-byte unchanged (audit log included).

Each refusal goes through the CLI with typer's CliRunner (the exception the error boundary turns
into ``error: <message>`` and ``exit_code``), and a few through the real console
(``python -m facelab``), checking stderr is exactly one line. Uses the session's shared
classroom run (see test_search) on a module copy.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from runtree import tree_hash
from typer.testing import CliRunner

from facelab.cli import app
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


runner = CliRunner()


def refused(args, run: Path | None, error: type[FacelabError], fragment: str) -> str:
    """Run a CLI command that must be refused; return its one-line message."""
    before = tree_hash(run) if run is not None and run.exists() else None
    result = runner.invoke(app, [str(a) for a in args])
    exc = result.exception
    assert isinstance(exc, error), (args, result.output, exc)
    message = str(exc)
    assert "\n" not in message and message.strip() == message, message
    assert fragment in message, message
    assert exc.exit_code != 0
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
def test_bad_photo_is_refused_and_run_unchanged(run_dir, bad, command, name, error, fragment):
    args = (search_args if command == "search" else enroll_args)(run_dir, bad[name])
    message = refused(args, run_dir, error, fragment)
    assert message.startswith(("refused: " + str(bad[name]), str(bad[name])))


def test_largest_face_is_taken_when_asked_and_said(run_dir, bad):
    result = runner.invoke(
        app, [str(a) for a in search_args(run_dir, bad["two-faces.png"], "--largest")]
    )
    assert result.exit_code == 0, result.output
    assert "the photo holds 2 faces; the largest was used" in result.output


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        ("missing", "run directory not found"),
        ("empty-folder", "not a facelab run directory (no run.json)"),
        ("foreign", "not a facelab run directory (foreign run.json)"),
        ("older", "has format version 0, this facelab reads version 2"),
        ("a-file", "not a run directory (a file)"),
    ],
)
def test_bad_run_directory(run_dir, bad, tmp_path, make, fragment):
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
        refused(args, target if target.is_dir() else None, RunError, fragment)
    if make == "missing":
        assert not target.exists()


def test_search_without_reason_is_refused_and_writes_nothing(run_dir, bad):
    refused(["search", run_dir, bad["good.png"]], run_dir, AuditError,
            "a stated reason (--reason) is required for a search")  # fmt: skip
    refused(["search", run_dir, bad["good.png"], "--reason", "  "], run_dir, AuditError, "--reason")


def test_other_refusals_leave_the_run_unchanged(run_dir, bad):
    refused(enroll_args(run_dir, bad["good.png"], "--label", "WL-0001"), run_dir, DataError,
            "label 'WL-0001' is already on the watchlist")  # fmt: skip
    refused(["enroll", run_dir, bad["good.png"], "--label", "../escape", "--reason", "x"], run_dir,
            DataError, "bad label '../escape'")  # fmt: skip
    refused(["enroll", run_dir, bad["good.png"], "--label", "NEW-2"], run_dir, AuditError,
            "required for enrolment")  # fmt: skip
    refused(["watchlist", run_dir, "--remove", "WL-0001"], run_dir, AuditError, "removal")
    refused(["watchlist", run_dir, "--remove", "NOBODY", "--reason", "x"], run_dir, DataError,
            "no active watchlist entry 'NOBODY'")  # fmt: skip
    refused(search_args(run_dir, bad["good.png"], "--min-percent", "150"), run_dir, ConfigError,
            "--min-percent must lie in [0, 100]")  # fmt: skip
    refused(search_args(run_dir, bad["good.png"], "--camera", "mars"), run_dir, ConfigError,
            "unknown camera 'mars'")  # fmt: skip
    refused(search_args(run_dir, bad["good.png"], "--from", "soon"), run_dir, ConfigError,
            "is not a date or time")  # fmt: skip
    refused(["review", run_dir, "999999999999", "--confirm", "--reason", "x"], run_dir, DataError,
            "no alert 999999999999")  # fmt: skip


# --------------------------------------------------------------------------- real console


def console(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facelab", *map(str, args)],
        capture_output=True, text=True, env=dict(os.environ), timeout=120,
    )  # fmt: skip


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
    assert p.returncode == code, (p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(start), p.stderr
    assert p.stdout == ""
    if before is not None:
        assert tree_hash(run) == before
    else:
        assert not run.exists()
