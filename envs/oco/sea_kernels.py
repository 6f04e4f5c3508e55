"""Compiled (numba) CPU kernel of the SEA environment's linear rounds under the fast streams.

One pass over the replicate's ``d`` numbers does what the torch path does in about twenty:
the noisy loss vector ``v = c + a z + b`` (``z`` the float32 block of the fast stream), the
running sums ``Σc`` and ``Σv``, the realized and expected losses ``⟨v, x⟩`` and ``⟨c, x⟩``,
what the comparators need (``‖Σc‖²``, ``‖Σv‖²``, ``min Σc``, ``min Σv``), the variation
``‖c_t − c_{t−1}‖²``, and the gradient ``v``. Sums run in index order in float64 (the torch
path sums in another order: the two agree to rounding, not bit for bit, which is why the
kernel runs only under the fast kind, whose traces are new anyway).

Used only by :mod:`olearn.envs.oco.sea_losses`.
"""

from __future__ import annotations

import numba
import numpy as np

_CACHE = __name__.startswith("olearn.")
"""Disk cache only under the olearn name (see ``olearn.agents.bandits.ridge_kernels``)."""


@numba.njit(parallel=True, cache=_CACHE, nogil=True, fastmath=False)
def linear_round(x: np.ndarray, c: np.ndarray, z: np.ndarray, a: float, b: float,
                 s_exp: np.ndarray, s_real: np.ndarray, prev_c: np.ndarray,
                 grad: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """One linear round for every replicate (in place on ``s_exp``, ``s_real``, ``prev_c``).

    ``out[r]`` = (⟨v, x⟩, ⟨c, x⟩, ‖Σc‖², ‖Σv‖², min Σc, min Σv, ‖c − c_prev‖²); ``grad[r]`` = v.
    """
    r_count, d = x.shape
    for r in numba.prange(r_count):
        real = 0.0
        exp = 0.0
        ne = 0.0
        nr = 0.0
        big = 0.0
        me = np.inf
        mr = np.inf
        for k in range(d):
            ck = c[r, k]
            vk = ck + (a * np.float64(z[r, k]) + b)
            xk = x[r, k]
            se = s_exp[r, k] + ck
            sr = s_real[r, k] + vk
            s_exp[r, k] = se
            s_real[r, k] = sr
            real += vk * xk
            exp += ck * xk
            ne += se * se
            nr += sr * sr
            me = min(me, se)
            mr = min(mr, sr)
            dc = ck - prev_c[r, k]
            big += dc * dc
            prev_c[r, k] = ck
            grad[r, k] = vk
        out[r, 0] = real
        out[r, 1] = exp
        out[r, 2] = ne
        out[r, 3] = nr
        out[r, 4] = me
        out[r, 5] = mr
        out[r, 6] = big
