"""Provenance records on facelab's images, and the synthetic-only guard.

Every image facelab writes carries a signed provenance record: portraits, photos and sheets are
PNGs; camera frames in a run's archive are JPEGs, as CCTV footage is lossy-compressed (quality
:data:`FRAME_JPEG_QUALITY`: about 80 KB and 1 ms to encode a 640×480 frame, against 440 KB and
11 ms as PNG). Enrolment, ingestion and search accept only images whose record verifies
(:func:`load_verified`). The lab must never become
a tool for searching real people, and this guard is what keeps photos of them out.

Design: a keyed signature, not provenance by reproducibility. Re-rendering an image from its record
and comparing pixels would need no key, but camera frames are composites of the whole simulated
world (background, every passer-by, the camera's quality profile), so verifying one frame would
mean rebuilding that world. A keyed HMAC verifies any image in microseconds. The price is a key to
keep: 32 random bytes in a file (:func:`key_path`), created on first use with mode 0600. Images
signed under one key do not verify under another, so a run's images verify only where its key is.

The record is a JSON object (generator name, model SHA-256, seed, identity id, variation and
degradation parameters, kind such as ``"face"``, ``"frame"`` or ``"sheet"``, facelab version; see
:func:`make_record`). The signature is::

    HMAC-SHA256(key, b"facelab-provenance-v1" + canonical_json(record) + pixel_digest)
    pixel_digest = SHA-256(b"HxWx3" + raw bytes of the uint8 BGR array)

so editing one pixel value, editing the record, or copying a record onto another image all break
it. The record and its hex signature travel in an ``iTXt`` chunk with keyword
``facelab-provenance`` placed just before ``IEND``; the chunk reader and writer live in
:mod:`facelab.imageio` (no Pillow).

A JPEG's pixels depend on the decoder, so a JPEG is signed over its compressed bytes instead::

    stream_digest = SHA-256(b"jpeg:" + the file's bytes without the record segment)

The record travels in a comment segment (``FFFE``, text ``facelab-provenance`` NUL JSON) right
after the start-of-image marker. Re-encoding, editing a pixel or the record breaks it the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facelab import __version__, paths
from facelab.errors import DataError, ProvenanceError
from facelab.fileio import write_atomic
from facelab.imageio import (
    JPEG_SOI,
    PNG_SIGNATURE,
    decode_image,
    jpeg_segments,
    png_chunk,
    png_chunks,
    read_bytes,
)

log = logging.getLogger(__name__)

KEY_ENV = "FACELAB_PROVENANCE_KEY"
KEY_BYTES = 32
KEYWORD = b"facelab-provenance"
DOMAIN = b"facelab-provenance-v1"
FRAME_JPEG_QUALITY = 95
"""JPEG quality of archived camera frames (visually lossless; the scene itself is degraded by the
camera's quality profile before this)."""
JPEG_COMMENT = 0xFE
_JPEG_SEGMENT_MAX = 0xFFFF - 2
_WHY = "facelab works only on the synthetic faces it generates, never on photos of real people"


@dataclass(frozen=True, eq=False)
class VerifiedImage:
    """An image whose provenance record verified.

    Attributes
    ----------
    image : numpy.ndarray
        ``uint8`` array of shape ``(H, W, 3)``, BGR order.
    record : dict
        The provenance record (see :func:`make_record`).
    path : Path or None
        The file it came from, ``None`` when verified from bytes.
    """

    image: np.ndarray
    record: dict[str, Any]
    path: Path | None


# --------------------------------------------------------------------------- key


def key_path() -> Path:
    """The provenance key file: ``$FACELAB_PROVENANCE_KEY``, else ``model_dir()/provenance.key``."""
    env = os.environ.get(KEY_ENV)
    return Path(env) if env else paths.model_dir() / "provenance.key"


def load_key(create: bool = True) -> bytes:
    """Return the 32-byte provenance key, creating the key file on first use.

    The file is created with mode 0600 by writing a temporary file and linking it into place, so
    two processes starting at once end up sharing one key rather than overwriting each other's.

    Parameters
    ----------
    create : bool
        Create the key file if it is missing. Verification passes ``False``: a fresh key could
        not verify anything.

    Raises
    ------
    ProvenanceError
        If the key file is missing (and ``create`` is false), unreadable, or not 32 bytes.
    """
    path = key_path()
    if not path.exists():
        if not create:
            raise ProvenanceError(
                f"refused: no provenance key at {path}, so no image can be verified here; "
                f"images verify only where the key that signed them is (set {KEY_ENV})"
            )
        _create_key(path)
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ProvenanceError(f"cannot read provenance key {path}: {exc.strerror or exc}") from None
    if len(key) != KEY_BYTES:
        raise ProvenanceError(
            f"provenance key {path} is malformed ({len(key)} bytes, expected {KEY_BYTES})"
        )
    return key


def _create_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".provenance-", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, os.urandom(KEY_BYTES))
        os.fsync(fd)
        os.close(fd)
        fd = -1
        try:
            os.link(tmp, path)  # fails if another process made the key first: keep theirs
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links
            if not path.exists():
                os.replace(tmp, path)
        else:
            log.info("created provenance key %s", path)
    finally:
        if fd >= 0:
            os.close(fd)
        Path(tmp).unlink(missing_ok=True)


