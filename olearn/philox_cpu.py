"""Compiled (numba) CPU kernels of :mod:`olearn.philox`: the words, uniforms and normals.

Bit for bit the words and uniforms of :func:`olearn.philox.words`, ``_unit_f32`` and ``_unit_f64``
(tested), parallel over (draw, replicate) rows. torch's integer ops on a CPU run one pass per
operation over int64 arrays (about 100 passes for ten rounds); here each counter's ten rounds
stay in registers.

The float32 normals (:func:`normal_f32`) are Box–Muller on the same uniforms, in the same
places, made in the same pass as the words: ``ln u1`` and ``sin``/``cos 2πu2`` are branch-free
float32 polynomials (Cephes' ``logf``; a degree-9 odd fit of ``sin 2πt`` on ``|t| ≤ ¼``, the
angle reduced in turns, exactly) that the compiler vectorizes, where a libm call per number
would not. They are the torch path's normals to a few float32 ulps (``|Δ| < 4e-6``, tested),
not bit for bit; float64 normals keep torch's Box–Muller.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

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


@intrinsic
def _as_bits(typingctx: Any, x: Any) -> Any:  # pragma: no cover - compiled
    """The bit pattern of a float32 as a uint32 (a reinterpreting cast, no conversion)."""
    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.IntType(32))
    return types.uint32(types.float32), codegen


@intrinsic
def _as_f32(typingctx: Any, x: Any) -> Any:  # pragma: no cover - compiled
    """The float32 whose bit pattern is a uint32."""
    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.uint32), codegen


_F = np.float32
_LOG_P = tuple(_F(c) for c in (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1,
                               -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
                               2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1))
_SIN_P = tuple(_F(c) for c in (6.28318516, -41.34165503, 81.60100408, -76.54978247,
                               39.53670727))   # sin 2πt ≈ t·P(t²) on |t| ≤ ¼ (3e-9)


@numba.njit(cache=_CACHE, nogil=True, inline="always")
def _neg2log(u: np.float32) -> np.float32:  # pragma: no cover - compiled
    """``−2 ln u`` for a float32 ``u`` in (0, 1) (Cephes ``logf``, branch-free)."""
    bits: Any = _as_bits(u)  # type: ignore[call-arg]
    e = np.int32(bits >> np.uint32(23)) - np.int32(126)        # u = f 2^e, f in [½, 1)
    f = _as_f32((bits & np.uint32(0x007FFFFF)) | np.uint32(0x3F000000))
    low = f < _F(0.70710677)
    e = e - np.int32(1) if low else e
    x = (f + f - _F(1.0)) if low else (f - _F(1.0))
    z = x * x
    p = _LOG_P[0]
    p = p * x + _LOG_P[1]
    p = p * x + _LOG_P[2]
    p = p * x + _LOG_P[3]
    p = p * x + _LOG_P[4]
    p = p * x + _LOG_P[5]
    p = p * x + _LOG_P[6]
    p = p * x + _LOG_P[7]
    p = p * x + _LOG_P[8]
    ef = _F(e)
    y = x * z * p + ef * _F(-2.12194440e-4) - _F(0.5) * z
    return _F(-2.0) * (x + y + ef * _F(0.693359375))


@numba.njit(cache=_CACHE, nogil=True, inline="always")
def _sin_turns(t: np.float32) -> np.float32:  # pragma: no cover - compiled
    """``sin 2πt`` for ``|t| ≤ ¼``."""
    z = t * t
    p = _SIN_P[4]
    p = p * z + _SIN_P[3]
    p = p * z + _SIN_P[2]
    p = p * z + _SIN_P[1]
    p = p * z + _SIN_P[0]
    return t * p


@numba.njit(cache=_CACHE, nogil=True, inline="always")
def _box_muller(w1: np.uint64, w2: np.uint64) -> tuple:  # pragma: no cover - compiled
    """The pair ``(√(−2 ln u1) sin 2πu2, √(−2 ln u1) cos 2πu2)`` of the words' float32
    uniforms ``u = ((w >> 9) + ½) 2^-23``. With ``y = u2 − ½`` (exact), ``sin 2πu2 = −sin 2πy``
    and ``cos 2πu2 = −cos 2πy = −sin 2π(¼ − |y|)``; ``sin 2π|y| = sin 2π min(|y|, ½ − |y|)``."""
    s = _F(2.0**-23)
    u1 = (_F(w1 >> np.uint64(9)) + _F(0.5)) * s
    u2 = (_F(w2 >> np.uint64(9)) + _F(0.5)) * s
    rad = np.sqrt(_neg2log(u1))
    y = u2 - _F(0.5)
    a = abs(y)
    sa = _sin_turns(min(a, _F(0.5) - a))
    sn = -sa if y >= _F(0.0) else sa
    cs = -_sin_turns(_F(0.25) - a)
    return rad * sn, rad * cs


@numba.njit(parallel=True, cache=_CACHE, nogil=True)
def normal_f32(key0: np.ndarray, key1: np.ndarray, draws: np.ndarray, m: int,
               out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Box–Muller normals of the :func:`unit_f32` pairs, in the places of
    :func:`olearn.philox.normals`: ``out[i, r] = [n(w0, w1) sin | n(w2, w3) sin | n(w0, w1) cos
    | n(w2, w3) cos]``, each ``m`` wide over ``j``; ``out`` is ``(len(draws), R, 4m)``."""
    nd, r = draws.shape[0], key0.shape[0]
    for row in numba.prange(nd * r):
        i, rep = row // r, row % r
        d = np.uint64(draws[i])
        lo_d, hi_d = d & _MASK, d >> _S32
        k0, k1 = np.uint64(key0[rep]), np.uint64(key1[rep])
        o = out[i, rep]
        for j in range(m):
            c0, c1, c2, c3 = _rounds(np.uint64(j), lo_d, hi_d, k0, k1)
            s0, co0 = _box_muller(c0, c1)
            s1, co1 = _box_muller(c2, c3)
            o[j] = s0
            o[m + j] = s1
            o[2 * m + j] = co0
            o[3 * m + j] = co1


