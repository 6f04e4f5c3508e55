"""Shared pieces of the built-in agents: the batched base class and action sampling."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import torch
from torch import Tensor

from olearn.validation import check_choice

__all__ = ["BatchedAgent", "check_choice", "check_number", "check_positive", "sample_categorical"]


class BatchedAgent:
    """Base class of built-in agents: state for ``R`` replicates as batched tensors.

    Subclasses store hyperparameters verbatim in ``__init__`` (after calling
    ``super().__init__(observation_space, action_space)``), build learned state in ``reset``
    and implement ``act`` and ``update`` (see :class:`olearn.types.Agent`).
    """

    vectorized: ClassVar[bool] = True
    #: the ``act_info`` keys this agent returns, checked by the contract tests
    info_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space = observation_space
        self.action_space = action_space

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        self.seeds = list(seeds)
        self.replicates = len(self.seeds)
        self.device = torch.device(device)

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        """Keyword sets the contract tests build this agent with."""
        return [{}]

    def __repr__(self) -> str:
        import inspect

        params = [p for p in inspect.signature(type(self).__init__).parameters
                  if p not in ("self", "observation_space", "action_space")]
        args = ", ".join(f"{p}={getattr(self, p)!r}" for p in params if hasattr(self, p))
        return f"{type(self).__name__}({args})"


def check_number(name: str, value: Any, *, low: float = float("-inf"), strict: bool = False,
                 high: float = float("inf")) -> float:
    """Validate a real hyperparameter: a number in ``[low, high]`` (``(low, high]`` if strict).

    >>> check_number("alpha", "big", low=0.0)
    Traceback (most recent call last):
    ...
    ValueError: alpha must be a number >= 0.0, got 'big'
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    if ok:
        ok = (value > low if strict else value >= low) and value <= high
    if not ok:
        bound = f"> {low}" if strict else f">= {low}"
        if high != float("inf"):
            bound = f"in {'(' if strict else '['}{low}, {high}]"
        msg = f"{name} must be a number {bound}, got {value!r}"
        raise ValueError(msg)
    return float(value)


def check_positive(**values: float | None) -> None:
    """Each value (``None`` skipped) must be a positive finite number.

    >>> check_positive(G=1.0, D=None, lam=0)
    Traceback (most recent call last):
    ...
    ValueError: lam must be a positive finite number, got 0
    """
    for name, v in values.items():
        if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool)
                                  and math.isfinite(v) and v > 0):
            msg = f"{name} must be a positive finite number, got {v!r}"
            raise ValueError(msg)


def discrete_arms(cls_name: str, action_space: gym.Space) -> int:
    """Number of arms of a ``Discrete`` action space, or an actionable error."""
    if not isinstance(action_space, gym.spaces.Discrete):
        msg = f"{cls_name} needs a Discrete action space, got {action_space}"
        raise ValueError(msg)
    return int(action_space.n)


def context_shape(cls_name: str, observation_space: gym.Space, arms: int) -> tuple[bool, int]:
    """``(per_arm, dim)`` of a shared ``(d,)`` or per-arm ``(K, d)`` Box observation space."""
    shape = getattr(observation_space, "shape", None)
    if not isinstance(observation_space, gym.spaces.Box) or shape is None:
        msg = f"{cls_name} needs a Box observation space of shape (d,) or (K, d), got {observation_space}"
        raise ValueError(msg)
    if len(shape) == 1:
        return False, int(shape[0])
    if len(shape) == 2 and shape[0] == arms:
        return True, int(shape[1])
    msg = f"{cls_name} needs observations of shape (d,) or ({arms}, d), got {shape}"
    raise ValueError(msg)


def sample_categorical(probs: Tensor, u: Tensor) -> Tensor:
    """Sample one index per row of ``probs`` (R, K) by inverse CDF with uniforms ``u`` (R,)."""
    cdf = probs.cumsum(dim=1)
    idx = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1).to(cdf.dtype), right=True)
    return idx.squeeze(1).clamp_(max=probs.shape[1] - 1)
