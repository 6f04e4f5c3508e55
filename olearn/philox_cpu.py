"""Compiled (numba) CPU kernels of :mod:`olearn.philox`: the integer part and the uniforms.

Bit for bit the words and uniforms of :func:`olearn.philox.words`, ``_unit_f32`` and ``_unit_f64``
(tested), parallel over (draw, replicate) rows. torch's integer ops on a CPU run one pass per
operation over int64 arrays (about 100 passes for ten rounds); here each counter's ten rounds
stay in registers. Box–Muller stays in torch on every device (vectorized ``log``/``cos``/
``sin``), so a CPU run's normals are those of the torch path too.
"""

from __future__ import annotations

import numba
import numpy as np

_CACHE = __name__.startswith("olearn.")
"""Disk cache only under the olearn name (see ``olearn.agents.bandits.ridge_kernels``)."""

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_MASK = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


@numba.njit(cache=_CACHE, nogil=True, inline="always")
def _rounds(c0: np.uint64, c1: np.uint64, c2: np.uint64, k0: np.uint64,
            k1: np.uint64) -> tuple:  # pragma: no cover - compiled
    """Philox4x32-10 of counter ``(c0, c1, c2, 0)`` under key ``(k0, k1)``: the four words."""
    c3 = np.uint64(0)
    for _ in range(10):
        p0 = c0 * _M0
        p1 = c2 * _M1
        c0 = (p1 >> _S32) ^ c1 ^ k0
        c1 = p1 & _MASK
        c2 = (p0 >> _S32) ^ c3 ^ k1
        c3 = p0 & _MASK
        k0 = (k0 + _W0) & _MASK
        k1 = (k1 + _W1) & _MASK
    return c0, c1, c2, c3


@numba.njit(parallel=True, cache=_CACHE, nogil=True)
def unit_f32(key0: np.ndarray, key1: np.ndarray, draws: np.ndarray, m: int,
             out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Words ``w0..w3`` of counter ``(j, draws[i], 0, 0)`` under key ``r`` as float32
    ``((w >> 9) + ½) 2^-23``: ``out[0, i, r] = [w0 | w2]``, ``out[1, i, r] = [w1 | w3]``
    (each ``m`` wide over ``j``); ``out`` is ``(2, len(draws), R, 2m)``."""
    nd, r = draws.shape[0], key0.shape[0]
    s = np.float32(2.0**-23)
    half = np.float32(0.5)
    for row in numba.prange(nd * r):
        i, rep = row // r, row % r
        d = np.uint64(draws[i])
        lo_d, hi_d = d & _MASK, d >> _S32
        for j in range(m):
            c0, c1, c2, c3 = _rounds(np.uint64(j), lo_d, hi_d, np.uint64(key0[rep]),
                                     np.uint64(key1[rep]))
            out[0, i, rep, j] = (np.float32(c0 >> np.uint64(9)) + half) * s
            out[0, i, rep, m + j] = (np.float32(c2 >> np.uint64(9)) + half) * s
            out[1, i, rep, j] = (np.float32(c1 >> np.uint64(9)) + half) * s
            out[1, i, rep, m + j] = (np.float32(c3 >> np.uint64(9)) + half) * s


@numba.njit(parallel=True, cache=_CACHE, nogil=True)
def unit_f64(key0: np.ndarray, key1: np.ndarray, draws: np.ndarray, m: int,
             out: np.ndarray) -> None:  # pragma: no cover - compiled
    """As :func:`unit_f32` with two words a number: float64 ``(k + ½) 2^-52``, ``k`` the top 26
    bits of each word; ``out[0, i, r, j]`` from ``(w0, w1)``, ``out[1, i, r, j]`` from
    ``(w2, w3)``; ``out`` is ``(2, len(draws), R, m)``."""
    nd, r = draws.shape[0], key0.shape[0]
    for row in numba.prange(nd * r):
        i, rep = row // r, row % r
        d = np.uint64(draws[i])
        lo_d, hi_d = d & _MASK, d >> _S32
        for j in range(m):
            c0, c1, c2, c3 = _rounds(np.uint64(j), lo_d, hi_d, np.uint64(key0[rep]),
                                     np.uint64(key1[rep]))
            a = ((c0 >> np.uint64(6)) << np.uint64(26)) | (c1 >> np.uint64(6))
            b = ((c2 >> np.uint64(6)) << np.uint64(26)) | (c3 >> np.uint64(6))
            out[0, i, rep, j] = (np.float64(a) + 0.5) * 2.0**-52
            out[1, i, rep, j] = (np.float64(b) + 0.5) * 2.0**-52
