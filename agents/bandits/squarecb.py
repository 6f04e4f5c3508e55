"""SquareCB and FastCB with a linear (ridge) regression oracle, batched over replicates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import gymnasium as gym
import torch
from torch import Tensor

from olearn.agents.bandits.igw import (
    check_gamma,
    check_reward_range,
    fastcb_probs,
    gamma_schedule,
    losses_from_predicted_rewards,
    squarecb_probs,
)
from olearn.agents.bandits.linear import _LinearAgent
from olearn.agents.common.sampling import sample_categorical
from olearn.seeding import BlockStream
from olearn.types import Step


class SquareCB(_LinearAgent):
    """SquareCB: inverse-gap weighting over the losses predicted by online ridge regression.

    A ridge model (one per arm for a shared context, one shared model for per-arm contexts)
    regresses the *reward*; its predictions are mapped to losses ``ŷ_a = (hi − r̂_a)/(hi − lo)``
    with ``reward_range = (lo, hi)``, and the action is drawn from
    ``p_a = 1/(K + γ_t (ŷ_a − ŷ_b))`` (Foster & Rakhlin 2020; olearn papers §5.1) with
    ``γ_t = gamma_scale · t^gamma_exponent``.

    Why the oracle regresses the reward and not the loss: the IGW guarantees need a
    *realizable* oracle, one whose function class contains the true mean. On a linear bandit
    the mean reward ``θ_aᵀx`` is linear, but the mean loss ``(hi − θ_aᵀx)/(hi − lo)`` is affine:
    the map adds a constant, which a ridge model without an intercept cannot represent (its
    regret was then linear in T). Regressing the reward keeps the oracle's class exactly the
    realizable one, with no extra feature and no penalized intercept, and the affine map is
    applied to the predictions, where it is exact (it scales every gap by ``1/(hi − lo)``).
    Targets are not clipped either (clipping a realizable target makes it non-realizable).

    Parameters
    ----------
    gamma_scale, gamma_exponent
        Exploration schedule (VW's default ``10 · t^0.5``).
    reward_range
        ``(lo, hi)``: predicted losses are ``(hi − r̂)/(hi − lo)`` (FastCB clips them to
        [0, 1]; SquareCB uses only their gaps).
    reg, model
        As for :class:`olearn.agents.bandits.linear.LinUCB`.

    Info
    ----
    ``propensity`` (probability of the action taken) and ``gamma``.

    Examples
    --------
    >>> import gymnasium as gym, torch
    >>> agent = SquareCB(gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(3))
    >>> agent.reset(seeds=[0], device=torch.device("cpu"))
    >>> action, info = agent.act(torch.tensor([[1.0, 0.0]]))
    >>> round(float(info["propensity"][0]), 3)
    0.333
    """

    info_keys: ClassVar[tuple[str, ...]] = ("propensity", "gamma")
    test_env: ClassVar[tuple[str, dict]] = ("olearn/ContextualBandit-v0", {"arms": 3, "dim": 4})
    _rule = staticmethod(squarecb_probs)

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 gamma_scale: float = 10.0, gamma_exponent: float = 0.5,
                 reward_range: tuple[float, float] = (0.0, 1.0), reg: float = 1.0,
                 model: Literal["auto", "disjoint", "shared"] = "auto") -> None:
        super().__init__(observation_space, action_space, reg=reg, model=model)
        check_gamma(type(self).__name__, gamma_scale, gamma_exponent)
        check_reward_range(type(self).__name__, reward_range)
        self.gamma_scale = gamma_scale
        self.gamma_exponent = gamma_exponent
        self.reward_range = reward_range

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{}, {"gamma_scale": 100.0, "gamma_exponent": 0.0, "reward_range": (-1.0, 1.0)}]

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        self._u = BlockStream(self.seeds, "action", (), kind="uniform", device=self.device)
        self._t = 0

    def _predict(self, x: Tensor) -> Tensor:
        """Predicted losses ``(hi − r̂)/(hi − lo)`` from the ridge model of the reward."""
        return losses_from_predicted_rewards(self._ridge.mean(x), self.reward_range)

    def act(self, obs: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        self._t += 1
        gamma = gamma_schedule(self._t, self.gamma_scale, self.gamma_exponent)
        probs = self._rule(self._predict(self._contexts(obs)), gamma)
        action = sample_categorical(probs, self._u(self._t - 1))
        p = probs.gather(1, action.unsqueeze(1)).squeeze(1)
        g = torch.full((self.replicates,), gamma, device=self.device)
        return action, {"propensity": p.to(torch.float32), "gamma": g}

    def _target(self, step: Step) -> Tensor:
        """The ridge target is the reward itself (see the class docstring)."""
        return step.reward.to(self.device, torch.float64)


class FastCB(SquareCB):
    """FastCB: the first-order IGW rule ``p_a = ŷ_b / (K ŷ_b + γ_t (ŷ_a − ŷ_b))`` on ridge
    predictions.

    Foster & Krishnamurthy (2021), olearn papers §5.2. The paper's oracle minimizes the log (KL)
    loss; this linear baseline uses the ridge (square-loss) reward predictions, mapped to losses
    as in :class:`SquareCB` and clipped to [0, 1], which
    keeps the rule's first-order behaviour (exploration vanishes where the best predicted loss
    is near 0). Parameters and info as for :class:`SquareCB`.

    Examples
    --------
    >>> import gymnasium as gym, torch
    >>> agent = FastCB(gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(3))
    >>> agent.reset(seeds=[0], device=torch.device("cpu"))
    >>> action, info = agent.act(torch.tensor([[1.0, 0.0]]))
    >>> round(float(info["propensity"][0]), 3)
    0.333
    """

    _rule = staticmethod(fastcb_probs)
