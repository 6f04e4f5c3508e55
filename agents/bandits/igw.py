"""Inverse-gap weighting (IGW): the action distributions of SquareCB and FastCB.

Both rules take predicted *losses* ``ŷ`` (R, K), find the greedy arm ``b = argmin ŷ`` (ties go
to the lowest index) and give every other arm a probability that shrinks with its gap
``ŷ_a − ŷ_b``; the greedy arm gets the rest (olearn papers §5.1–5.2):

* SquareCB (Foster & Rakhlin, 2020): ``p_a = 1 / (K + γ (ŷ_a − ŷ_b))``;
* FastCB (Foster & Krishnamurthy, 2021): ``p_a = ŷ_b / (K ŷ_b + γ (ŷ_a − ŷ_b))`` with ``ŷ`` in
  [0, 1]; an arm tied with the greedy one gets ``1/K`` (this covers ``ŷ_b = 0``: non-greedy arms
  get 0 unless they are tied, and all-zero predictions give the uniform distribution).

``γ = 0`` gives the uniform distribution and ``γ → ∞`` the greedy one. Every non-greedy
probability is at most ``1/K``, so ``p_b ≥ 1/K``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["fastcb_probs", "gamma_schedule", "squarecb_probs"]


def _gaps(losses: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    best = losses.argmin(dim=1, keepdim=True)          # lowest index on ties
    y_best = losses.gather(1, best)
    gap = (losses - y_best).clamp_(min=0.0)
    return best, y_best, gap


def _finish(p_other: Tensor, best: Tensor) -> Tensor:
    p = p_other.scatter(1, best, 0.0)
    p_best = (1.0 - p.sum(dim=1, keepdim=True)).clamp_(min=0.0)
    return p.scatter(1, best, p_best)


def _as_column(gamma: Tensor | float, like: Tensor) -> Tensor:
    g = torch.as_tensor(gamma, dtype=like.dtype, device=like.device)
    return g.reshape(-1, 1) if g.dim() else g


def squarecb_probs(losses: Tensor, gamma: Tensor | float) -> Tensor:
    """SquareCB action distribution from predicted losses (R, K) and ``γ`` (scalar or (R,)).

    Examples
    --------
    >>> p = squarecb_probs(torch.tensor([[0.1, 0.5, 0.9]]), 10.0)
    >>> [round(v, 3) for v in p[0].tolist()]
    [0.766, 0.143, 0.091]
    """
    k = losses.shape[1]
    best, _, gap = _gaps(losses)
    g = _as_column(gamma, losses)
    scaled = torch.where(gap > 0, g * gap, torch.zeros_like(gap))  # inf·0 -> 0 for ties
    return _finish(1.0 / (k + scaled), best)


def fastcb_probs(losses: Tensor, gamma: Tensor | float) -> Tensor:
    """FastCB action distribution from predicted losses in [0, 1] (R, K) and ``γ``.

    Predictions outside [0, 1] are clipped first.

    Examples
    --------
    >>> p = fastcb_probs(torch.tensor([[0.1, 0.5, 0.9]]), 10.0)
    >>> [round(v, 3) for v in p[0].tolist()]
    [0.965, 0.023, 0.012]
    >>> fastcb_probs(torch.tensor([[0.0, 0.3, 0.0]]), 10.0)[0].tolist()
    [0.666..., 0.0, 0.333...]
    """
    k = losses.shape[1]
    best, y_best, gap = _gaps(losses.clamp(0.0, 1.0))
    g = _as_column(gamma, losses)
    scaled = torch.where(gap > 0, g * gap, torch.zeros_like(gap))
    denom = k * y_best + scaled
    p_other = torch.where(gap > 0, y_best / denom.clamp(min=torch.finfo(losses.dtype).tiny),
                          torch.full_like(gap, 1.0 / k))
    return _finish(p_other, best)


def gamma_schedule(t: int, scale: float, exponent: float) -> float:
    """``γ_t = scale · t^exponent`` (VW's SquareCB default is ``10 · t^0.5``).

    >>> gamma_schedule(4, 10.0, 0.5)
    20.0
    """
    return float(scale) * float(t) ** float(exponent)


def check_gamma(cls_name: str, gamma_scale: float, gamma_exponent: float) -> None:
    """Validate the exploration schedule of an IGW agent with actionable errors."""
    if not (isinstance(gamma_scale, (int, float)) and 0 <= gamma_scale < math.inf):
        msg = f"{cls_name}: gamma_scale must be a number >= 0, got {gamma_scale!r}"
        raise ValueError(msg)
    if not (isinstance(gamma_exponent, (int, float)) and 0 <= gamma_exponent <= 1):
        msg = f"{cls_name}: gamma_exponent must be in [0, 1], got {gamma_exponent!r}"
        raise ValueError(msg)


def losses_from_rewards(reward: Tensor, reward_range: tuple[float, float]) -> Tensor:
    """Map rewards in ``reward_range = (lo, hi)`` to losses ``(hi − r)/(hi − lo)`` clipped to
    [0, 1].

    >>> losses_from_rewards(torch.tensor([1.0, 0.0, 5.0]), (0.0, 1.0)).tolist()
    [0.0, 1.0, 0.0]
    """
    lo, hi = float(reward_range[0]), float(reward_range[1])
    return ((hi - reward) / (hi - lo)).clamp(0.0, 1.0)


def losses_from_predicted_rewards(reward: Tensor, reward_range: tuple[float, float]) -> Tensor:
    """Map predicted rewards to predicted losses ``(hi − r̂)/(hi − lo)``, not clipped.

    The map is affine, so a model of the reward that is realizable stays realizable for the
    loss; IGW needs only the gaps, which it scales by ``1/(hi − lo)``.

    >>> losses_from_predicted_rewards(torch.tensor([1.0, 0.0, -1.0]), (-1.0, 1.0)).tolist()
    [0.0, 0.5, 1.0]
    """
    lo, hi = float(reward_range[0]), float(reward_range[1])
    return (hi - reward) / (hi - lo)


def check_reward_range(cls_name: str, reward_range: tuple[float, float]) -> None:
    """``reward_range`` must be two finite numbers ``lo < hi``."""
    ok = isinstance(reward_range, (tuple, list)) and len(reward_range) == 2
    if ok:
        lo, hi = reward_range
        ok = isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and lo < hi
    if not ok:
        msg = (f"{cls_name}: reward_range must be two numbers (lo, hi) with lo < hi, "
               f"got {reward_range!r}")
        raise ValueError(msg)
