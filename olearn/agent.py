"""The batched agent base class and the space checks agents share (a contract, like
:mod:`olearn.vector` for environments)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import torch

__all__ = ["BatchedAgent", "context_shape", "discrete_arms"]


class BatchedAgent:
    """Base class of built-in agents: state for ``R`` replicates as batched tensors.

    Subclasses store hyperparameters verbatim in ``__init__`` (after calling
    ``super().__init__(observation_space, action_space)``), build learned state in ``reset``
    and implement ``act`` and ``update`` (see :class:`olearn.types.Agent`).

    Everything ``update`` needs from its own round travels in that round's ``act_info``
    (feedback may arrive ``delay`` rounds late, after later acts): never keep the last act's
    values on ``self`` for ``update``. ``act_info`` keys starting with ``_`` are private to
    ``update``: not declared in ``info_keys`` and never recorded.
    """

    vectorized: ClassVar[bool] = True
    #: the ``act_info`` keys this agent returns, checked by the contract tests; each one is a
    #: float64 trace column (see olearn.trace) unless ``info_dtypes`` says otherwise
    info_keys: ClassVar[tuple[str, ...]] = ()
    #: trace dtypes of ``act_info`` entries that are not float64 ("int64", "bool"), or ``None``
    #: for an entry that is not one value per replicate (not recorded)
    info_dtypes: ClassVar[dict[str, str | None]] = {}

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space = observation_space
        self.action_space = action_space

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        self.seeds = list(seeds)
        self.replicates = len(self.seeds)
        self.device = torch.device(device)

    def state_dict(self) -> dict[str, Any]:
        """Learned state and counters as tensors and plain values: ``torch.save`` it, load it
        with ``torch.load(..., weights_only=True)`` (see :mod:`olearn.agent_state`)."""
        from olearn.agent_state import state_of

        return state_of(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``; this agent must be built with the same keywords and reset
        for the same number of replicates (a mismatch is refused naming the attribute)."""
        from olearn.agent_state import load_state

        load_state(self, state)

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


def discrete_arms(cls_name: str, action_space: gym.Space) -> int:
    """Number of arms of a ``Discrete`` action space, or an actionable error."""
    if not isinstance(action_space, gym.spaces.Discrete):
        msg = f"{cls_name} needs a Discrete action space, got {action_space}"
        raise ValueError(msg)
    if int(action_space.start) != 0:
        msg = (f"{cls_name} plays arms 0..n-1 and needs Discrete(n) starting at 0, got "
               f"{action_space}; shift the env's actions to start at 0")
        raise ValueError(msg)
    return int(action_space.n)


def context_shape(cls_name: str, observation_space: gym.Space, arms: int) -> tuple[bool, int]:
    """``(per_arm, dim)`` of a shared ``(d,)`` or per-arm ``(K, d)`` Box observation space."""
    shape = getattr(observation_space, "shape", None)
    if not isinstance(observation_space, gym.spaces.Box) or shape is None:
        msg = (f"{cls_name} needs a Box observation space of shape (d,) or (K, d), "
               f"got {observation_space}")
        raise ValueError(msg)
    if len(shape) == 1:
        return False, int(shape[0])
    if len(shape) == 2 and shape[0] == arms:
        return True, int(shape[1])
    msg = f"{cls_name} needs observations of shape (d,) or ({arms}, d), got {shape}"
    raise ValueError(msg)
