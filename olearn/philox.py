"""Philox4x32-10 (Salmon et al., SC'11; the generator of cuRAND, JAX and numpy's Philox family)
in plain torch integer ops, so a whole ``(rounds, replicates, numbers)`` block is made in a few
tensor operations on the run's device.

A counter-based generator is a keyed bijection of a 128-bit counter: word ``w`` of counter
``c`` under key ``k`` is a pure function of ``(k, c)``. olearn keys it by ``(replicate seed,
stream name)`` (a 64-bit key from :func:`olearn.seeding.derive_many`) and counts by ``(draw
index, element group)``, so replicate ``r`` gets the same numbers alone or in a batch, on any
device, and with any block size.

The 32-bit words are exact on every device (int64 tensors holding 32-bit words; a 32×32-bit
product is one 64-bit multiply, wrapping modulo 2^64, whose low and high halves are mullo and
mulhi). Uniforms are exact functions of the words too; normals (Box–Muller: ``log``, ``cos``,
``sin``) may differ in the last bit between devices, whose math libraries differ.

Examples
--------
>>> words = philox4x32(*(torch.zeros(1, dtype=torch.int64),) * 6)
>>> [f"{int(w[0]):08x}" for w in words]     # Random123's known answer for counter 0, key 0
['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']
>>> key = torch.tensor([7, 8])                # two 64-bit keys (two replicates)
>>> block = normals(key, torch.arange(3), 5)  # draws 0..2, five numbers each
>>> block.shape
torch.Size([3, 2, 5])
>>> bool((normals(key[1:], torch.arange(3), 5)[:, 0] == block[:, 1]).all())
True
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["normals", "pair_block", "philox4x32", "split_key", "unit_block", "uniforms", "words"]

M0, M1 = 0xD2511F53, 0xCD9E8D57          # Philox4x32 multipliers
W0, W1 = 0x9E3779B9, 0xBB67AE85          # Weyl key increments (golden ratio, sqrt(3) - 1)
MASK = 0xFFFFFFFF
ROUNDS = 10


def philox4x32(c0: Tensor, c1: Tensor, c2: Tensor, c3: Tensor, k0: Tensor, k1: Tensor,
               rounds: int = ROUNDS) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The four output words of Philox4x32-``rounds`` for counters ``(c0..c3)`` and keys
    ``(k0, k1)``: int64 tensors holding 32-bit words, broadcast against each other.

    Per round: ``hi, lo = mulhilo(M0, c0)``, ``hi', lo' = mulhilo(M1, c2)``, counter ←
    ``(hi' ⊕ c1 ⊕ k0, lo', hi ⊕ c3 ⊕ k1, lo)``, then the key is bumped by the Weyl constants.
    The products wrap modulo 2^64 (two's complement), whose bit pattern is the exact unsigned
    product of two 32-bit words; the high half is taken by an arithmetic shift and a mask.
    Words that are only XORed before the next mask (``c1``, ``c3``) are left unmasked.
    """
    shape = torch.broadcast_shapes(c0.shape, c1.shape, c2.shape, c3.shape, k0.shape, k1.shape)
    c0, c2 = c0.expand(shape), c2.expand(shape)   # the products are then full-size tensors
    k0 = k0 & MASK
    k1 = k1 & MASK
    for i in range(rounds):
        if i:
            k0 = (k0 + W0) & MASK
            k1 = (k1 + W1) & MASK
        p0 = c0 * M0
        p1 = c2 * M1
        hi1 = (p1 >> 32).bitwise_xor_(c1).bitwise_xor_(k0).bitwise_and_(MASK)
        hi0 = (p0 >> 32).bitwise_xor_(c3).bitwise_xor_(k1).bitwise_and_(MASK)
        c0, c1, c2, c3 = hi1, p1, hi0, p0
    return c0, c1.bitwise_and_(MASK), c2, c3.bitwise_and_(MASK)


def split_key(key: Tensor) -> tuple[Tensor, Tensor]:
    """64-bit keys (int64 tensor, any bit pattern) -> the two 32-bit key words (low, high)."""
    return key & MASK, (key >> 32) & MASK


