"""Safe reading of every image a user hands to facelab.

One gate for all image input: :func:`read_image` for files and :func:`decode_image` for bytes
(which :mod:`facelab.governance.provenance` uses too, so the checks live in one place). Every refusal is an
:class:`~facelab.errors.ImageError` whose message is one line naming the file.

What is refused, and why:

- missing files, folders, empty files and files over :data:`MAX_FILE_BYTES`;
- folders, FIFOs, sockets and devices (also behind a symlink), checked before reading;
- bytes that are not a PNG or JPEG file, or are corrupt (only PNG and JPEG reach the decoder,
  after their dimensions are checked, so no other format's header can make it allocate);
- truncated PNG and JPEG files. OpenCV may return a *partial* image for a cut JPEG (the missing
  rows come out grey), so truncation is detected from the file structure, not from the decoder:
  a PNG must walk chunk by chunk, every CRC good, up to its ``IEND`` chunk; a JPEG must carry its
  end-of-image marker ``FFD9`` after the start of its scan data;
- 16-bit (or float) samples, grayscale, and images with an alpha channel: facelab works on
  8-bit, 3-channel BGR images only;
- images with a side under :data:`MIN_SIDE` or over :data:`MAX_SIDE` pixels (PNG and JPEG
  dimensions are checked from the header, before any pixels are decoded).

PNG chunk helpers (:func:`png_chunks`, :func:`png_chunk`) and the JPEG segment walker
(:func:`jpeg_segments`) are public for the provenance module.
"""

from __future__ import annotations

import logging
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import cv2.utils.logging as cv_logging
import numpy as np

from facelab.errors import ImageError
from facelab.fileio import read_user_file

log = logging.getLogger(__name__)

MIN_SIDE = 32
"""Smallest accepted image side, in pixels."""
MAX_SIDE = 8192
"""Largest accepted image side, in pixels."""
MAX_FILE_BYTES = 256 * 1024 * 1024
"""Largest accepted image file, in bytes."""
_cv_log_lock = threading.Lock()
_cv_quiet_depth = 0
_cv_saved_level = 0

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8\xff"
_JPEG_EOI = b"\xff\xd9"
_JPEG_SOS = 0xDA
# Start-of-frame markers (C0..CF except DHT C4, JPG C8, DAC CC) carry the image size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}  # RSTn and TEM carry no length


@dataclass(frozen=True)
class PngChunk:
    """One chunk of a PNG file.

    Attributes
    ----------
    type : bytes
        Four-letter chunk type, e.g. ``b"IHDR"``.
    data : bytes
        The chunk payload.
    offset : int
        Byte offset of the chunk's length field in the file.
    """

    type: bytes
    data: bytes
    offset: int


def _fail(name: str, problem: str) -> ImageError:
    return ImageError(f"{_one_line(name)}: {problem}")


def _one_line(name: str) -> str:
    """``name`` itself, or its repr when it holds characters that would break the line."""
    return name if name.isprintable() else repr(name)


