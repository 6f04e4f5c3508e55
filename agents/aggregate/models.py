"""Batched models and optimizers for the aggregate-response learners: ``R`` independent
networks (or linear models) held as stacked weight tensors, one per replicate.

Examples
--------
>>> net = BatchedNet.init([11, 12], sizes=(3, 4, 1), bias=True, device=torch.device("cpu"))
>>> net(torch.zeros(2, 5, 3)).shape            # (R, instances) predictions
torch.Size([2, 5])
>>> opt = Adam(net.params, lr=0.1)
>>> x = torch.randn(2, 5, 3)
>>> loss0 = float((net(x) ** 2).sum().detach())
>>> for _ in range(20):
...     opt.step(torch.autograd.grad((net(x) ** 2).sum(), net.params))
>>> float((net(x) ** 2).sum().detach()) < loss0
True
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor

from olearn.seeding import draw

__all__ = ["SGD", "Adam", "BatchedNet", "definite_inverse", "min_norm_solve",
           "one_thread", "replicate_chunks"]


class BatchedNet:
    """A ReLU MLP (``sizes = (d, *hidden, 1)``) per replicate; no hidden layer: linear.

    Weights ``(R, in, out)`` start Gaussian with variance ``2/in`` (``1/in`` for the output
    layer), biases at 0; a linear model (``sizes = (d, 1)``, no bias) starts at 0.
    """

    def __init__(self, params: list[Tensor], bias: bool) -> None:
        self.params = params
        self.bias = bias

    @classmethod
    def init(cls, seeds: Sequence[int], *, sizes: Sequence[int], bias: bool,
             device: torch.device, dtype: torch.dtype = torch.float32) -> BatchedNet:
        params: list[Tensor] = []
        layers = list(zip(sizes[:-1], sizes[1:], strict=True))
        for i, (n_in, n_out) in enumerate(layers):
            if len(layers) == 1 and not bias:
                w = torch.zeros(len(seeds), n_in, n_out, dtype=dtype, device=device)
            else:
                gain = 2.0 if i < len(layers) - 1 else 1.0
                w = draw(seeds, f"w{i}", (n_in, n_out), device=device, dtype=dtype)
                w = w * math.sqrt(gain / n_in)
            params.append(w.requires_grad_(True))
            if bias:
                params.append(torch.zeros(len(seeds), n_out, dtype=dtype,
                                          device=device).requires_grad_(True))
        return cls(params, bias)

    def __call__(self, x: Tensor) -> Tensor:
        """Predictions ``(R, n)`` for inputs ``(R, n, d)``."""
        step = 2 if self.bias else 1
        h = x.to(self.params[0].dtype)
        n = len(self.params) // step
        for i in range(n):
            h = h @ self.params[step * i]
            if self.bias:
                h = h + self.params[step * i + 1].unsqueeze(1)
            if i < n - 1:
                h = torch.relu(h)
        return h.squeeze(-1)


class SGD:
    """Plain gradient steps ``p ← p − lr·g`` on every replicate's weights."""

    def __init__(self, params: list[Tensor], *, lr: float) -> None:
        self.params, self.lr = params, lr

    def step(self, grads: Sequence[Tensor]) -> None:
        with torch.no_grad():
            for p, g in zip(self.params, grads, strict=True):
                p.sub_(self.lr * g)


class Adam:
    """Adam (β = 0.9, 0.999, ε = 1e-8), element-wise, hence independent per replicate."""

    def __init__(self, params: list[Tensor], *, lr: float,
                 betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.n = 0

    def step(self, grads: Sequence[Tensor]) -> None:
        self.n += 1
        b1, b2 = self.betas
        c1, c2 = 1.0 - b1 ** self.n, 1.0 - b2 ** self.n
        with torch.no_grad():
            for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
                m.mul_(b1).add_(g, alpha=1.0 - b1)
                v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
                p.sub_(self.lr * (m / c1) / ((v / c2).sqrt() + self.eps))


def replicate_chunks(replicates: int, dim: int, *, budget: int = 1 << 20) -> list[slice]:
    """Slices of replicates whose ``(d, d)`` float64 matrices fit ``budget`` bytes together.

    Batched ``d×d`` work on many replicates is memory-bound once the matrices leave the cache;
    doing a round's update-factor-solve chunk by chunk keeps each chunk's matrices in cache
    (a loop over chunks, never over replicates one by one).

    >>> replicate_chunks(256, 100)[:2], len(replicate_chunks(256, 100))
    ([slice(0, 13, None), slice(13, 26, None)], 20)
    """
    size = max(1, budget // (8 * dim * dim))
    return [slice(i, min(i + size, replicates)) for i in range(0, replicates, size)]


def min_norm_solve(A: Tensor, b: Tensor, *, rtol: float = 1e-10) -> Tensor:  # noqa: N803
    """``A⁺b`` for PSD ``A`` ``(R, d, d)``, ``b`` ``(R, d)``: batched Cholesky, and the
    eigendecomposition pseudo-inverse for the replicates where ``A`` is numerically singular.

    A copy of ``olearn.envs.aggregate.linalg.min_norm_solve`` (envs and agents may not import
    each other).

    >>> A = torch.tensor([[[2.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)
    >>> min_norm_solve(A, torch.tensor([[4.0, 0.0]], dtype=torch.float64)).tolist()
    [[2.0, 0.0]]
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


def definite_inverse(A: Tensor, chunks: Sequence[slice], *,  # noqa: N803
                     rtol: float = 1e-10) -> Tensor | None:
    """``A⁻¹`` ``(R, d, d)`` when every ``A`` is numerically positive definite (the pivot
    test of :func:`min_norm_solve`), else ``None``.

    >>> definite_inverse(4.0 * torch.eye(2, dtype=torch.float64)[None], [slice(0, 1)]).tolist()
    [[[0.25, 0.0], [0.0, 0.25]]]
    """
    out = torch.empty_like(A)
    for sl in chunks:
        L, info = torch.linalg.cholesky_ex(A[sl])
        scale = A[sl].diagonal(dim1=-2, dim2=-1).amax(dim=-1)
        pivots = L.diagonal(dim1=-2, dim2=-1).amin(dim=-1)
        if not bool(((info == 0) & (pivots * pivots > rtol * scale)).all()):
            return None
        out[sl] = torch.cholesky_inverse(L)
    return out


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
