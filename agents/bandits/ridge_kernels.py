"""Compiled (numba) CPU kernels of :class:`~olearn.agents.bandits.ridge_compiled.CompiledRidge`.

On a CPU a round of a batched ridge model is memory-bound: LinUCB's widths read every arm's
``A⁻¹`` of every replicate. These kernels halve those bytes by storing each ``A⁻¹`` packed
(its upper triangle, row by row, ``P = d(d+1)/2`` numbers; the rank-one updates keep it
exactly symmetric), and ``scores`` fuses a round's reading into one pass: means, squared
widths, scores and the argmax of every arm of every replicate, with no temporaries. It also
makes the previous round's update (which the backend defers until the next scoring): one
parallel region a round instead of two, and a replicate's models are read while still in
cache from its update.

``d`` is a compile-time constant (one compiled set per ``d``, cached on disk), so loops
have known lengths. Each kernel is a single variant, parallel over replicates: the same
machine code computes a replicate's numbers whatever R and the thread count, so replicate r
run alone matches replicate r of a batch bit for bit. Learning is strict IEEE arithmetic in
one function for both entry points (the state evolves identically on any CPU, deferred or
not); ``scores`` lets the compiler reassociate its dot products into vector lanes (the order
is fixed when compiled, so another CPU may round the scores differently in the last bits).
The parallel kernels take a thread limit (0: none) under the calling thread's numba thread
count, which they restore on return.

Layouts: ``ap`` (R, M, P) packed ``A⁻¹``; ``theta`` (R, M, d); contexts shared ``x`` (R, d)
with ``M = K`` models, or per arm ``x`` (R, K, d) with ``M = K`` or ``M = 1``.

Examples
--------
>>> import numpy as np
>>> kernels = compiled(3)
>>> ap, theta = packed_identity(1, 2, 3, 1.0), np.zeros((1, 2, 3))
>>> x = np.array([[1.0, 2.0, 2.0]])
>>> no_update = np.empty(0, dtype=np.int64), np.empty((0, 3)), np.empty(0)
>>> mean, w2, score, best = (np.empty((1, 2)), np.empty((1, 2)), np.empty((1, 2)),
...                          np.empty(1, dtype=np.int64))
>>> kernels.scores(ap, theta, *no_update, x, 1.0, np.array([[1.0, 2.0]]),
...                mean, w2, score, best, True, 0)
>>> w2.tolist(), score.tolist(), best.tolist()
([[9.0, 9.0]], [[3.0, 6.0]], [1])
>>> kernels.scores(ap, theta, np.array([1]), x, np.array([9.0]), x, 1.0, np.ones((1, 2)),
...                mean, w2, score, best, True, 1)   # first learns y = 9 at x for model 1
>>> mean.tolist(), best.tolist()
([[0.0, 8.1]], [1])
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba import uint64 as U
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["MAX_DIM", "compiled", "packed_identity", "unpack", "warm"]

_CACHE = __name__.startswith("olearn.")
"""Cache the compiled kernels on disk only when imported as part of olearn: numba keys its
cache by source file, and an entry written under another module name (pytest imports this
file as ``agents.…`` for its doctests) would fail to load in olearn."""


MAX_DIM = 4096
"""Largest ``d`` of the kernels: ``update`` keeps ``A⁻¹x`` (``d`` numbers) on the thread's stack."""

_STACK_Z_DIM = 64
"""Up to this ``d``, ``scores`` keeps ``vech(x xᵀ)`` (16 KB at most) on the thread's stack."""


@intrinsic
def _stack_array(typingctx: Any, size: Any) -> Any:
    """A float64 buffer of ``size`` (a compile-time constant) on the stack, as a raw pointer.

    A stack buffer cannot alias an argument array, so the compiler vectorizes loops that read
    one and write the other; with heap scratch it must assume they overlap.
    """
    if not isinstance(size, types.IntegerLiteral):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return cgutils.alloca_once(builder, context.get_value_type(types.float64),
                                   size=context.get_constant(types.intp, size.literal_value))

    return types.CPointer(types.float64)(size), codegen


class Kernels(NamedTuple):
    """The compiled kernels for one ``d`` (see :func:`compiled`)."""

    scores: Callable[..., None]
    update: Callable[..., int]
    first_bad: Callable[..., int]