# --------------------------------------------------------------------------- signing


def make_record(
    kind: str,
    *,
    generator: str,
    model_sha256: str,
    seed: int,
    identity: str | int | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a provenance record with the current facelab version.

    Parameters
    ----------
    kind : str
        What the image is: ``"face"``, ``"frame"``, ``"sheet"``...
    generator : str
        Name of the generator model.
    model_sha256 : str
        SHA-256 (hex) of the generator's model file.
    seed : int
        Seed the image was made from.
    identity : str, int or None
        Identity id of the synthetic person, when there is one.
    params : dict, optional
        Variation and degradation parameters (JSON-serialisable).
    """
    return {
        "kind": kind,
        "generator": generator,
        "model_sha256": model_sha256,
        "seed": int(seed),
        "identity": identity,
        "params": dict(params or {}),
        "facelab_version": __version__,
    }


def canonical_json(record: dict[str, Any]) -> bytes:
    """The record as canonical JSON bytes: sorted keys, no spaces, ASCII, no NaN."""
    if not isinstance(record, dict):
        raise DataError(f"a provenance record must be a dict, got {type(record).__name__}")
    try:
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DataError(f"provenance record is not plain JSON: {exc}") from None
    return text.encode("ascii")


def _check_bgr(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise DataError("provenance images must be uint8 numpy arrays")
    if image.ndim != 3 or image.shape[2] != 3:
        raise DataError(f"provenance images must have shape (H, W, 3), got {image.shape}")
    return np.ascontiguousarray(image)


def pixel_digest(image: np.ndarray) -> bytes:
    """SHA-256 of the shape as text (``b"HxWx3"``) followed by the raw BGR pixel bytes."""
    image = _check_bgr(image)
    h, w, c = image.shape
    digest = hashlib.sha256(f"{h}x{w}x{c}".encode("ascii"))
    digest.update(image.tobytes())
    return digest.digest()


def stream_digest(jpeg: bytes) -> bytes:
    """SHA-256 of a JPEG's bytes (without its record segment), the digest a JPEG is signed over."""
    return hashlib.sha256(b"jpeg:" + jpeg).digest()


def _signature(digest: bytes, record: dict[str, Any], key: bytes | None) -> str:
    key = load_key() if key is None else key
    message = DOMAIN + canonical_json(record) + digest
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(image: np.ndarray, record: dict[str, Any], key: bytes | None = None) -> str:
    """Hex HMAC-SHA256 signature binding ``record`` to the pixels of ``image``."""
    return _signature(pixel_digest(image), record, key)


def verify(image: np.ndarray, record: dict[str, Any], sig: str, key: bytes | None = None) -> bool:
    """Whether ``sig`` is the signature of ``record`` on ``image`` (constant-time compare).

    Raises
    ------
    ProvenanceError
        If ``key`` is omitted and there is no key file (verification never creates one).
    """
    try:
        digest = pixel_digest(image)
    except DataError:
        return False
    return _verify_digest(digest, record, sig, key)


def _verify_digest(digest: bytes, record: dict[str, Any], sig: str, key: bytes | None) -> bool:
    if not isinstance(sig, str) or not isinstance(record, dict):
        return False
    key = load_key(create=False) if key is None else key
    try:
        expected = _signature(digest, record, key)
    except DataError:
        return False
    return hmac.compare_digest(expected, sig.lower())


# --------------------------------------------------------------------------- PNG


def encode_png(image: np.ndarray, record: dict[str, Any], key: bytes | None = None) -> bytes:
    """Encode ``image`` as a PNG carrying ``record`` and its signature.

    Parameters
    ----------
    image : numpy.ndarray
        ``uint8`` array of shape ``(H, W, 3)``, BGR order.
    record : dict
        JSON-serialisable provenance record (see :func:`make_record`).
    key : bytes, optional
        The provenance key; loaded (or created) with :func:`load_key` when omitted.

    Returns
    -------
    bytes
        The PNG file.
    """
    image = _check_bgr(image)
    record = json.loads(canonical_json(record))  # what a reader will see, tuples as lists
    sig = sign(image, record, key)
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise DataError(f"OpenCV could not encode an image of shape {image.shape} as PNG")
    png = buf.tobytes()
    iend = png_chunks(png, "<encoded PNG>")[-1].offset
    # iTXt: keyword NUL, compression flag 0, method 0, empty language NUL, empty keyword NUL, text.
    payload = KEYWORD + b"\x00\x00\x00\x00\x00" + _carried(record, sig)
    return png[:iend] + png_chunk(b"iTXt", payload) + png[iend:]


def _carried(record: dict[str, Any], sig: str) -> bytes:
    """The JSON text an image carries: its record and signature."""
    text = json.dumps({"record": record, "sig": sig}, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8")


def encode_jpeg(
    image: np.ndarray,
    record: dict[str, Any],
    key: bytes | None = None,
    quality: int = FRAME_JPEG_QUALITY,
) -> bytes:
    """Encode ``image`` as a JPEG carrying ``record``, signed over the compressed stream.

    Parameters and return as :func:`encode_png`; ``quality`` is the JPEG quality (1-100).
    """
    image = _check_bgr(image)
    record = json.loads(canonical_json(record))
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise DataError(f"OpenCV could not encode an image of shape {image.shape} as JPEG")
    jpeg = buf.tobytes()
    payload = KEYWORD + b"\x00" + _carried(record, _signature(stream_digest(jpeg), record, key))
    if len(payload) > _JPEG_SEGMENT_MAX:
        raise DataError(f"provenance record too long for a JPEG comment ({len(payload)} bytes)")
    segment = bytes([0xFF, JPEG_COMMENT]) + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]


def encode(
    image: np.ndarray, record: dict[str, Any], path: str | Path, key: bytes | None = None
) -> bytes:
    """A signed PNG or JPEG, by the suffix of ``path`` (``.jpg``/``.jpeg`` or ``.png``)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        return encode_jpeg(image, record, key)
    if suffix == ".png":
        return encode_png(image, record, key)
    raise DataError(f"{path}: facelab writes .png or .jpg images, not {suffix or 'no suffix'!r}")


def write_image(
    path: str | Path, image: np.ndarray, record: dict[str, Any], key: bytes | None = None
) -> Path:
    """Write a signed image atomically (temporary file, fsync, rename); return its path.

    A PNG, or a JPEG when ``path`` ends in ``.jpg`` (see :func:`encode`).
    """
    path = Path(path)
    write_atomic(path, encode(image, record, path, key))
    log.debug("wrote %s (%s)", path, record.get("kind"))
    return path


def _text_of(chunk_type: bytes, payload: bytes) -> tuple[bytes, bytes]:
    """Split a tEXt or iTXt payload into (keyword, text bytes); text is b"" when unreadable."""
    keyword, _, rest = payload.partition(b"\x00")
    if chunk_type == b"tEXt":
        return keyword, rest
    if len(rest) < 2 or rest[0] != 0:  # compressed iTXt is not something facelab writes
        return keyword, b""
    _lang, _, rest = rest[2:].partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    return keyword, text


def read_record(data: bytes, name: str = "<bytes>") -> tuple[dict[str, Any], str] | None:
    """The provenance record and hex signature a PNG or JPEG carries, or ``None`` when it has none.

    Parameters
    ----------
    data : bytes
        A PNG or JPEG file. Other bytes carry no record and give ``None``.
    name : str
        Name used in error messages.

    Raises
    ------
    ImageError
        If the PNG or JPEG structure is broken (truncated, bad CRC).
    ProvenanceError
        If a record is present but malformed, or present more than once.
    """
    if data.startswith(JPEG_SOI):
        texts = [seg.data[len(KEYWORD) + 1 :] for seg in _jpeg_records(data, name)]
    elif data.startswith(PNG_SIGNATURE):
        texts = [
            _text_of(c.type, c.data)[1]
            for c in png_chunks(data, name)
            if c.type in (b"tEXt", b"iTXt") and c.data.startswith(KEYWORD + b"\x00")
        ]
    else:
        return None
    if not texts:
        return None
    if len(texts) > 1:
        raise _malformed(name, f"{len(texts)} records where one is allowed")
    try:
        obj = json.loads(texts[0].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _malformed(name, "not valid JSON") from None
    except RecursionError:
        raise _malformed(name, "JSON nested too deeply") from None
    if _depth(obj) > MAX_RECORD_DEPTH:
        raise _malformed(name, f"JSON nested more than {MAX_RECORD_DEPTH} levels deep")
    if not isinstance(obj, dict) or set(obj) != {"record", "sig"}:
        raise _malformed(name, 'expected an object with "record" and "sig"')
    record, sig = obj["record"], obj["sig"]
    if not isinstance(record, dict):
        raise _malformed(name, '"record" is not an object')
    if not isinstance(sig, str) or len(sig) != 64 or not set(sig) <= set("0123456789abcdef"):
        raise _malformed(name, '"sig" is not a 64-digit hex HMAC-SHA256')
    return record, sig


MAX_RECORD_DEPTH = 16
"""Deepest nesting of objects and arrays accepted in a provenance record's JSON."""


def _depth(obj) -> int:
    """Nesting depth of JSON ``obj`` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(obj, 0)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, d + 1)
            if deepest > MAX_RECORD_DEPTH:
                return deepest
            stack.extend((x, d + 1) for x in (node.values() if isinstance(node, dict) else node))
    return deepest


def _jpeg_records(data: bytes, name: str):
    """The comment segments of a JPEG that hold a facelab record."""
    return [
        seg for seg in jpeg_segments(data, name)
        if seg.code == JPEG_COMMENT and seg.data.startswith(KEYWORD + b"\x00")
    ]  # fmt: skip


def _content_digest(data: bytes, image: np.ndarray, name: str) -> bytes:
    """What the signature covers: a JPEG's stream without its record, else the pixels."""
    if data.startswith(JPEG_SOI):
        seg = _jpeg_records(data, name)[0]
        return stream_digest(data[: seg.offset] + data[seg.end :])
    return pixel_digest(image)


def _malformed(name: str, why: str) -> ProvenanceError:
    return ProvenanceError(
        f"refused: {name} has a malformed facelab provenance record ({why}) — {_WHY}"
    )


def load_verified(source: str | Path | bytes, key: bytes | None = None) -> VerifiedImage:
    """The synthetic-only guard: decode an image only if its provenance record verifies.

    Parameters
    ----------
    source : str, Path or bytes
        An image file, or the bytes of one.
    key : bytes, optional
        The provenance key; read from :func:`key_path` when omitted (never created here).

    Returns
    -------
    VerifiedImage
        The ``uint8`` ``(H, W, 3)`` BGR image, its record and its path.

    Raises
    ------
    ProvenanceError
        If the image carries no record, a malformed one, or one whose signature does not match
        (pixels edited, record edited or forged, record copied from another image, or signed
        under another key). The message says why the lab refuses.
    ImageError
        If the file is unreadable or not a usable image (see :mod:`facelab.imageio`).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name, path = bytes(source), "<image bytes>", None
    else:
        path = Path(source)
        data, name = read_bytes(path), str(path)
    found = read_record(data, name)
    if found is None:
        raise ProvenanceError(f"refused: {name} carries no facelab provenance record — {_WHY}")
    record, sig = found
    image = decode_image(data, name)
    where = ""
    if key is None:
        key, where = load_key(create=False), f" than {key_path()}"
    if not _verify_digest(_content_digest(data, image, name), record, sig, key):
        raise ProvenanceError(
            f"refused: {name}'s provenance signature does not match — its pixels were edited, "
            f"or its record was edited, forged or copied from another image, or it was signed "
            f"under another provenance key{where}; {_WHY}"
        )
    return VerifiedImage(image=image, record=record, path=path)