def words(key: Tensor, draws: Tensor, groups: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The four words of counters ``(j, i mod 2^32, i >> 32, 0)`` for draw ``i`` in ``draws``
    and group ``j < groups``, under each key: four ``(len(draws), len(key), groups)`` tensors."""
    dev = key.device
    k0, k1 = split_key(key.to(torch.int64).view(1, -1, 1))
    d = draws.to(device=dev, dtype=torch.int64).view(-1, 1, 1)
    j = torch.arange(groups, device=dev, dtype=torch.int64).view(1, 1, -1)
    zero = torch.zeros((), dtype=torch.int64, device=dev)
    return philox4x32(j, d & MASK, (d >> 32) & MASK, zero, k0, k1)


def _unit_f32(w: Tensor) -> Tensor:
    """A word's top 23 bits ``k`` as the float32 (k + ½) 2^-23, exact, in [2^-24, 1 − 2^-24]
    (one bit more and k + ½ would round to 2^24, so 1.0 would be drawn)."""
    return ((w >> 9).to(torch.float32) + 0.5) * 2.0**-23


def _unit_f64(a: Tensor, b: Tensor) -> Tensor:
    """Two words' top 26 + 26 bits ``k`` as the float64 (k + ½) 2^-52, exact, in (0, 1)."""
    k = ((a >> 6) << 26) | (b >> 6)
    return (k.to(torch.float64) + 0.5) * 2.0**-52


def _per(precision: torch.dtype) -> int:
    if precision not in (torch.float32, torch.float64):
        msg = f"precision must be torch.float32 or torch.float64, got {precision!r}"
        raise ValueError(msg)
    return 4 if precision == torch.float32 else 2


def pair_block(key: Tensor, draws: Tensor, m: int, *, precision: torch.dtype = torch.float32,
               compiled: bool | None = None) -> Tensor:
    """Uniforms in (0, 1) of counter groups ``j < m`` as two contiguous halves, shape
    ``(2, len(draws), len(key), w)``: the Box–Muller pairs are ``(half 0, half 1)``.

    float32 (a word a number, 23 bits): ``w = 2m``, half 0 = ``[w0 | w2]``, half 1 =
    ``[w1 | w3]`` over ``j``; float64 (two words a number, 52 bits): ``w = m``, half 0 from
    ``(w0, w1)``, half 1 from ``(w2, w3)``. On a CPU the compiled kernels of
    :mod:`olearn.philox_cpu` make them (``compiled=None``: when numba imports), bit for bit
    the numbers of the torch ops used on other devices.
    """
    per = _per(precision)
    width = 2 * m if per == 4 else m
    if _compiled(key, compiled):
        from olearn import philox_cpu

        k0, k1, d = _kernel_args(key, draws)
        out = np.empty((2, len(d), len(k0), width),
                       dtype=np.float32 if per == 4 else np.float64)
        (philox_cpu.unit_f32 if per == 4 else philox_cpu.unit_f64)(k0, k1, d, m, out)
        return torch.from_numpy(out)
    w = words(key, draws, m)
    if per == 4:
        u = [_unit_f32(x) for x in w]
        return torch.stack([torch.cat([u[0], u[2]], -1), torch.cat([u[1], u[3]], -1)])
    return torch.stack([_unit_f64(w[0], w[1]), _unit_f64(w[2], w[3])])


def _kernel_args(key: Tensor, draws: Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The compiled kernels' arguments: the keys' 32-bit words (uint64 arrays) and the draws."""
    k = key.to(torch.int64).numpy()
    return ((k & MASK).astype(np.uint64), ((k >> 32) & MASK).astype(np.uint64),
            draws.to(torch.int64).numpy())


def _compiled(key: Tensor, compiled: bool | None) -> bool:
    """Whether the compiled CPU kernels make the numbers (``None``: on a CPU, when numba
    imports)."""
    return key.device.type == "cpu" and _numba_ok() if compiled is None else compiled


def _rows_f32(kernel: str, key: Tensor, draws: Tensor, m: int, n: int) -> Tensor:
    """The first ``n`` of the ``4m`` float32 numbers a row that :mod:`olearn.philox_cpu`'s
    ``kernel`` writes in place, shape ``(len(draws), len(key), n)``."""
    from olearn import philox_cpu

    k0, k1, d = _kernel_args(key, draws)
    out = np.empty((len(d), len(k0), 4 * m), dtype=np.float32)
    getattr(philox_cpu, kernel)(k0, k1, d, m, out)
    return torch.from_numpy(out)[..., :n]


def unit_block(key: Tensor, draws: Tensor, m: int, *, precision: torch.dtype = torch.float32,
               compiled: bool | None = None) -> Tensor:
    """The uniforms of :func:`pair_block` row by row, shape ``(len(draws), len(key), per·m)``
    (``per`` = 4 in float32, 2 in float64): the halves side by side."""
    pb = pair_block(key, draws, m, precision=precision, compiled=compiled)
    return torch.cat((pb[0], pb[1]), -1)


@functools.cache
def _numba_ok() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:   # pragma: no cover - numba is a dependency
        return False
    return True


def uniforms(key: Tensor, draws: Tensor, n: int, *,
             precision: torch.dtype = torch.float32, compiled: bool | None = None) -> Tensor:
    """Uniforms on the open interval (0, 1), shape ``(len(draws), len(key), n)``: the first
    ``n`` numbers of :func:`unit_block`."""
    m = max(1, -(-n // _per(precision)))
    compiled = _compiled(key, compiled)
    if compiled and precision == torch.float32:   # the rows of unit_block, made in place
        return _rows_f32("uniform_rows_f32", key, draws, m, n)
    return unit_block(key, draws, m, precision=precision, compiled=compiled)[..., :n]


def normals(key: Tensor, draws: Tensor, n: int, *,
            precision: torch.dtype = torch.float32, compiled: bool | None = None) -> Tensor:
    """Standard normals by Box–Muller, shape ``(len(draws), len(key), n)``.

    The halves ``(u1, u2)`` of :func:`pair_block` give ``√(−2 ln u1) sin 2πu2`` (in half 0's
    places) and ``√(−2 ln u1) cos 2πu2`` (half 1's), side by side in each row: four normals a
    counter in float32, two in float64. The halves are contiguous, so the transcendental passes
    run over long vectors. The tails end where ``u1`` does: 5.8σ in float32, 8.6σ in float64.
    On a CPU (``compiled=None``: when numba imports) the float32 normals come from one compiled
    pass (:func:`olearn.philox_cpu.normal_f32`): the same pairs in the same places, its own
    float32 ``log``/``sin``/``cos`` (within a few ulps of torch's, not bit for bit).
    """
    m = max(1, -(-n // _per(precision)))
    compiled = _compiled(key, compiled)
    if compiled and precision == torch.float32:   # the words and Box–Muller in one pass
        return _rows_f32("normal_f32", key, draws, m, n)
    pb = pair_block(key, draws, m, precision=precision, compiled=compiled)
    u1, u2 = pb[0], pb[1]
    rad = u1.log_().mul_(-2.0).sqrt_()
    ang = u2.mul_(2.0 * math.pi)
    sin = torch.sin(ang)
    ang.cos_().mul_(rad)
    rad.mul_(sin)
    return torch.cat((u1, u2), -1)[..., :n]
