"""Batched online ridge regression with rank-one (Sherman–Morrison) updates.

The linear model behind LinUCB, LinTS, ε-greedy and the linear SquareCB/FastCB oracles: one
ridge model per arm (``M = K``, disjoint) or one model shared by all arms (``M = 1``), for all
``R`` replicates at once. Numerics in float64. Contexts come either shared, ``(R, d)``, or per
arm, ``(R, K, d)``; a shared context is never expanded to ``K`` copies.
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
        self.shape = (replicates, models, dim)
        self.a_inv = (eye / reg).expand(replicates, models, dim, dim).contiguous()
        self.b = torch.zeros(replicates, models, dim, device=device, dtype=dtype)
        self.theta = torch.zeros_like(self.b)
        self._offsets = torch.arange(replicates, device=device) * models

    def mean(self, x: Tensor) -> Tensor:
        """Predictions ``θ_{m(a)}ᵀ x_a`` (R, K) for shared ``(R, d)`` or per-arm ``(R, K, d)`` x."""
        r, m, d = self.shape
        if x.dim() == 2:                                  # shared context, one model per arm
            return torch.bmm(self.theta, x.unsqueeze(-1)).squeeze(-1)
        if m == 1:                                        # per-arm contexts, one shared model
            return torch.bmm(x, self.theta.view(r, d, 1)).squeeze(-1)
        return (self.theta * x).sum(-1)

    def width2(self, x: Tensor) -> Tensor:
        """Squared widths ``x_aᵀ A_{m(a)}⁻¹ x_a`` (R, K), same layouts as :meth:`mean`."""
        r, m, d = self.shape
        if x.dim() == 2:
            v = torch.bmm(self.a_inv.view(r, m * d, d), x.unsqueeze(-1)).view(r, m, d)
            return (v * x.unsqueeze(1)).sum(-1).clamp_(min=0.0)
        if m == 1:
            v = torch.bmm(x, self.a_inv.view(r, d, d))    # A⁻¹ is symmetric
        else:
            k = x.shape[1]
            v = torch.bmm(self.a_inv.view(r * k, d, d), x.reshape(r * k, d, 1)).view(r, k, d)
        return (v * x).sum(-1).clamp_(min=0.0)

    def update(self, model: Tensor, x: Tensor, y: Tensor) -> None:
        """Add one observation per replicate: features ``x`` (R, d), target ``y`` (R,) to ``model`` (R,)."""
        r, m, d = self.shape
        idx = self._offsets + model
        a_flat, b_flat = self.a_inv.view(r * m, d, d), self.b.view(r * m, d)
        a_inv = a_flat.index_select(0, idx)                        # (R, d, d)
        u = torch.bmm(a_inv, x.unsqueeze(-1))                       # A⁻¹x, (R, d, 1)
        denom = torch.bmm(x.unsqueeze(1), u).add_(1.0)             # 1 + xᵀA⁻¹x, (R, 1, 1)
        a_inv = torch.baddbmm(a_inv, u / denom, u.mT, alpha=-1.0)  # Sherman–Morrison
        b = b_flat.index_select(0, idx).addcmul_(y.unsqueeze(1), x)
        a_flat.index_copy_(0, idx, a_inv)
        b_flat.index_copy_(0, idx, b)
        self.theta.view(r * m, d).index_copy_(0, idx, torch.bmm(a_inv, b.unsqueeze(-1)).squeeze(-1))
