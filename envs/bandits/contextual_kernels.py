"""Compiled (numba) CPU kernels of the contextual bandit env
(:mod:`olearn.envs.bandits.contextual`).

A block of rounds is prepared in one pass over its random numbers, parallel over rounds:
each replicate's context is normalized, written out in the observation dtype, and every arm's
mean reward is computed, with the best arm and its mean. Torch's batched operations take
several full passes over the block, in float64, for the same numbers; this kernel took 13–15 ms
a block of 512 rounds at R = 256 on two cores, and the environment's rounds 75–91 µs against
90–132 with torch (benchmarks/README.md). Each round then reads the pulled arms' means with
the ``pull`` kernel, which also checks the actions.

Arithmetic is strict IEEE in a fixed order, so a replicate's numbers do not depend on R, on
the thread count or on the CPU. With a shared context the arms' means are accumulated over
the features, one vector lane an arm (``θ`` is stored feature-major for this), each still
the sequential sum ``Σ_i θ_ai x_i``.

Layouts: ``raw`` float32 (R, B, d), or (R, B, K, d) with per-arm contexts; ``theta`` float64
(R, d, K) feature-major with a shared context, (R, d) with per-arm contexts. Outputs
``x`` (B, R, [K,] d) in the observation dtype, ``mu`` float64 (B, R, K), ``best`` float64
and ``best_arm`` int64 (B, R).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator

import numba
import numpy as np

__all__ = ["REWARD_CODES", "SERIAL_BELOW", "compiled", "thread_limit"]

_CACHE = __name__.startswith("olearn.")
"""Cache the compiled kernels on disk only when imported as part of olearn: numba keys its
cache by source file, and an entry written under another module name (pytest imports this
file as ``envs.…`` for its doctests) would fail to load in olearn."""

REWARD_CODES = {"linear": 0, "quadratic": 1, "cosine": 2}

SERIAL_BELOW = 64
"""Below this many replicates a block is prepared on one thread: waking a second one costs
more than it saves (benchmarks/README.md)."""


@contextlib.contextmanager
def thread_limit(threads: int) -> Iterator[None]:
    """Run the block kernel on at most ``threads`` numba threads (0: no limit), under the cap the
    runner set; numba's count and torch's (which setting numba's resets) are restored after."""
    old = numba.get_num_threads()
    if not threads or threads >= old:
        yield
        return
    import torch

    old_torch = torch.get_num_threads()
    numba.set_num_threads(threads)
    try:
        yield
    finally:
        numba.set_num_threads(old)
        torch.set_num_threads(old_torch)
"""How the kernels are told ``h``: ``u``, ``10 u²`` or ``cos(3u)``."""


@numba.njit(cache=_CACHE, nogil=True)
def _h(u: float, code: int) -> float:
    if code == 1:
        return 10.0 * u * u
    if code == 2:
        return np.cos(3.0 * u)
    return u


@numba.njit(cache=_CACHE, nogil=True)
def _norm(v: np.ndarray) -> float:
    s = 0.0
    for i in range(v.shape[0]):
        f = np.float64(v[i])
        s += f * f
    return np.sqrt(s)


@numba.njit(cache=_CACHE, nogil=True, parallel=True)
def _prepare_shared(raw, theta, code, x, mu, best, best_arm):
    n_r, n_b, d = raw.shape
    arms = theta.shape[2]
    means = np.empty((n_b, arms))                   # one row of scratch a round
    for b in numba.prange(n_b):
        acc = means[b]
        for r in range(n_r):
            v = raw[r, b]
            n = _norm(v)
            for k in range(arms):
                acc[k] = 0.0
            for i in range(d):                      # acc_k = Σ_i θ_ki x_i, a lane per arm
                xi = np.float64(v[i]) / n
                x[b, r, i] = xi
                th = theta[r, i]
                for k in range(arms):
                    acc[k] += th[k] * xi
            top, top_k = -np.inf, 0
            for k in range(arms):
                m = _h(acc[k], code)
                mu[b, r, k] = m
                if m > top or k == 0:
                    top, top_k = m, k
            best[b, r], best_arm[b, r] = top, top_k


@numba.njit(cache=_CACHE, nogil=True, parallel=True)
def _prepare_per_arm(raw, theta, code, x, mu, best, best_arm):
    n_r, n_b, arms, d = raw.shape
    for b in numba.prange(n_b):
        for r in range(n_r):
            th = theta[r]
            top, top_k = -np.inf, 0
            for k in range(arms):
                v = raw[r, b, k]
                n = _norm(v)
                u = 0.0
                for i in range(d):
                    xi = np.float64(v[i]) / n
                    x[b, r, k, i] = xi
                    u += th[i] * xi
                m = _h(u, code)
                mu[b, r, k] = m
                if m > top or k == 0:
                    top, top_k = m, k
            best[b, r], best_arm[b, r] = top, top_k


@numba.njit(cache=_CACHE, nogil=True)
def _pull(mu, best, noise, scale, action, regret, mean, reward):
    arms = mu.shape[1]
    for r in range(action.shape[0]):                # refuse before writing anything
        if action[r] < 0 or action[r] >= arms:
            return r
    for r in range(action.shape[0]):
        m = mu[r, action[r]]
        mean[r] = m
        regret[r] = best[r] - m
        reward[r] = m + scale * np.float64(noise[r])
    return -1


@functools.cache
def compiled(per_arm: bool) -> tuple[Callable[..., None], Callable[..., int]]:
    """``(prepare, pull)`` for shared or per-arm contexts.

    ``prepare(raw, theta, code, x, mu, best, best_arm)`` fills a block (layouts above; ``code``
    from :data:`REWARD_CODES`). ``pull(mu, best, noise, scale, action, regret, mean, reward)``
    takes one round's ``mu`` (R, K), ``best`` (R,) and ``noise`` (R,), and writes per
    replicate the pulled arm's ``regret = best − μ_a``, ``mean = μ_a`` and ``reward = μ_a +
    scale·noise``; it returns -1, or the first replicate whose action is not an arm, having
    written nothing.

    Examples
    --------
    >>> prepare, pull = compiled(False)
    >>> raw = np.array([[[3.0, 4.0]]], np.float32)            # R = 1, B = 1, d = 2
    >>> theta = np.array([[[1.0, 0.0], [0.0, 1.0]]])          # θ feature-major: arms 0, 1
    >>> x, mu = np.empty((1, 1, 2), np.float32), np.empty((1, 1, 2))
    >>> best, best_arm = np.empty((1, 1)), np.empty((1, 1), np.int64)
    >>> prepare(raw, theta, REWARD_CODES["linear"], x, mu, best, best_arm)
    >>> x.tolist(), mu.tolist(), best_arm.tolist()
    ([[[0.6000000238418579, 0.800000011920929]]], [[[0.6, 0.8]]], [[1]])
    >>> out = np.empty(1), np.empty(1), np.empty(1, np.float32)
    >>> pull(mu[0], best[0], np.zeros(1, np.float32), 0.1, np.array([0]), *out)
    -1
    >>> [round(float(v[0]), 6) for v in out]
    [0.2, 0.6, 0.6]
    """
    return (_prepare_per_arm if per_arm else _prepare_shared), _pull
