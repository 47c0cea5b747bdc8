"""provenance: signed PNGs round-trip; the guard refuses anything else, saying why."""

from __future__ import annotations

import json
import stat

import cv2
import numpy as np
import pytest

from facelab.errors import ImageError, ProvenanceError
from facelab.governance import provenance
from facelab.imageio import png_chunk, png_chunks


@pytest.fixture(autouse=True)
def _key(tmp_path, monkeypatch):
    monkeypatch.setenv(provenance.KEY_ENV, str(tmp_path / "keys" / "provenance.key"))


def _face(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)


def _record(seed: int = 7) -> dict:
    return provenance.make_record(
        "face",
        generator="dcgan",
        model_sha256="ab" * 32,
        seed=seed,
        identity=3,
        params={"yaw": 12.5, "blur": 0.0, "jpeg": None},
    )


def _attach(image: np.ndarray, obj: dict) -> bytes:
    """A plain PNG of ``image`` carrying ``obj`` as its provenance chunk, signature or not."""
    ok, buf = cv2.imencode(".png", image)
    assert ok
    png = buf.tobytes()
    iend = png_chunks(png)[-1].offset
    payload = provenance.KEYWORD + b"\x00" * 5 + json.dumps(obj).encode()
    return png[:iend] + png_chunk(b"iTXt", payload) + png[iend:]


def test_round_trip(tmp_path):
    image, record = _face(), _record()
    path = provenance.write_image(tmp_path / "f.png", image, record)
    found = provenance.read_record(path.read_bytes())
    assert found is not None and found[0] == record
    verified = provenance.load_verified(path)
    np.testing.assert_array_equal(verified.image, image)
    assert verified.record == record and verified.path == path
    assert verified.image.dtype == np.uint8 and verified.image.shape == (64, 64, 3)
    # Bytes work too, and plain decoders still read the file.
    assert provenance.load_verified(path.read_bytes()).record == record
    np.testing.assert_array_equal(cv2.imread(str(path)), image)


def test_key_file_created_0600(tmp_path):
    key = provenance.load_key()
    path = provenance.key_path()
    assert path == tmp_path / "keys" / "provenance.key"
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert provenance.load_key() == key  # read back, not re-created


def test_refuses_image_without_record(tmp_path):
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), _face())
    provenance.load_key()
    with pytest.raises(ProvenanceError) as info:
        provenance.load_verified(path)
    msg = str(info.value)
    assert msg.startswith(f"refused: {path} carries no facelab provenance record")
    assert "never on photos of real people" in msg
    jpg = tmp_path / "photo.jpg"
    cv2.imwrite(str(jpg), _face())
    with pytest.raises(ProvenanceError, match="no facelab provenance record"):
        provenance.load_verified(jpg)


def test_refuses_malformed_record(tmp_path):
    bad = _attach(_face(), {"record": "seed=7"})
    with pytest.raises(ProvenanceError, match="malformed facelab provenance record"):
        provenance.load_verified(bad)


def test_refuses_forged_signature():
    provenance.load_key()
    forged = _attach(_face(), {"record": _record(), "sig": "0" * 64})
    with pytest.raises(ProvenanceError, match="signature does not match"):
        provenance.load_verified(forged)


def test_refuses_edited_record():
    png = provenance.encode_png(_face(), _record(seed=7))
    record, sig = provenance.read_record(png)
    edited = _attach(_face(), {"record": {**record, "seed": 8}, "sig": sig})
    assert provenance.load_verified(_attach(_face(), {"record": record, "sig": sig}))
    with pytest.raises(ProvenanceError, match="signature does not match"):
        provenance.load_verified(edited)


def test_refuses_edited_pixel():
    image, record = _face(), _record()
    record_read, sig = provenance.read_record(provenance.encode_png(image, record))
    edited = image.copy()
    edited[10, 20, 1] = edited[10, 20, 1] ^ 1  # one channel value changed by one bit
    assert provenance.verify(image, record_read, sig)
    assert not provenance.verify(edited, record_read, sig)
    tampered = _attach(edited, {"record": record_read, "sig": sig})
    with pytest.raises(ProvenanceError, match="pixels were edited"):
        provenance.load_verified(tampered)


def test_refuses_record_copied_onto_other_image():
    record, sig = provenance.read_record(provenance.encode_png(_face(0), _record()))
    copied = _attach(_face(1), {"record": record, "sig": sig})
    with pytest.raises(ProvenanceError, match="copied from another image"):
        provenance.load_verified(copied)


def test_refuses_other_key(tmp_path, monkeypatch):
    png = provenance.encode_png(_face(), _record())
    monkeypatch.setenv(provenance.KEY_ENV, str(tmp_path / "other.key"))
    with pytest.raises(ProvenanceError, match="no provenance key"):
        provenance.load_verified(png)
    provenance.load_key()
    with pytest.raises(ProvenanceError, match="another provenance key"):
        provenance.load_verified(png)


def test_corrupt_signed_png_is_an_image_error(tmp_path):
    png = provenance.encode_png(_face(), _record())
    with pytest.raises(ImageError, match="truncated PNG"):
        provenance.load_verified(png[:-20])


def test_encoding_is_deterministic():
    a = provenance.encode_png(_face(), _record())
    b = provenance.encode_png(_face(), _record())
    assert a == b


# --------------------------------------------------------------------------- JPEG (camera frames)


def _frame(seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), (7, 7), 2)
    return np.ascontiguousarray(img)


def test_jpeg_round_trip(tmp_path):
    path = provenance.write_image(tmp_path / "f.jpg", _frame(), _record())
    data = path.read_bytes()
    assert data.startswith(b"\xff\xd8\xff\xfe")  # the record comment comes first
    got = provenance.load_verified(path)
    assert got.record == _record()
    assert got.image.shape == (96, 128, 3)
    # lossy, but close: the frame is what was rendered, compressed as CCTV footage is
    assert np.abs(got.image.astype(int) - _frame().astype(int)).mean() < 3
    assert provenance.encode(_frame(), _record(), "x.jpeg") == data  # deterministic


def test_jpeg_refuses_edits(tmp_path):
    data = provenance.encode_jpeg(_frame(), _record())
    # a byte of the compressed scan (the last bytes before the end-of-image marker)
    scan = bytearray(data)
    scan[-10] ^= 0x01
    with pytest.raises(ProvenanceError, match="signature does not match"):
        provenance.load_verified(bytes(scan))
    # the record, re-signed by someone without the key
    forged = data.replace(b'"seed":7', b'"seed":8')
    assert forged != data
    with pytest.raises(ProvenanceError, match="signature does not match"):
        provenance.load_verified(forged)
    # the same pixels re-encoded (another quality): another stream, so refused
    other = provenance.encode_jpeg(_frame(), _record(), quality=80)
    moved = data[: data.index(b"\xff\xdb")] + other[other.index(b"\xff\xdb") :]
    with pytest.raises(ProvenanceError, match="signature does not match"):
        provenance.load_verified(moved)


def test_jpeg_without_record_or_cut(tmp_path):
    ok, buf = cv2.imencode(".jpg", _frame())
    with pytest.raises(ProvenanceError, match="carries no facelab provenance record"):
        provenance.load_verified(buf.tobytes())
    data = provenance.encode_jpeg(_frame(), _record())
    with pytest.raises(ImageError, match="truncated JPEG"):
        provenance.load_verified(data[: len(data) // 2])
    with pytest.raises(Exception, match="writes .png or .jpg"):
        provenance.write_image(tmp_path / "f.bmp", _frame(), _record())