@numba.njit(cache=_CACHE, nogil=True)
def _learn(a, th, xr, y, dim):
    """One model's Sherman–Morrison and least-squares step; strict IEEE arithmetic.

    ``dim`` arrives as a compile-time constant (the callers' closure variable), so the loops
    have known lengths and ``A⁻¹x`` lives in a stack buffer. A module-level function, not a
    closure: a compiled function that closes over another is never found in numba's disk
    cache, and would be compiled anew in every process.
    """
    d = U(dim)
    u = numba.carray(_stack_array(dim), dim)      # u = A⁻¹x from the upper triangle
    for i in range(d):
        u[i] = 0.0
    q = U(0)
    for i in range(d):                            # u_j += a_ij x_i for j > i (by symmetry)
        xi = xr[i]
        for j in range(U(1), d - i):
            u[i + j] += a[q + j] * xi
        q += d - i
    q = U(0)
    for i in range(d):                            # u_i += Σ_{j≥i} a_ij x_j
        t = 0.0
        for j in range(d - i):
            t += a[q + j] * xr[i + j]
        u[i] += t
        q += d - i
    sx, err = 0.0, y
    for i in range(d):
        sx += u[i] * xr[i]
        err -= th[i] * xr[i]
    inv = 1.0 / (1.0 + sx)
    q = U(0)
    for i in range(d):
        vi = u[i] * inv                           # v = A⁻¹x / (1 + xᵀA⁻¹x)
        for j in range(d - i):                    # Sherman–Morrison, A⁻¹ ← A⁻¹ − v uᵀ
            a[q + j] -= vi * u[i + j]
        th[i] += vi * err                         # recursive least squares
        q += d - i


@intrinsic
def _get_threads(typingctx: Any) -> Any:
    """The calling thread's numba thread count, called by symbol name.

    ``numba.get_num_threads`` and ``set_num_threads`` reach the threading layer through ctypes
    pointers, which keep a kernel out of numba's disk cache; numba's own parallel loops call
    these symbols by name, as these intrinsics do. Launching numba's threads registers them.
    """
    numba.get_num_threads()

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        fnty = ir.FunctionType(ir.IntType(types.intp.bitwidth), [])   # as numba declares it
        return builder.call(cgutils.get_or_insert_function(builder.module, fnty,
                                                           "get_num_threads"), [])

    return types.intp(), codegen


@intrinsic
def _set_threads(typingctx: Any, n: Any) -> Any:
    """Set the calling thread's numba thread count to ``n`` (1 to the launched threads)."""
    numba.get_num_threads()

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(32)])
        builder.call(cgutils.get_or_insert_function(builder.module, fnty, "set_num_threads"),
                     [builder.trunc(args[0], ir.IntType(32))])
        return context.get_dummy_value()

    return types.none(types.intp), codegen


@numba.njit(cache=_CACHE, nogil=True)
def _limit_threads(limit):
    """Lower the calling thread's numba thread count to ``limit`` (0: leave it); the old count."""
    old = _get_threads()
    if 0 < limit < old:
        _set_threads(limit)
    return old


@numba.njit(cache=_CACHE, nogil=True)
def first_bad(model, n_mod):
    """-1, or the first ``r`` whose ``model[r]`` is outside ``[0, n_mod)``; serial."""
    for r in range(model.shape[0]):               # (a negative index wraps to a huge one)
        if U(model[r]) >= U(n_mod):
            return r
    return -1


