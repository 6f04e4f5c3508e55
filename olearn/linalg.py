"""Batched linear algebra shared by environments and agents (which may not import each
other): minimum-norm solves of positive semi-definite systems, replicate chunks sized to the
cache, and a one-thread context for small batched factorizations.

Examples
--------
>>> A = torch.tensor([[[2.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)
>>> min_norm_solve(A, torch.tensor([[4.0, 0.0]], dtype=torch.float64)).tolist()
[[2.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

__all__ = ["min_norm_solve", "one_thread", "replicate_chunks"]


def min_norm_solve(A: Tensor, b: Tensor, *, rtol: float = 1e-10) -> Tensor:  # noqa: N803
    """``A⁺b`` for a batch of PSD matrices ``A`` ``(R, d, d)`` and vectors ``b`` ``(R, d)``.

    Cholesky where ``A`` is numerically positive definite (every pivot² above ``rtol`` times
    the largest diagonal entry); the eigendecomposition pseudo-inverse (eigenvalues below
    ``rtol`` times the largest dropped) for the other replicates, batched, never looped.
    """
    L, info = torch.linalg.cholesky_ex(A)
    scale = A.diagonal(dim1=-2, dim2=-1).amax(dim=-1).clamp_min(torch.finfo(A.dtype).tiny)
    pivots = L.diagonal(dim1=-2, dim2=-1).amin(dim=-1)
    ok = (info == 0) & (pivots * pivots > rtol * scale)
    if not bool(ok.all()):
        L = torch.where(ok[:, None, None], L, torch.eye(A.shape[-1], dtype=A.dtype,
                                                        device=A.device))
    # two batched triangular solves (BLAS trsm): far cheaper than cholesky_solve's
    # per-matrix LAPACK calls
    z = torch.linalg.solve_triangular(L, b.unsqueeze(-1), upper=False)
    x = torch.linalg.solve_triangular(L.mT, z, upper=True).squeeze(-1)
    if not bool(ok.all()):
        bad = (~ok).nonzero().squeeze(-1)
        w, V = torch.linalg.eigh(A[bad])
        keep = w > rtol * w.amax(dim=-1, keepdim=True).clamp_min(torch.finfo(A.dtype).tiny)
        inv = torch.where(keep, 1.0 / torch.where(keep, w, torch.ones_like(w)), 0.0)
        coef = (V.transpose(-1, -2) @ b[bad].unsqueeze(-1)).squeeze(-1) * inv
        x = x.index_copy(0, bad, (V @ coef.unsqueeze(-1)).squeeze(-1))
    return x


def replicate_chunks(replicates: int, dim: int, *, budget: int = 1 << 20) -> list[slice]:
    """Slices of replicates whose ``(d, d)`` float64 matrices fit ``budget`` bytes together
    (batched ``d×d`` work is memory-bound once the matrices leave the cache).

    >>> len(replicate_chunks(256, 100))
    20
    """
    size = max(1, budget // (8 * dim * dim))
    return [slice(i, min(i + size, replicates)) for i in range(0, replicates, size)]


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one torch thread, then restore the count.

    Batched small factorizations parallelize over the batch with OpenMP; on a loaded machine
    a second thread turns a 16×(5×5) Cholesky from ~10 µs into ~12 ms (the threads spin at
    barriers). Workaround for the runner's thread cap, which the numba cap overrides (after
    ``olearn.runner._cpu_threads(1)`` torch reports 2 threads again).
    """
    n = torch.get_num_threads()
    if n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
