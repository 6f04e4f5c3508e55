"""Compiled (numba) CPU kernels of :class:`~olearn.agents.ridge.BatchedRidge`.

On a CPU a round of a batched ridge model is memory-bound: LinUCB's widths read every arm's
``A⁻¹`` of every replicate, 256 × 10 × 20² float64 = 8 MB per round in the linear-CB
benchmark. These kernels halve that by storing each ``A⁻¹`` packed (its upper triangle,
row by row, ``P = d(d+1)/2`` numbers; the rank-one updates keep it exactly symmetric), and
``scores`` fuses a round's reading into one pass: means, squared widths, scores and the
argmax of every arm of every replicate, with no temporaries.

``d`` is a compile-time constant (one compiled pair per ``d``, cached on disk), so loops
have known lengths. Each kernel is a single variant, parallel over replicates: the same
machine code computes a replicate's numbers whatever R and the thread count, so replicate r
run alone matches replicate r of a batch bit for bit. ``update`` is strict IEEE arithmetic
(the state evolves identically on any CPU); ``scores`` lets the compiler reassociate its dot
products into vector lanes (1.7× faster; the order is fixed when compiled, so another CPU may
round the scores differently in the last bits).

Layouts: ``ap`` (R, M, P) packed ``A⁻¹``; ``theta`` (R, M, d); contexts shared ``x`` (R, d)
with ``M = K`` models, or per arm ``x`` (R, K, d) with ``M = K`` or ``M = 1``.

Examples
--------
>>> import numpy as np
>>> scores, update = compiled(3)
>>> ap, theta = packed_identity(1, 2, 3, 1.0), np.zeros((1, 2, 3))
>>> x = np.array([[1.0, 2.0, 2.0]])
>>> mean, w2, score, best = (np.empty((1, 2)), np.empty((1, 2)), np.empty((1, 2)),
...                          np.empty(1, dtype=np.int64))
>>> scores(ap, theta, x, 1.0, np.array([[1.0, 2.0]]), mean, w2, score, best, True)
>>> w2.tolist(), score.tolist(), best.tolist()
([[9.0, 9.0]], [[3.0, 6.0]], [1])
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numba import types
from numba import uint64 as U
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["MAX_DIM", "compiled", "packed_identity", "unpack", "warm"]


MAX_DIM = 4096
"""Largest ``d`` of the kernels: ``update`` keeps ``A⁻¹x`` (``d`` numbers) on the thread's stack."""


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


@functools.cache
def compiled(dim: int) -> tuple[Callable[..., None], Callable[..., None]]:
    """``(scores, update)`` for ``dim`` features; each parallel over replicates.

    ``scores(ap, theta, x, c, s, mean, w2, score, best, widths)`` writes per replicate ``r``
    and arm ``k`` ``mean = θᵀx``, ``w2 = |xᵀA⁻¹x|`` (if ``widths``), ``score = mean +
    c·s[r, k]·√w2``, and ``best[r]``, the first arm of the top score.
    ``update(ap, theta, model, x, y)`` adds ``(x[r], y[r])`` to model ``model[r]`` and returns
    -1; or, with a ``model[r]`` outside ``[0, M)``, changes nothing and returns that ``r``.

    Indices are unsigned (``U``): with signed ones every access carries a negative-index
    fix-up that keeps the compiler from vectorizing. With ``A⁻¹x`` in a stack buffer as well,
    ``update`` is 1.3–1.7× faster than with signed indices and heap scratch.
    """
    if not 1 <= dim <= MAX_DIM:
        msg = f"the CPU ridge kernels take 1 <= d <= {MAX_DIM} features, got {dim}"
        raise ValueError(msg)
    d, n_p = U(dim), U(dim * (dim + 1) // 2)

    @numba.njit(cache=True, nogil=True, parallel=True, fastmath={"reassoc"})
    def scores(ap, theta, x, c, s, mean, w2, score, best, widths):
        arms, n_mod = mean.shape[1], ap.shape[1]
        per_arm = x.ndim == 3
        zs = np.empty((ap.shape[0], n_p))
        for r in numba.prange(ap.shape[0]):
            xr, z = x[r].reshape(-1), zs[r]           # xr: (d,) or (K·d,), one code for both
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

    @numba.njit(cache=True, nogil=True, parallel=True)
    def update(ap, theta, model, x, y):
        n_mod = U(ap.shape[1])
        for r in range(ap.shape[0]):                  # refuse before changing anything
            if U(model[r]) >= n_mod:                  # (a negative index wraps to a huge one)
                return r
        for r in numba.prange(ap.shape[0]):
            u = numba.carray(_stack_array(dim), dim)  # u = A⁻¹x from the upper triangle
            a, th, xr = ap[r, model[r]], theta[r, model[r]], x[r]
            for i in range(d):
                u[i] = 0.0
            q = U(0)
            for i in range(d):                        # u_j += a_ij x_i for j > i (by symmetry)
                xi = xr[i]
                for j in range(U(1), d - i):
                    u[i + j] += a[q + j] * xi
                q += d - i
            q = U(0)
            for i in range(d):                        # u_i += Σ_{j≥i} a_ij x_j
                t = 0.0
                for j in range(d - i):
                    t += a[q + j] * xr[i + j]
                u[i] += t
                q += d - i
            sx, err = 0.0, y[r]
            for i in range(d):
                sx += u[i] * xr[i]
                err -= th[i] * xr[i]
            inv = 1.0 / (1.0 + sx)
            q = U(0)
            for i in range(d):
                vi = u[i] * inv                       # v = A⁻¹x / (1 + xᵀA⁻¹x)
                for j in range(d - i):                # Sherman–Morrison, A⁻¹ ← A⁻¹ − v uᵀ
                    a[q + j] -= vi * u[i + j]
                th[i] += vi * err                     # recursive least squares
                q += d - i
        return -1

    return scores, update


@functools.cache
def warm(dim: int) -> None:
    """Compile (first time on a machine: seconds) or load (from the disk cache) the kernels
    for ``dim`` features now, for both context layouts, rather than inside a timed round."""
    scores, update = compiled(dim)
    ap, theta = packed_identity(1, 1, dim, 1.0), np.zeros((1, 1, dim))
    outs = (np.empty((1, 1)), np.empty((1, 1)), np.empty((1, 1)), np.empty(1, np.int64))
    for x in (np.zeros((1, dim)), np.zeros((1, 1, dim))):
        scores(ap, theta, x, 1.0, np.ones((1, 1)), *outs, True)
    update(ap, theta, np.zeros(1, np.int64), np.zeros((1, dim)), np.zeros(1))


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
