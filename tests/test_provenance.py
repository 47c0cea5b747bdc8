"""provenance: signed PNGs round-trip; the guard refuses anything else, saying why."""

from __future__ import annotations

import json
import stat

import cv2
import numpy as np
import pytest

from facelab import provenance
from facelab.errors import ImageError, ProvenanceError
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
    path = provenance.write_png(tmp_path / "f.png", image, record)
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