@functools.cache
def compiled(dim: int) -> Kernels:
    """The kernels for ``dim`` features; ``scores`` and ``update`` parallel over replicates.

    ``update(ap, theta, model, x, y, threads)`` adds ``(x[r], y[r])`` to model ``model[r]`` and
    returns -1; or, with a ``model[r]`` outside ``[0, M)``, changes nothing and returns that
    ``r``. ``scores(ap, theta, model, xu, y, x, c, s, mean, w2, score, best, widths, threads)``
    first makes that update, unless ``model`` is empty, then writes per replicate ``r`` and
    arm ``k`` ``mean = θᵀx``, ``w2 = |xᵀA⁻¹x|`` (if ``widths``), ``score = mean + c·s[r, k]·√w2``,
    and ``best[r]``, the first arm of the top score. Its update is in the same pass: a
    replicate's scores read its models right after the update wrote one (one parallel region a
    round, not two). It trusts ``model``: check it first with ``first_bad(model, M)``, the serial
    check that ``update`` makes (-1 or the first bad ``r``). Both run on at most ``threads``
    threads (0: the calling thread's numba thread count); the numbers never depend on it.

    Indices are unsigned (``U``): with signed ones every access carries a negative-index
    fix-up that keeps the compiler from vectorizing; ``A⁻¹x`` lives in a stack buffer, for the
    same reason.
    """
    if not 1 <= dim <= MAX_DIM:
        msg = f"the CPU ridge kernels take 1 <= d <= {MAX_DIM} features, got {dim}"
        raise ValueError(msg)
    numba.get_num_threads()   # launch the threads: kernels loaded from the disk cache link now
    d, n_p = U(dim), U(dim * (dim + 1) // 2)
    p_stack = dim * (dim + 1) // 2 if dim <= _STACK_Z_DIM else 1
    p_heap = 0 if dim <= _STACK_Z_DIM else dim * (dim + 1) // 2

    @numba.njit(cache=_CACHE, nogil=True, parallel=True)
    def update(ap, theta, model, x, y, threads):
        bad = first_bad(model, ap.shape[1])           # refuse before changing anything
        if bad >= 0:
            return bad
        old = _limit_threads(threads)
        for r in numba.prange(ap.shape[0]):
            _learn(ap[r, model[r]], theta[r, model[r]], x[r], y[r], dim)
        _set_threads(old)
        return -1

    @numba.njit(cache=_CACHE, nogil=True, parallel=True, fastmath={"reassoc"})
    def scores(ap, theta, model, xu, y, x, c, s, mean, w2, score, best, widths, threads):
        arms, n_mod = mean.shape[1], ap.shape[1]
        per_arm, learning = x.ndim == 3, model.shape[0] > 0
        zs = np.empty((ap.shape[0], p_heap))
        old = _limit_threads(threads)
        for r in numba.prange(ap.shape[0]):
            if learning:                              # first the deferred update, if any
                _learn(ap[r, model[r]], theta[r, model[r]], xu[r], y[r], dim)
            xr = x[r].reshape(-1)                     # xr: (d,) or (K·d,), one code for both
            z = zs[r] if p_heap else numba.carray(_stack_array(p_stack), p_stack)
            top, top_k = -np.inf, 0
            for k in range(arms):
                o = U(k) * d if per_arm else U(0)     # where arm k's context starts in xr
                m = k if n_mod > 1 else 0
                a, th = ap[r, m], theta[r, m]
                mu = 0.0
                for i in range(d):
                    mu += th[i] * xr[o + i]
                mean[r, k] = mu
                v = mu
                if widths:
                    if per_arm or k == 0:             # z = vech(x xᵀ), off-diagonals doubled
                        q = U(0)
                        for i in range(d):
                            xi = xr[o + i]
                            z[q] = xi * xi
                            for j in range(U(1), d - i):
                                z[q + j] = 2.0 * xi * xr[o + i + j]
                            q += d - i
                    w = 0.0
                    for q in range(n_p):              # xᵀA⁻¹x = Σ_q ap_q z_q
                        w += a[q] * z[q]
                    w = abs(w)                        # ≥ 0 but for rounding
                    w2[r, k] = w
                    v = mu + c * s[r, k] * np.sqrt(w)
                score[r, k] = v
                if v > top or k == 0:
                    top, top_k = v, k
            best[r] = top_k
        _set_threads(old)

    return Kernels(scores, update, first_bad)


@functools.cache
def warm(dim: int) -> None:
    """Compile (first time on a machine: seconds) or load (from the disk cache) the kernels
    for ``dim`` features now, for both context layouts, rather than inside a timed round."""
    k = compiled(dim)
    ap, theta = packed_identity(1, 1, dim, 1.0), np.zeros((1, 1, dim))
    outs = (np.empty((1, 1)), np.empty((1, 1)), np.empty((1, 1)), np.empty(1, np.int64))
    model, xu, y = np.zeros(1, np.int64), np.zeros((1, dim)), np.zeros(1)
    for x in (np.zeros((1, dim)), np.zeros((1, 1, dim))):
        for m in (model, model[:0]):
            k.scores(ap, theta, m, xu[: len(m)], y[: len(m)], x, 1.0, np.ones((1, 1)), *outs,
                     True, 0)
    k.update(ap, theta, model, xu, y, 0)
    k.first_bad(model, 1)


def packed_identity(replicates: int, models: int, dim: int, reg: float) -> np.ndarray:
    """Packed ``I / reg`` for every replicate and model, (R, M, P) float64."""
    rows, cols = np.triu_indices(dim)
    return np.broadcast_to(np.where(rows == cols, 1.0 / reg, 0.0),
                           (replicates, models, len(rows))).copy()


def unpack(ap: np.ndarray, dim: int) -> np.ndarray:
    """Full symmetric matrices (..., d, d) from packed upper triangles (..., P)."""
    rows, cols = np.triu_indices(dim)
    out = np.empty((*ap.shape[:-1], dim, dim))
    out[..., rows, cols] = ap
    out[..., cols, rows] = ap
    return out
