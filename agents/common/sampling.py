"""Action sampling shared by the agents of every family."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["sample_categorical"]


def sample_categorical(probs: Tensor, u: Tensor) -> Tensor:
    """Sample one index per row of ``probs`` (R, K) by inverse CDF with uniforms ``u`` (R,)."""
    cdf = probs.cumsum(dim=1)
    idx = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1).to(cdf.dtype), right=True)
    return idx.squeeze(1).clamp_(max=probs.shape[1] - 1)
