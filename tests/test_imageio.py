"""imageio: every unusable image is refused with one line naming the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facelab.errors import ImageError
from facelab.imageio import decode_image, png_chunks, read_image


def _bgr(h: int = 64, w: int = 48, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _encode(ext: str, image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


def _refused(path: Path, *words: str) -> str:
    with pytest.raises(ImageError) as info:
        read_image(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "\n" not in msg
    for word in words:
        assert word in msg, msg
    return msg


def test_reads_png_and_jpeg(tmp_path):
    image = _bgr()
    png = read_image(_write(tmp_path / "a.png", _encode(".png", image)))
    assert png.dtype == np.uint8 and png.shape == (64, 48, 3)
    np.testing.assert_array_equal(png, image)
    jpg = read_image(_write(tmp_path / "a.jpg", _encode(".jpg", image)))
    assert jpg.dtype == np.uint8 and jpg.shape == (64, 48, 3)


def test_missing_directory_empty(tmp_path):
    _refused(tmp_path / "nope.png", "not found")
    (tmp_path / "dir.png").mkdir()
    _refused(tmp_path / "dir.png", "directory")
    _refused(_write(tmp_path / "empty.png", b""), "empty")


def test_corrupt_bytes(tmp_path):
    _refused(_write(tmp_path / "junk.png", b"this is not an image at all" * 10), "not an image")
    data = bytearray(_encode(".png", _bgr()))
    data[60] ^= 0xFF  # inside a chunk: its CRC no longer matches
    _refused(_write(tmp_path / "crc.png", bytes(data)), "corrupt PNG")


def test_truncated_png(tmp_path):
    data = _encode(".png", _bgr())
    for cut in (len(data) - 5, len(data) // 2, 20):
        _refused(_write(tmp_path / f"cut{cut}.png", data[:cut]), "truncated PNG")


def test_truncated_jpeg(tmp_path):
    data = _encode(".jpg", _bgr(256, 256))
    cut = data[: len(data) * 2 // 3]
    _refused(_write(tmp_path / "cut.jpg", cut), "truncated JPEG")
    _refused(_write(tmp_path / "head.jpg", data[:100]), "truncated JPEG")


def test_16_bit(tmp_path):
    image = _bgr().astype(np.uint16) * 257
    deep = _write(tmp_path / "deep.png", _encode(".png", image))
    _refused(deep, "16-bit images are not supported; facelab writes 8-bit BGR PNG")


def test_grayscale_and_alpha(tmp_path):
    gray = _bgr()[:, :, 0]
    _refused(_write(tmp_path / "gray.png", _encode(".png", gray)), "grayscale")
    rgba = np.dstack([_bgr(), np.full((64, 48), 255, np.uint8)])
    _refused(_write(tmp_path / "rgba.png", _encode(".png", rgba)), "alpha")


def test_size_limits(tmp_path):
    _refused(_write(tmp_path / "tiny.png", _encode(".png", _bgr(16, 64))), "too small")
    wide = np.zeros((32, 8193, 3), np.uint8)
    _refused(_write(tmp_path / "wide.png", _encode(".png", wide)), "too large")


def test_decode_image_names_source():
    with pytest.raises(ImageError, match="probe.png: empty file"):
        decode_image(b"", "probe.png")


def test_png_chunks_walks_to_iend():
    chunks = png_chunks(_encode(".png", _bgr()))
    assert chunks[0].type == b"IHDR" and chunks[-1].type == b"IEND"


def test_files_that_are_not_files_are_refused_before_reading(tmp_path):
    import os

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    _refused(fifo, "FIFO")  # refused by type, without blocking on the open
    link = tmp_path / "null.png"
    link.symlink_to("/dev/null")
    _refused(link, "device")
    dangling = tmp_path / "dangling.png"
    dangling.symlink_to(tmp_path / "nowhere")
    _refused(dangling, "not found")


def test_only_png_and_jpeg_reach_the_decoder(tmp_path):
    _refused(_write(tmp_path / "a.bmp", _encode(".bmp", _bgr())), "facelab reads PNG and JPEG")


def test_decoder_chatter_never_reaches_stderr(tmp_path):
    """OpenCV prints 'Corrupt JPEG data: …' for a damaged scan; facelab's decode keeps it quiet
    (and leaves OpenCV's log level as it found it)."""
    import subprocess
    import sys

    data = _encode(".jpg", _bgr(64, 64))
    bad = _write(tmp_path / "bad.jpg", data[:300] + b"\x00" * 100 + data[-2:])
    code = (
        "import sys, cv2.utils.logging as L\n"
        "from facelab.imageio import read_image\n"
        "before = L.getLogLevel()\n"
        "try:\n    read_image(sys.argv[1])\nexcept Exception as e:\n    print(type(e).__name__)\n"
        "assert L.getLogLevel() == before\n"
    )
    p = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", p.stderr
    raw = "import sys, cv2, numpy as np\ncv2.imdecode(np.fromfile(sys.argv[1], np.uint8), -1)\n"
    chatter = subprocess.run([sys.executable, "-c", raw, str(bad)], capture_output=True, text=True)
    assert "Corrupt JPEG" in chatter.stderr  # the chatter exists: the test can fail
