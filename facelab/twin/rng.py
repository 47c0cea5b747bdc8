"""Counter-based random normals: each row a function of its own key, not of its batch.

A 64-bit key is mixed from (seed, stream, a[, b]) with the SplitMix64 finaliser
(:func:`row_keys`); the key plus ``j · γ`` (``j`` = 1…65, ``γ`` the golden-ratio increment) is
mixed again to give 65 × 64 random bits, and Box–Muller turns them into up to 130 standard
normals (:func:`normals`). A row therefore depends only on its own key: the same key gives the
same normals alone or in a batch, in any order or batch size, and no per-row generator object
is created.
"""

from __future__ import annotations

import sys

import numpy as np

from facelab.twin.model import DIM

_MASK = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_GAMMA2 = 0xD1B54A32D192ED03
_U64 = np.uint64
_M1, _M2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
_S30, _S27, _S31 = _U64(30), _U64(27), _U64(31)
_LITTLE = sys.byteorder == "little"
_COLUMNS = np.arange(1, 66, dtype=np.uint64) * _U64(_GAMMA)  # 65 × 64 bits → 130 normals


def _mix_int(x: int) -> int:
    """SplitMix64 finaliser on a Python int."""
    x &= _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, in place on a uint64 array (returns it)."""
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


def row_keys(seed: int, stream: int, a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """uint64 (n,) keys, one per row, from (seed, stream, a[, b]).

    Parameters
    ----------
    seed, stream : ints that select the sequence.
    a : int64 (n,), e.g. identity ids.
    b : optional int64 (n,), e.g. pass or photo ids.
    """
    k0 = _U64(_mix_int(_mix_int(int(seed) * _GAMMA + int(stream)) + _GAMMA2))
    h = np.asarray(a, dtype=np.int64).astype(np.uint64) * _U64(_GAMMA)
    h += k0
    _mix(h)
    if b is not None:
        h += np.asarray(b, dtype=np.int64).astype(np.uint64) * _U64(_GAMMA2)
        _mix(h)
    return h


def normals(keys: np.ndarray, n: int = DIM) -> np.ndarray:
    """float32 (len(keys), n) standard normals, each row a function of its key only (n ≤ 130).

    Each 64-bit hash gives two 23-bit uniforms (its two 32-bit halves, as float32 mantissas in
    [1, 2)) and so, by Box–Muller, two normals (tails cut at |z| ≈ 5.6).
    """
    cols = (n + 1) // 2
    x = keys[:, None] + _COLUMNS[None, :cols]
    _mix(x)
    bits = x.view(np.uint32)  # (m, 2·cols): low and high half of each hash
    bits >>= np.uint32(9)
    bits |= np.uint32(0x3F800000)
    f = bits.view(np.float32)  # uniform in [1, 2)
    lo, hi = (f[:, 0::2], f[:, 1::2]) if _LITTLE else (f[:, 1::2], f[:, 0::2])
    r = np.subtract(np.float32(2.0), hi)  # (0, 1]
    np.log(r, out=r)
    r *= np.float32(-2.0)
    np.sqrt(r, out=r)
    theta = np.subtract(lo, np.float32(1.0))
    theta *= np.float32(2.0 * np.pi)
    out = np.empty((len(keys), 2 * cols), np.float32)
    np.multiply(r, np.cos(theta), out=out[:, 0::2])
    np.multiply(r, np.sin(theta), out=out[:, 1::2])
    return out[:, :n] if n != 2 * cols else out
