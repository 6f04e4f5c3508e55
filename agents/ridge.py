"""Batched online ridge regression with rank-one (Sherman–Morrison) updates.

The linear model behind LinUCB, LinTS, ε-greedy and the linear SquareCB/FastCB oracles: one
ridge model per arm (``disjoint``) or one model shared by all arms (``shared``), for all ``R``
replicates at once. Numerics in float64.
"""

from __future__ import annotations

import torch
from torch import Tensor


class BatchedRidge:
    """Ridge models ``θ_m = A_m⁻¹ b_m`` with ``A_m = λI + Σ x xᵀ`` for ``R`` replicates.

    Parameters
    ----------
    replicates, models, dim
        Shapes: ``R`` replicates × ``M`` models × ``d`` features.
    reg
        Ridge strength λ > 0.

    Examples
    --------
    >>> ridge = BatchedRidge(replicates=1, models=1, dim=2, reg=1.0, device=torch.device("cpu"))
    >>> x = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    >>> for _ in range(99):
    ...     ridge.update(torch.zeros(1, dtype=torch.long), x, torch.tensor([2.0]))
    >>> round(float(ridge.theta[0, 0, 0]), 2)
    1.98
    """

    def __init__(self, *, replicates: int, models: int, dim: int, reg: float,
                 device: torch.device, dtype: torch.dtype = torch.float64) -> None:
        eye = torch.eye(dim, device=device, dtype=dtype)
        self.a_inv = (eye / reg).expand(replicates, models, dim, dim).clone()
        self.b = torch.zeros(replicates, models, dim, device=device, dtype=dtype)
        self.theta = torch.zeros_like(self.b)
        self._rows = torch.arange(replicates, device=device)

    def mean(self, x: Tensor) -> Tensor:
        """Predictions ``θ_{m(a)}ᵀ x_a`` for contexts ``x`` (R, K, d) -> (R, K).

        With ``M = K`` models arm ``a`` uses model ``a``; with ``M = 1`` all arms share it.
        """
        return (self.theta * x).sum(-1)

    def width2(self, x: Tensor) -> Tensor:
        """Squared widths ``x_aᵀ A_{m(a)}⁻¹ x_a`` (R, K)."""
        return (torch.matmul(self.a_inv, x.unsqueeze(-1)).squeeze(-1) * x).sum(-1).clamp_(min=0.0)

    def update(self, model: Tensor, x: Tensor, y: Tensor) -> None:
        """Add one observation per replicate: features ``x`` (R, d), target ``y`` (R,) to ``model`` (R,)."""
        a_inv = self.a_inv[self._rows, model]                      # (R, d, d)
        u = torch.einsum("rde,re->rd", a_inv, x)                    # A⁻¹x
        denom = 1.0 + (u * x).sum(-1, keepdim=True)
        a_inv = a_inv - (u / denom).unsqueeze(2) * u.unsqueeze(1)  # Sherman–Morrison
        b = self.b[self._rows, model] + y.unsqueeze(1) * x
        self.a_inv[self._rows, model] = a_inv
        self.b[self._rows, model] = b
        self.theta[self._rows, model] = torch.einsum("rde,re->rd", a_inv, b)