def png_chunk(ctype: bytes, data: bytes) -> bytes:
    """Serialise one PNG chunk: length, type, payload and CRC-32 of type + payload."""
    if len(ctype) != 4:
        raise ValueError(f"PNG chunk type must be 4 bytes, got {ctype!r}")
    crc = zlib.crc32(ctype + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", crc)


def png_chunks(data: bytes, name: str = "<bytes>") -> list[PngChunk]:
    """Walk a PNG file chunk by chunk, checking its structure.

    Parameters
    ----------
    data : bytes
        The whole file, starting with the PNG signature.
    name : str
        Name used in error messages.

    Returns
    -------
    list of PngChunk
        Every chunk from ``IHDR`` to ``IEND`` inclusive. Bytes after ``IEND`` are ignored.

    Raises
    ------
    ImageError
        If the signature is wrong, ``IHDR`` is not first, a CRC does not match, or the data end
        before the ``IEND`` chunk (a truncated file).
    """
    if not data.startswith(PNG_SIGNATURE):
        raise _fail(name, "not a PNG file (bad signature)")
    chunks: list[PngChunk] = []
    pos = len(PNG_SIGNATURE)
    while True:
        if pos + 8 > len(data):
            raise _fail(name, "truncated PNG (the file ends before its IEND chunk)")
        length, ctype = struct.unpack_from(">I4s", data, pos)
        end = pos + 8 + length + 4
        if length > 0x7FFFFFFF or end > len(data):
            raise _fail(name, f"truncated PNG (chunk {ctype!r} runs past the end of the file)")
        payload = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(ctype + payload) & 0xFFFFFFFF != crc:
            raise _fail(name, f"corrupt PNG (bad CRC in chunk {ctype!r} at byte {pos})")
        if not chunks and ctype != b"IHDR":
            raise _fail(name, "corrupt PNG (first chunk is not IHDR)")
        chunks.append(PngChunk(ctype, payload, pos))
        pos = end
        if ctype == b"IEND":
            return chunks


def _png_size(chunks: list[PngChunk], name: str) -> tuple[int, int]:
    ihdr = chunks[0].data
    if len(ihdr) != 13:
        raise _fail(name, "corrupt PNG (IHDR chunk of the wrong length)")
    width, height = struct.unpack_from(">II", ihdr)
    return width, height


@dataclass(frozen=True)
class JpegSegment:
    """One marker segment of a JPEG header (before the scan data).

    Attributes
    ----------
    code : int
        The marker's second byte, e.g. ``0xFE`` for a comment, ``0xDA`` for start-of-scan.
    offset : int
        Byte offset of the marker's ``0xFF`` in the file.
    end : int
        Byte offset just past the segment.
    data : bytes
        The payload (after the two length bytes); empty for markers without a length.
    """

    code: int
    offset: int
    end: int
    data: bytes


def jpeg_segments(data: bytes, name: str = "<bytes>") -> list[JpegSegment]:
    """Walk a JPEG's marker segments up to and including start-of-scan, checking for ``FFD9``.

    Raises
    ------
    ImageError
        If the header is cut or malformed, or the file has no end-of-image marker after its
        scan data (a truncated file).
    """
    if not data.startswith(JPEG_SOI):
        raise _fail(name, "not a JPEG file (no start-of-image marker)")
    pos, segments = 2, []
    while True:
        if pos >= len(data):
            raise _fail(name, "truncated JPEG (the file ends inside its header)")
        if data[pos] != 0xFF:
            raise _fail(name, f"corrupt JPEG (no marker at byte {pos})")
        start = pos
        # A marker may be preceded by any number of 0xFF fill bytes.
        while pos < len(data) and data[pos] == 0xFF:
            pos += 1
        if pos >= len(data):
            raise _fail(name, "truncated JPEG (the file ends inside its header)")
        code = data[pos]
        pos += 1
        if code in _JPEG_STANDALONE:
            segments.append(JpegSegment(code, start, pos, b""))
            continue
        if pos + 2 > len(data):
            raise _fail(name, "truncated JPEG (the file ends inside its header)")
        (seg_len,) = struct.unpack_from(">H", data, pos)
        if seg_len < 2 or pos + seg_len > len(data):
            raise _fail(name, "truncated JPEG (a header segment runs past the end of the file)")
        if code == 0xD9:
            raise _fail(name, "corrupt JPEG (end-of-image marker before any scan data)")
        segments.append(JpegSegment(code, start, pos + seg_len, data[pos + 2 : pos + seg_len]))
        if code == _JPEG_SOS:
            break
        pos += seg_len
    # Inside entropy-coded data 0xFF is always followed by 0x00 or RSTn, so FFD9 after the scan
    # start can only be the real end-of-image marker.
    if data.rfind(_JPEG_EOI, segments[-1].offset) < 0:
        raise _fail(name, "truncated JPEG (no end-of-image marker FFD9)")
    return segments


def _jpeg_size(segments: list[JpegSegment], name: str) -> tuple[int, int]:
    """(width, height) from the start-of-frame segment."""
    for seg in segments:
        if seg.code in _JPEG_SOF:
            if len(seg.data) < 5:
                raise _fail(name, "corrupt JPEG (start-of-frame segment too short)")
            height, width = struct.unpack_from(">HH", seg.data, 1)
            return width, height
    raise _fail(name, "corrupt JPEG (no start-of-frame segment before the scan)")


def _check_size(width: int, height: int, name: str) -> None:
    if min(width, height) < MIN_SIDE:
        raise _fail(
            name, f"image too small ({width}x{height}); each side must be at least {MIN_SIDE} px"
        )
    if max(width, height) > MAX_SIDE:
        raise _fail(
            name, f"image too large ({width}x{height}); each side must be at most {MAX_SIDE} px"
        )


def _imdecode(data: bytes) -> np.ndarray | None:
    """``cv2.imdecode`` with OpenCV's own logging silenced while it runs: a decoder's
    ``[ERROR:…]``/``[WARN:…]`` lines would reach the user's terminal beside facelab's one-line
    refusal. The level is process-wide, so concurrent decodes share one silenced span: the
    first to enter saves the level, the last to leave restores it."""
    global _cv_quiet_depth, _cv_saved_level
    with _cv_log_lock:
        if _cv_quiet_depth == 0:
            _cv_saved_level = cv_logging.getLogLevel()
            cv_logging.setLogLevel(cv_logging.LOG_LEVEL_SILENT)
        _cv_quiet_depth += 1
    try:
        return cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    finally:
        with _cv_log_lock:
            _cv_quiet_depth -= 1
            if _cv_quiet_depth == 0:
                cv_logging.setLogLevel(_cv_saved_level)


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode image bytes into a BGR array, refusing anything facelab cannot use.

    Parameters
    ----------
    data : bytes
        The encoded file (PNG or JPEG).
    name : str
        The file's name, used in error messages.

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of shape ``(H, W, 3)``, BGR order, C-contiguous.

    Raises
    ------
    ImageError
        One line naming ``name``: empty, corrupt, truncated, 16-bit, grayscale, alpha,
        too small or too large.
    """
    if not data:
        raise _fail(name, "empty file")
    if data.startswith(PNG_SIGNATURE):
        _check_size(*_png_size(png_chunks(data, name), name), name)
    elif data.startswith(JPEG_SOI):
        _check_size(*_jpeg_size(jpeg_segments(data, name), name), name)
    else:
        raise _fail(name, "not an image, or a corrupt one (facelab reads PNG and JPEG files)")
    image = _imdecode(data)
    if image is None:
        raise _fail(name, "not an image, or a corrupt one (the decoder could not read it)")
    if image.dtype == np.uint16:
        raise _fail(name, "16-bit images are not supported; facelab writes 8-bit BGR PNG")
    if image.dtype != np.uint8:
        raise _fail(name, f"{image.dtype} samples are not supported; facelab reads 8-bit images")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels in (1, 2):
        raise _fail(
            name, "grayscale images are not supported; facelab works on 3-channel BGR colour images"
        )
    if channels == 4:
        raise _fail(
            name,
            "images with an alpha channel (4 channels) are not supported; "
            "facelab works on 3-channel BGR images without transparency",
        )
    if channels != 3:
        raise _fail(name, f"{channels}-channel images are not supported")
    _check_size(image.shape[1], image.shape[0], name)
    return np.ascontiguousarray(image)


def read_bytes(path: str | Path) -> bytes:
    """Read a user-supplied file whole, with one-line errors naming it
    (:func:`facelab.fileio.read_user_file`: type and size are checked before reading).

    Raises
    ------
    ImageError
        If the file is missing, a folder, a FIFO, socket or device (also behind a symlink),
        empty, over :data:`MAX_FILE_BYTES`, or unreadable.
    """
    name = _one_line(str(path))
    data = read_user_file(path, max_bytes=MAX_FILE_BYTES, error=ImageError, prefix=name)
    if not data:
        raise _fail(name, "empty file")
    return data


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file into a BGR array, refusing anything facelab cannot use.

    Parameters
    ----------
    path : str or Path
        The image file.

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of shape ``(H, W, 3)``, BGR order.

    Raises
    ------
    ImageError
        One line naming the file (see the module docstring for the list of refusals).
    """
    image = decode_image(read_bytes(path), str(path))
    log.debug("read %s: %dx%d", path, image.shape[1], image.shape[0])
    return image
