"""Compiled (numba) CPU kernel of the SEA environment's linear rounds under the fast streams.

One call does a whole round of :meth:`olearn.envs.oco.sea.SEAVector.step` for every replicate:
the domain check of the action (nothing changes when an action is outside), then, in one pass
over the replicate's ``d`` numbers, the noisy loss vector ``v = c + a z + b`` (``z`` the
float32 block of the fast stream), the running sums ``Σc`` and ``Σv``, the realized and
expected losses ``⟨v, x⟩`` and ``⟨c, x⟩``, what the comparators need (``‖Σc‖²``, ``‖Σv‖²`` on
a ball, ``min Σc``, ``min Σv`` on the simplex), the variation ``‖c_t − c_{t−1}‖²`` and the
gradient ``v``; and the per-replicate bookkeeping the torch path does in about fifteen small
tensor operations (cumulative losses and variances, comparators, the oracle's entries).

The inner sums may be reassociated (``fastmath`` ``reassoc``): the compiler vectorizes them,
so they run in an order set by the code and this CPU's vector width, the same for every row
(replicate ``r`` alone is replicate ``r`` of a batch) and on every run of one machine, not the
order of torch's reductions: the two paths agree to rounding, not bit for bit, which is why
the kernel runs only under the fast kind, whose traces are new anyway.

Used only by :mod:`olearn.envs.oco.sea_losses`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_CACHE = __name__.startswith("olearn.")
"""Disk cache only under the olearn name (see ``olearn.agents.bandits.ridge_kernels``)."""

_FAST = {"reassoc", "nsz"}
"""Reassociated sums (vectorized); no other licence (no FMA contraction, NaN and inf kept)."""

# rows of the kernel's ``out``
REAL, EXP, COMP, REALIZED_REGRET, SIGMA2_CUM, ADV_CUM, REWARD = range(7)
ROWS = 7


@numba.njit(parallel=True, cache=_CACHE, nogil=True, fastmath=_FAST)
def linear_round(x: np.ndarray, c: np.ndarray, z: np.ndarray, a: float, b: float,
                 t: int, const_c: bool, ball: bool, radius: float, tol: float, var: float,
                 s_exp: np.ndarray, s_real: np.ndarray, prev_c: np.ndarray,
                 cum_real: np.ndarray, cum_exp: np.ndarray, cum_s2: np.ndarray,
                 cum_adv: np.ndarray, grad: np.ndarray,
                 out: np.ndarray) -> int:  # pragma: no cover - compiled
    """One linear round for every replicate; returns ``-1``, or the first replicate whose
    action is more than ``tol`` outside the domain (then nothing is changed).

    In place: ``s_exp``, ``s_real``, ``prev_c`` (the sums and the last centre), the cumulative
    ``cum_real``, ``cum_exp``, ``cum_s2`` (``+= var``) and ``cum_adv`` (``+= ‖c − c_prev‖²``).
    With ``const_c`` (the iid regime: ``c_t = c`` every round) ``s_exp`` and ``prev_c`` are
    neither read nor written: ``Σc = t c`` (the comparator ``−radius · t‖c‖`` or ``t min c``)
    and the variation is ``‖c‖²`` in round 1, 0 after.
    Written: ``grad[r] = v``; ``out[:, r]`` = (``⟨v, x⟩``, ``⟨c, x⟩``, the comparator
    ``min_x ⟨Σc, x⟩``, the realized regret ``Σ⟨v_s, x_s⟩ − min_x ⟨Σv, x⟩``, ``cum_s2``,
    ``cum_adv``, the reward ``−⟨v, x⟩``), the rows named by this module's constants.
    """
    r_count, d = x.shape
    # the action's distance to the domain (ball: ‖x‖ − radius; simplex: negative entries or
    # a sum off 1), into the reward row, which the round overwrites
    for r in numba.prange(r_count):
        if ball:
            n2 = 0.0
            for k in range(d):
                n2 += x[r, k] * x[r, k]
            out[REWARD, r] = math.sqrt(n2) - radius
        else:
            tot = 0.0
            neg = 0.0
            for k in range(d):
                tot += x[r, k]
                neg = max(neg, -x[r, k])
            out[REWARD, r] = max(neg, abs(tot - 1.0))
    for r in range(r_count):
        if out[REWARD, r] > tol:
            return r
    if const_c:   # four streams over (R, d) instead of ten
        for r in numba.prange(r_count):
            real = 0.0
            exp = 0.0
            cc = 0.0
            nr = 0.0
            for k in range(d):
                ck = c[r, k]
                vk = ck + (a * np.float64(z[r, k]) + b)
                xk = x[r, k]
                sr = s_real[r, k] + vk
                s_real[r, k] = sr
                real += vk * xk
                exp += ck * xk
                cc += ck * ck
                nr += sr * sr
                grad[r, k] = vk
            if ball:
                comp = -radius * (t * math.sqrt(cc))
                rcomp = -radius * math.sqrt(nr)
            else:
                cmin = c[r, 0]
                rcomp = s_real[r, 0]
                for k in range(1, d):
                    cmin = min(cmin, c[r, k])
                    rcomp = min(rcomp, s_real[r, k])
                comp = t * cmin
            cr = cum_real[r] + real
            cum_real[r] = cr
            cum_exp[r] += exp
            s2 = cum_s2[r] + var
            cum_s2[r] = s2
            adv = cum_adv[r] + (cc if t == 1 else 0.0)
            cum_adv[r] = adv
            out[REAL, r] = real
            out[EXP, r] = exp
            out[COMP, r] = comp
            out[REALIZED_REGRET, r] = cr - rcomp
            out[SIGMA2_CUM, r] = s2
            out[ADV_CUM, r] = adv
            out[REWARD, r] = -real
        return -1
    for r in numba.prange(r_count):
        real = 0.0
        exp = 0.0
        ne = 0.0
        nr = 0.0
        big = 0.0
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
            dc = ck - prev_c[r, k]
            big += dc * dc
            prev_c[r, k] = ck
            grad[r, k] = vk
        if ball:
            comp = -radius * math.sqrt(ne)
            rcomp = -radius * math.sqrt(nr)
        else:
            comp = s_exp[r, 0]
            rcomp = s_real[r, 0]
            for k in range(1, d):
                comp = min(comp, s_exp[r, k])
                rcomp = min(rcomp, s_real[r, k])
        cr = cum_real[r] + real
        cum_real[r] = cr
        cum_exp[r] += exp
        s2 = cum_s2[r] + var
        cum_s2[r] = s2
        adv = cum_adv[r] + big
        cum_adv[r] = adv
        out[REAL, r] = real
        out[EXP, r] = exp
        out[COMP, r] = comp
        out[REALIZED_REGRET, r] = cr - rcomp
        out[SIGMA2_CUM, r] = s2
        out[ADV_CUM, r] = adv
        out[REWARD, r] = -real
    return -1

