"""Compiled (numba) CPU kernel of the perturbed OGD step of NeuSquareCB / NeuFastCB (fast kind).

The step of :meth:`olearn.agents.bandits.neural_cb.NeuSquareCB._ogd_step` with the perturbation
on is, per replicate, with ``δ = θ − θ_0`` and a fresh ``ξ ~ N(0, I_p)``:

    θ' = θ − η g − η c_p (β δ + ‖w‖ ξ),   β = (⟨w, z⟩ − ‖w‖ ⟨ξ, δ⟩) / ‖δ‖²   (0 when δ = 0)

(``g`` the network's gradient, ``w`` the ensemble coefficients, ``z`` the members' offsets over
``c_p``). In torch that is a dozen passes over the ``(R, p)`` weights: the backward pass
writing the gradient, flattening the weights twice, drawing ``ξ`` into an ``(R, p)`` array, two
dot products, the norms, the ``addcmul``, two in-place subtractions. :func:`perturbed_step`
makes it two passes over each replicate's ``θ`` and ``θ_0`` (about 0.5 MB at p = 64,201, with
a ``p``-long work row: they stay in a core's L2 cache between the passes), with ``ξ`` drawn
inside the first pass and never stored as an ``(R, p)`` array:

1. Philox4x32-10 words and Box–Muller normals of :func:`olearn.philox_cpu.normal_f32`, the
   same numbers in the same places (row ``[sin(w0,w1) | sin(w2,w3) | cos(w0,w1) | cos(w2,w3)]``,
   ``m = ⌈p/4⌉`` wide each), made ``_BLOCK`` counters at a time into a small buffer by strict
   arithmetic (a loop the compiler vectorizes); each number is used at once: the gradient
   ``g`` is built from its factors (a layer's ``g = Σ_n H[n]ᵀ D[n]`` over the ``N`` examples of
   the step, so the ``(R, p)`` gradient is never written), ``⟨ξ, δ⟩`` and ``‖δ‖²`` are
   accumulated and ``u = η g + η c_p ‖w‖ ξ`` goes to the work row.
2. ``θ ← θ − u − η c_p β δ`` (``β`` now known), accumulating ``‖θ' − θ_0‖²``, which the agent
   carries to the next round's offsets and step instead of recomputing it; a third pass
   projects on the ball ``‖θ' − θ_0‖ ≤ radius`` when the step leaves it.

The weights are one flat ``(R, p)`` float32 array (the network's layers are views of it),
walked in the flat order of the layers. Parallel over replicates, each replicate's numbers made
by one thread in a fixed order: replicate ``r`` alone matches replicate ``r`` of a batch bit for
bit, for any thread count. Against the torch path the arithmetic is reassociated (sums in
vector lanes, float64 across runs; ``η`` folded in before the subtraction): the same update to
float32 rounding (tested to 1e-5 relative), not bit for bit.
"""

from __future__ import annotations

import numba
import numpy as np

from olearn.agents.bandits.ridge_kernels import _get_threads, _limit_threads, _set_threads
from olearn.philox_cpu import _box_muller, _rounds

__all__ = ["SERIAL_BELOW", "perturbed_step"]

_CACHE = __name__.startswith("olearn.")
"""Disk cache only under the olearn name (see ``olearn.agents.bandits.ridge_kernels``)."""

_BLOCK = 1024
"""Philox counters drawn at a time (4 normals each: a 16 KB buffer)."""

SERIAL_BELOW = 1 << 16
"""Below this many weights in all (R·p) the step runs on one thread: waking another costs
more than the share of the step it would take over."""

_MASK = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


@numba.njit(cache=_CACHE, nogil=True, inline="always")
def _layer_of(starts: np.ndarray, i: int) -> int:  # pragma: no cover - compiled
    """The layer holding flat index ``i``: ``starts[l] <= i < starts[l + 1]``."""
    layer = 0
    while starts[layer + 1] <= i:
        layer += 1
    return layer


@numba.njit(cache=_CACHE, nogil=True)
def _normals(j0: int, nj: int, lo_d: np.uint64, hi_d: np.uint64, k0: np.uint64, k1: np.uint64,
             buf: np.ndarray) -> None:  # pragma: no cover - compiled
    """``buf[q, jj]`` = number ``q·m + j0 + jj`` of :func:`olearn.philox_cpu.normal_f32`'s row,
    ``jj < nj`` (strict arithmetic: the same numbers, bit for bit)."""
    for jj in range(nj):
        c0, c1, c2, c3 = _rounds(np.uint64(j0 + jj), lo_d, hi_d, k0, k1)
        s0, co0 = _box_muller(c0, c1)
        s1, co1 = _box_muller(c2, c3)
        buf[0, jj] = s0
        buf[1, jj] = s1
        buf[2, jj] = co0
        buf[3, jj] = co1


@numba.njit(cache=_CACHE, nogil=True, fastmath={"reassoc"})
def _fold(x: np.ndarray, th: np.ndarray, th0: np.ndarray, h: np.ndarray, dd: np.ndarray,
          u: np.ndarray, a_g: np.float32, a_xi: np.float32) -> tuple:  # pragma: no cover
    """Over a run within one row of a layer's gradient: ``g = Σ_n h[n] dd[n]`` (the row's
    input ``h``, the output gradients ``dd``), ``u = a_g g + a_xi x`` and ``(Σ x δ, Σ δ²)``
    (``δ = θ − θ_0``), the sums reassociated into vector lanes."""
    n = x.shape[0]
    h0 = h[0]
    d0 = dd[0]
    for c in range(n):
        u[c] = h0 * d0[c]
    for b in range(1, h.shape[0]):
        hb = h[b]
        db = dd[b]
        for c in range(n):
            u[c] += hb * db[c]
    dot, sq = 0.0, 0.0
    for c in range(n):
        d = th[c] - th0[c]
        dot += np.float64(x[c]) * np.float64(d)
        sq += np.float64(d) * np.float64(d)
        u[c] = a_g * u[c] + a_xi * x[c]
    return dot, sq