@numba.njit(cache=_CACHE, nogil=True)
def box_muller_pair(w1: int, w2: int) -> tuple:  # pragma: no cover - compiled
    """:func:`normal_f32`'s pair of two words (for tests): ``(sin, cos)`` normals as floats."""
    s, c = _box_muller(np.uint64(w1), np.uint64(w2))
    return float(s), float(c)


@numba.njit(parallel=True, cache=_CACHE, nogil=True)
def uniform_rows_f32(key0: np.ndarray, key1: np.ndarray, draws: np.ndarray, m: int,
                     out: np.ndarray) -> None:  # pragma: no cover - compiled
    """:func:`unit_f32`'s uniforms as the rows of :func:`olearn.philox.unit_block`:
    ``out[i, r] = [w0 | w2 | w1 | w3]``, each ``m`` wide over ``j``; ``out`` is
    ``(len(draws), R, 4m)`` (no halves to concatenate afterwards)."""
    nd, r = draws.shape[0], key0.shape[0]
    s = np.float32(2.0**-23)
    half = np.float32(0.5)
    for row in numba.prange(nd * r):
        i, rep = row // r, row % r
        d = np.uint64(draws[i])
        lo_d, hi_d = d & _MASK, d >> _S32
        k0, k1 = np.uint64(key0[rep]), np.uint64(key1[rep])
        o = out[i, rep]
        for j in range(m):
            c0, c1, c2, c3 = _rounds(np.uint64(j), lo_d, hi_d, k0, k1)
            o[j] = (np.float32(c0 >> np.uint64(9)) + half) * s
            o[m + j] = (np.float32(c2 >> np.uint64(9)) + half) * s
            o[2 * m + j] = (np.float32(c1 >> np.uint64(9)) + half) * s
            o[3 * m + j] = (np.float32(c3 >> np.uint64(9)) + half) * s
