"""Protocols and the data passed around the loop; no logic lives here.

An *agent* acts on all ``R`` replicates at once: observations, actions and every entry of
``act_info`` carry a leading replicate dimension.

Tensors handed to the engine (from ``env.step`` and ``agent.act``) belong to it from then on:
it keeps references for trace recording and delayed feedback instead of copying, so never
modify a returned tensor in place in a later round; ``olearn check`` reports it if you do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor


@dataclass
class Step:
    """What an agent learns from one round, handed to :meth:`Agent.update`.

    Attributes
    ----------
    t
        Round (1-based) in which the action was taken.
    obs
        Observation the agent acted on, leading dimension ``R``.
    action
        The action taken, leading dimension ``R``.
    act_info
        The dictionary the agent returned from ``act`` for this round.
    reward
        Realized reward per replicate, shape ``(R,)``.
    feedback
        ``info["feedback"]`` of the environment: what the agent may use beyond the reward
        (full gradient in online convex optimization, a bag mean, ...).
    next_obs
        Observation after the step (the next round's context).
    done
        ``(R,)`` bool: the episode of that replicate ended with this step.

    ``info["oracle"]`` is never part of a step: agents cannot see the comparator.
    """

    t: int
    obs: Any
    action: Tensor
    act_info: dict[str, Tensor]
    reward: Tensor
    feedback: dict[str, Any] = field(default_factory=dict)
    next_obs: Any = None
    done: Tensor | None = None


@runtime_checkable
class Agent(Protocol):
    """A batched agent: state for ``R`` replicates, acting on all of them at once.

    Constructors take ``(observation_space, action_space)`` of a *single* replicate and
    keyword-only hyperparameters stored verbatim under their own names.
    """

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        """Build learned state for ``len(seeds)`` replicates; seed ``r`` drives replicate ``r``."""

    def act(self, obs: Any) -> tuple[Tensor, dict[str, Tensor]]:
        """Return ``(action[R, ...], act_info)`` for the batched observation."""

    def update(self, step: Step) -> None:
        """Learn from one (possibly delayed) round."""