@numba.njit(cache=_CACHE, nogil=True, fastmath={"reassoc"})
def _apply(th: np.ndarray, th0: np.ndarray, u: np.ndarray,
           a_delta: np.float32) -> float:  # pragma: no cover - compiled
    """``θ ← θ − u − a_delta (θ − θ_0)``; ``Σ (θ' − θ_0)²``."""
    sq = 0.0
    for k in range(th.shape[0]):
        t = th[k] - u[k] - a_delta * (th[k] - th0[k])
        th[k] = t
        e = t - th0[k]
        sq += np.float64(e) * np.float64(e)
    return sq


@numba.njit(cache=_CACHE, nogil=True, fastmath={"reassoc"})
def _project(th: np.ndarray, th0: np.ndarray, scale: np.float32) -> float:  # pragma: no cover
    """``θ ← θ_0 + scale (θ − θ_0)``; ``Σ (θ' − θ_0)²``."""
    sq = 0.0
    for k in range(th.shape[0]):
        t = th0[k] + scale * (th[k] - th0[k])
        th[k] = t
        e = t - th0[k]
        sq += np.float64(e) * np.float64(e)
    return sq


@numba.njit(cache=_CACHE, nogil=True)
def _replicate(th: np.ndarray, th0: np.ndarray, hs: tuple, ds: tuple, starts: np.ndarray, r: int,
               k0: np.uint64, k1: np.uint64, lo_d: np.uint64, hi_d: np.uint64, wz: float,
               wnorm: float, lr: float, c_p: float, radius: float, u: np.ndarray,
               buf: np.ndarray) -> float:  # pragma: no cover - compiled
    """The step of replicate ``r`` (weights ``th``, ``th0``; work rows ``u`` (p,) and ``buf``);
    returns ``‖θ' − θ_0‖²``."""
    p = th.shape[0]
    m = (p + 3) // 4
    a_g, a_xi = np.float32(lr), np.float32(lr * c_p * wnorm)
    dot, sq = 0.0, 0.0
    for j0 in range(0, m, _BLOCK):                # pass 1: ξ, g and u = η g + η c_p ‖w‖ ξ
        nj = min(_BLOCK, m - j0)
        _normals(j0, nj, lo_d, hi_d, k0, k1, buf)
        for q in range(4):                        # row places q·m + j0 .. q·m + j0 + nj − 1
            base = q * m + j0
            i, end = base, min(base + nj, p)
            while i < end:                        # split where a row of a layer ends
                t = _layer_of(starts, i)
                off = starts[t]
                n_out = ds[t].shape[2]
                row = (i - off) // n_out
                stop = min(end, off + (row + 1) * n_out)
                col = i - off - row * n_out
                a, b = _fold(buf[q, i - base:stop - base], th[i:stop], th0[i:stop],
                             hs[t][r, :, row], ds[t][r, :, col:col + stop - i], u[i:stop],
                             a_g, a_xi)
                dot += a
                sq += b
                i = stop
    beta = (wz - wnorm * dot) / sq if sq > 0.0 else 0.0
    sq = _apply(th, th0, u, np.float32(lr * c_p * beta))   # pass 2: the update
    if radius > 0.0 and np.sqrt(sq) > radius:     # pass 3: back onto the ball
        sq = _project(th, th0, np.float32(radius / np.sqrt(sq)))
    return sq


@numba.njit(parallel=True, cache=_CACHE, nogil=True)
def perturbed_step(theta: np.ndarray, theta0: np.ndarray, hs: tuple, ds: tuple,
                   starts: np.ndarray, key0: np.ndarray, key1: np.ndarray, draw: int,
                   wz: np.ndarray, wnorm: np.ndarray, lr: float, c_p: float, radius: float,
                   n2: np.ndarray, threads: int) -> None:  # pragma: no cover - compiled
    """One perturbed OGD step of every replicate, in place (see the module docstring).

    ``theta``, ``theta0``: ``(R, p)`` float32, ``theta`` updated; parameter tensor ``t`` is
    ``theta[:, starts[t]:starts[t + 1]]``, its gradient ``Σ_n hs[t][r, n]ᵀ ds[t][r, n]``
    (float32 ``(R, N, n_in)`` and ``(R, N, n_out)``, row-major ``n_in × n_out``);
    ``key0``, ``key1``: the replicates' Philox key words of the ``xi`` stream, ``draw`` its
    draw index (the step number); ``wz = ⟨w, z⟩`` and ``wnorm = ‖w‖`` per replicate
    (float64); ``radius`` ≤ 0: no projection. ``n2`` (float64, ``(R,)``) receives
    ``‖θ' − θ_0‖²``. At most ``threads`` threads (0: the calling thread's numba count); each
    thread's work rows are allocated once a call.
    """
    d = np.uint64(draw)
    lo_d, hi_d = d & _MASK, d >> _S32
    old = _limit_threads(threads)
    reps, p = theta.shape
    chunks = min(reps, _get_threads())
    for c in numba.prange(chunks):
        u = np.empty(p, dtype=np.float32)
        buf = np.empty((4, _BLOCK), dtype=np.float32)
        for r in range(c, reps, chunks):
            n2[r] = _replicate(theta[r], theta0[r], hs, ds, starts, r, np.uint64(key0[r]),
                               np.uint64(key1[r]), lo_d, hi_d, wz[r], wnorm[r], lr, c_p,
                               radius, u, buf)
    _set_threads(old)
