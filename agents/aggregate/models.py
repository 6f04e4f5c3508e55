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
from collections.abc import Sequence

import torch
from torch import Tensor

from olearn.linalg import min_norm_solve, one_thread, replicate_chunks
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


