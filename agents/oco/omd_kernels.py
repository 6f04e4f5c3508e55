"""Compiled (numba) CPU kernels of optimistic OMD's Euclidean steps on a ball (fast streams).

:class:`~olearn.agents.oco.omd.OptimisticOMD` with the convex step, the Euclidean mirror map
and a ball runs, on a CPU under the fast kind, its two mirror steps as one pass each over a
replicate's ``d`` numbers: ``Π(x̂ − η v)`` (the act), and the adaptive step size's running
sum ``Σ‖g − M‖²`` with ``Π(x̂ − η g)`` (the update), where torch's path makes about five and
eight passes. Sums run in index order (torch's reductions sum in another order: the two agree
to rounding, which is why the kernels run only under the fast kind).
"""

from __future__ import annotations

import math

import numba
import numpy as np

_CACHE = __name__.startswith("olearn.")
"""Disk cache only under the olearn name (see ``olearn.agents.bandits.ridge_kernels``)."""


@numba.njit(parallel=True, cache=_CACHE, nogil=True)
def ball_step(x_hat: np.ndarray, v: np.ndarray, eta: np.ndarray, radius: float,
              out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``out[r] = Π_ball(x̂[r] − η[r] v[r])``, the projection ``y · radius / max(‖y‖, radius)``."""
    r_count, d = x_hat.shape
    for r in numba.prange(r_count):
        e = eta[r]
        n2 = 0.0
        for k in range(d):
            y = x_hat[r, k] - e * v[r, k]
            out[r, k] = y
            n2 += y * y
        scale = radius / max(math.sqrt(n2), radius)
        for k in range(d):
            out[r, k] *= scale


@numba.njit(parallel=True, cache=_CACHE, nogil=True)
def ball_update(x_hat: np.ndarray, g: np.ndarray, m: np.ndarray, eta: np.ndarray,
                radius: float, s: np.ndarray, s_out: np.ndarray,
                out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``s_out[r] = s[r] + ‖g[r] − m[r]‖²`` and ``out[r] = Π_ball(x̂[r] − η[r] g[r])``."""
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
            out[r, k] = y
            n2 += y * y
        s_out[r] = s[r] + acc
        scale = radius / max(math.sqrt(n2), radius)
        for k in range(d):
            out[r, k] *= scale
