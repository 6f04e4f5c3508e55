"""Baselines: uniform random play and ε-greedy on a ridge model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import gymnasium as gym
import torch
from torch import Tensor

from olearn.agent import BatchedAgent, discrete_arms
from olearn.agents.bandits.linear import _LinearAgent
from olearn.seeding import BlockStream
from olearn.validation import check_choice, check_number


class Uniform(BatchedAgent):
    """Pull an arm uniformly at random every round: the floor every agent must beat.

    Examples
    --------
    >>> import gymnasium as gym, torch
    >>> agent = Uniform(gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(3))
    >>> agent.reset(seeds=[1, 2], device=torch.device("cpu"))
    >>> action, info = agent.act(torch.zeros(2, 2))
    >>> action.shape, info["propensity"].tolist()
    (torch.Size([2]), [0.333..., 0.333...])
    """

    info_keys: ClassVar[tuple[str, ...]] = ("propensity",)

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        super().__init__(observation_space, action_space)
        self.arms = discrete_arms("Uniform", action_space)

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        self._u = BlockStream(self.seeds, "uniform", (), kind="uniform", device=self.device)
        self._t = 0
        self._p = torch.full((self.replicates,), 1.0 / self.arms, device=self.device)

    def act(self, obs: Any) -> tuple[Tensor, dict[str, Tensor]]:
        u = self._u(self._t)
        self._t += 1
        return (u * self.arms).long().clamp_(max=self.arms - 1), {"propensity": self._p}

    def update(self, step: Any) -> None:
        """Uniform play learns nothing."""


class EpsilonGreedy(_LinearAgent):
    """ε-greedy on a ridge regression model of the rewards.

    With probability ``ε_t`` play a uniform arm, else the arm of largest predicted reward.
    ``schedule="constant"``: ``ε_t = epsilon``; ``"inverse_sqrt"``:
    ``ε_t = min(1, epsilon·√(K/t))``.

    Parameters
    ----------
    epsilon
        Exploration rate (``0 ≤ ε ≤ 1`` for the constant schedule).
    schedule
        ``"constant"`` or ``"inverse_sqrt"``.
    reg, model
        As for :class:`olearn.agents.bandits.linear.LinUCB`.

    Examples
    --------
    >>> import gymnasium as gym, torch
    >>> agent = EpsilonGreedy(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(4), epsilon=0.2)
    >>> agent.reset(seeds=[0], device=torch.device("cpu"))
    >>> action, info = agent.act(torch.ones(1, 3))
    >>> round(float(info["propensity"][0]), 2) in (0.05, 0.85)  # ε/K, or ε/K + 1 − ε if greedy
    True
    """

    info_keys: ClassVar[tuple[str, ...]] = ("propensity",)

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 epsilon: float = 0.05,
                 schedule: Literal["constant", "inverse_sqrt"] = "constant",
                 reg: float = 1.0, model: Literal["auto", "disjoint", "shared"] = "auto") -> None:
        super().__init__(observation_space, action_space, reg=reg, model=model)
        check_number("epsilon", epsilon, low=0.0,
                     high=1.0 if schedule == "constant" else float("inf"))
        check_choice("schedule", schedule, ("constant", "inverse_sqrt"))
        self.epsilon = epsilon
        self.schedule = schedule

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{}, {"epsilon": 1.0, "schedule": "inverse_sqrt"}]

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        self._u = BlockStream(self.seeds, "explore", (2,), kind="uniform", device=self.device)
        self._t = 0

    def act(self, obs: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        self._t += 1
        eps = self.epsilon
        if self.schedule == "inverse_sqrt":
            eps = min(1.0, eps * (self.arms / self._t) ** 0.5)
        u = self._u(self._t - 1)
        greedy = self._ridge.mean(self._contexts(obs)).argmax(dim=1)
        uniform = (u[:, 1] * self.arms).long().clamp_(max=self.arms - 1)
        explore = u[:, 0] < eps
        action = torch.where(explore, uniform, greedy)
        p = eps / self.arms + (1.0 - eps) * (action == greedy)
        return action, {"propensity": p.to(torch.float32)}
