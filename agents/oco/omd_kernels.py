"""Compiled (numba) CPU kernels of optimistic OMD's Euclidean steps on a ball (fast streams).

:class:`~olearn.agents.oco.omd.OptimisticOMD` with the convex step, the Euclidean mirror map
and a ball runs, on a CPU under the fast kind, its two mirror steps as one pass each over a
replicate's ``d`` numbers: the act's step size ``η = D/√s`` and ``Π(x̂ − η v)``, and the
update's running sum ``s += ‖g − M‖²`` with ``x̂ ← Π(x̂ − η g)`` (and, for the last-gradient
hint, the next hint ``g`` and the next act's step, so that act only hands it out), where
torch's path makes about five and ten passes and small operations. The sums may be
reassociated (``fastmath`` ``reassoc``: vectorized, in an order set by the code and this
CPU's vector width, the same for every replicate and every run of a machine) and run in
another order than torch's reductions: the two agree to rounding, which is why the kernels
run only under the fast kind.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_CACHE = __name__.startswith("olearn.")
"""Disk cache only under the olearn name (see ``olearn.agents.bandits.ridge_kernels``)."""

_FAST = {"reassoc", "nsz"}
"""Reassociated sums (vectorized); no other licence (no FMA contraction, NaN and inf kept)."""


@numba.njit(parallel=True, cache=_CACHE, nogil=True, fastmath=_FAST)
def ball_step(x_hat: np.ndarray, v: np.ndarray, s: np.ndarray, scale: float, radius: float,
              eta: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``eta[r] = scale/√s[r]`` and ``out[r] = Π_ball(x̂[r] − η[r] v[r])``, the projection
    ``y · radius / max(‖y‖, radius)``."""
    r_count, d = x_hat.shape
    for r in numba.prange(r_count):
        e = scale / math.sqrt(s[r])
        eta[r] = e
        n2 = 0.0
        for k in range(d):
            y = x_hat[r, k] - e * v[r, k]
            out[r, k] = y
            n2 += y * y
        f = radius / max(math.sqrt(n2), radius)
        for k in range(d):
            out[r, k] *= f


@numba.njit(parallel=True, cache=_CACHE, nogil=True, fastmath=_FAST)
def ball_update(x_hat: np.ndarray, g: np.ndarray, m: np.ndarray, eta: np.ndarray,
                radius: float, s: np.ndarray, keep_g: bool, m_next: np.ndarray, scale: float,
                x_next: np.ndarray, eta_next: np.ndarray) -> None:  # pragma: no cover - compiled
    """In place: ``s[r] += ‖g[r] − m[r]‖²`` and ``x̂[r] ← Π_ball(x̂[r] − η[r] g[r])``. With
    ``keep_g`` (the last-gradient hint), in the same pass: the next hint ``m_next[r] = g[r]``
    and the next act's step ``eta_next[r] = scale/√s[r]``, ``x_next[r] = Π_ball(x̂[r] −
    eta_next[r] g[r])`` (the row is still in the core's first-level cache)."""
    r_count, d = x_hat.shape
    for r in numba.prange(r_count):
        e = eta[r]
        n2 = 0.0
        acc = 0.0
        for k in range(d):
            gk = g[r, k]
            dg = gk - m[r, k]
            acc += dg * dg
            y = x_hat[r, k] - e * gk
            x_hat[r, k] = y
            n2 += y * y
        sr = s[r] + acc
        s[r] = sr
        f = radius / max(math.sqrt(n2), radius)
        for k in range(d):
            x_hat[r, k] *= f
        if keep_g:
            e2 = scale / math.sqrt(sr)
            eta_next[r] = e2
            n2 = 0.0
            for k in range(d):
                gk = g[r, k]
                m_next[r, k] = gk
                y = x_hat[r, k] - e2 * gk
                x_next[r, k] = y
                n2 += y * y
            f = radius / max(math.sqrt(n2), radius)
            for k in range(d):
                x_next[r, k] *= f
