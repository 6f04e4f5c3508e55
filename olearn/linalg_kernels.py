"""Compiled (numba) CPU kernels of :mod:`olearn.linalg`: rank-``q`` updates of batched upper
triangular factors by Householder reflections, and back substitution.

A factor ``F`` (``m × m``, upper triangular, positive diagonal) stands for ``G = FᵀF``. Adding
rows ``V`` (``q × m``) to the Gram matrix, ``G + VᵀV``, is the QR factorization of the stacked
``[F; V]``: column ``j`` needs one Householder reflection of length ``q + 1`` (``F[j, j]`` and
``V[:, j]``), applied to the rest of row ``j`` and of ``V``, ``≈ 4q(m − j)`` flops. In all
``2qm²`` flops a update, half of a rank-``q`` Woodbury update of an inverse (``4qm²``), with a
factor that never drifts from a Gram matrix (an orthogonal transformation is backward
stable). With an augmented last column (``V``'s last entry the response) ``F[:m−1, m−1]`` is
``L⁻¹b`` and ``F[m−1, m−1]²`` the residual sum of squares of least squares, kept without any
solve.

``add_instances`` and ``add_bags`` run replicates in parallel (``prange``, under the run's
thread cap; each replicate's arithmetic is the same whatever the thread count, so results are
bit-identical), a replicate at a time per thread (its factor stays in cache for its ``q``
rows); strict IEEE arithmetic in the update, unsigned loop indices (numba's signed ones
carry a wrap-around branch that keeps the loops scalar). The back substitution lets the
compiler reassociate its dot products into vector lanes.

Examples
--------
>>> import numpy as np
>>> F = np.zeros((1, 3, 3)); F[0, 0, 0] = F[0, 1, 1] = 1.0     # G = diag(1, 1, 0), b = 0
>>> V = np.array([[[1.0, 1.0, 2.0]]])                            # add x = (1, 1), y = 2
>>> qr_update(F, V, 3)
>>> np.round(F[0].T @ F[0], 12).tolist()
[[2.0, 1.0, 2.0], [1.0, 2.0, 2.0], [2.0, 2.0, 4.0]]
>>> theta = np.empty((1, 2)); back_solve(F, theta, 2); np.round(theta, 12).tolist()
[[0.666666666667, 0.666666666667]]
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import uint64 as U

__all__ = ["add_bags", "add_instances", "back_solve", "qr_update"]

_CACHE = __name__.startswith("olearn.")
"""Cache on disk only under the olearn name (see ``olearn.agents.bandits.ridge_kernels``)."""


@numba.njit(cache=_CACHE, nogil=True)
def _reflect(Fr, Vr, k, cols, t, w):  # noqa: N803
    """One replicate: ``Fr`` (m, m) becomes the factor of ``FrᵀFr + VᵀV`` for the first ``k``
    rows of ``Vr`` (overwritten), on its first ``cols`` columns."""
    m = U(Fr.shape[0])
    for j in range(U(cols)):
        x0 = Fr[j, j]
        nrm = 0.0
        for q in range(k):
            nrm += Vr[q, j] * Vr[q, j]
        if nrm == 0.0:
            continue
        alpha = math.sqrt(x0 * x0 + nrm)
        if x0 > 0.0:                          # reflect away from x0 (no cancellation)
            alpha = -alpha
        inv = 1.0 / (x0 - alpha)
        for q in range(k):
            w[q] = Vr[q, j] * inv
        tau = (alpha - x0) / alpha
        row = Fr[j]
        for i in range(j + U(1), m):
            t[i] = row[i]
        for q in range(k):
            wq, vq = w[q], Vr[q]
            for i in range(j + U(1), m):
                t[i] += wq * vq[i]
        for i in range(j + U(1), m):
            t[i] *= tau
        if alpha < 0.0:                       # negate row j: a positive diagonal, same FᵀF
            Fr[j, j] = -alpha
            for i in range(j + U(1), m):
                row[i] = t[i] - row[i]
        else:
            Fr[j, j] = alpha
            for i in range(j + U(1), m):
                row[i] -= t[i]
        for q in range(k):
            wq, vq = w[q], Vr[q]
            for i in range(j + U(1), m):
                vq[i] -= wq * t[i]


@numba.njit(cache=_CACHE, nogil=True, fastmath={"reassoc", "contract", "nsz"}, error_model="numpy")
def _solve(Fr, th, d):  # noqa: N803
    """``th = Fr[:d, :d]⁻¹ Fr[:d, d]`` (back substitution)."""
    for jj in range(U(d)):
        j = U(d) - U(1) - jj
        row = Fr[j]
        s = 0.0
        for i in range(j + U(1), U(d)):
            s += row[i] * th[i]
        th[j] = (Fr[j, d] - s) / Fr[j, j]


@numba.njit(cache=_CACHE, nogil=True)
def qr_update(F, V, cols):  # noqa: N803
    """In place: ``F`` (n, m, m) becomes the upper factor of ``FᵀF + VᵀV`` (``V`` (n, q, m),
    overwritten) on its first ``cols`` columns; the rows ``< cols`` of the later columns are
    carried along (an augmented column). Columns whose ``V`` entries are all zero are skipped.
    """
    n, m = U(F.shape[0]), F.shape[1]
    t, w = np.empty(m), np.empty(V.shape[1])
    for r in range(n):
        _reflect(F[r], V[r], U(V.shape[1]), cols, t, w)


@numba.njit(cache=_CACHE, nogil=True, parallel=True)
def add_instances(F, x, y):  # noqa: N803
    """Least squares: add the rows ``[x_i, y_i]`` (``x`` (n, k, d), ``y`` (n, k)) to the
    augmented factors ``F`` (n, d+1, d+1), every column; ``F[r, d, d]²`` is then the residual
    sum of squares."""
    n, k, d = x.shape[0], U(x.shape[1]), U(x.shape[2])
    for r in numba.prange(n):
        V, t, w = np.empty((k, d + U(1))), np.empty(d + U(1)), np.empty(k)
        for q in range(k):
            for i in range(d):
                V[q, i] = x[r, q, i]
            V[q, d] = y[r, q]
        _reflect(F[r], V, k, d + U(1), t, w)


@numba.njit(cache=_CACHE, nogil=True, parallel=True)
def add_bags(F, x, ybar, rho, theta):  # noqa: N803
    """The interpolating closed form: add bag ``r`` (features ``x`` (n, k, d), released mean
    ``ybar`` (n,)) to the factor ``F[r]`` (d+1, d+1) of ``[[S_bag + ρS_within, c], [cᵀ, ·]]``
    as the rows ``[x̄ + √ρ(x_i − x̄), ȳ]`` (one row ``√k[x̄, ȳ]`` when ``ρ = 0``), then write
    ``θ = M⁻¹c`` to ``theta[r]``; a replicate at a time per thread, in cache."""
    n, k, d = x.shape[0], U(x.shape[1]), U(x.shape[2])
    sr, sk = math.sqrt(rho), math.sqrt(float(k))
    for r in numba.prange(n):
        V, t, w = np.empty((k, d + U(1))), np.empty(d + U(1)), np.empty(k)
        xbar = np.empty(d)
        for i in range(d):
            xbar[i] = 0.0
        for q in range(k):
            for i in range(d):
                xbar[i] += x[r, q, i]
        for i in range(d):
            xbar[i] /= float(k)
        if rho > 0.0:
            rows = k
            for q in range(k):
                for i in range(d):
                    V[q, i] = xbar[i] + sr * (x[r, q, i] - xbar[i])
                V[q, d] = ybar[r]
        else:
            rows = U(1)
            for i in range(d):
                V[0, i] = sk * xbar[i]
            V[0, d] = sk * ybar[r]
        _reflect(F[r], V, rows, d, t, w)
        _solve(F[r], theta[r], d)


@numba.njit(cache=_CACHE, nogil=True)
def back_solve(F, theta, d):  # noqa: N803
    """``theta[r] = F[r, :d, :d]⁻¹ F[r, :d, d]`` for every replicate ``r``."""
    for r in range(U(F.shape[0])):
        _solve(F[r], theta[r], d)
