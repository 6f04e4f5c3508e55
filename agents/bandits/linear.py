"""LinUCB and linear Thompson sampling, batched over replicates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import gymnasium as gym
import torch
from torch import Tensor

from olearn.agent import BatchedAgent, context_shape, discrete_arms
from olearn.agents.bandits.ridge import BatchedRidge
from olearn.seeding import BlockStream
from olearn.types import Step
from olearn.validation import check_choice, check_number


class _LinearAgent(BatchedAgent):
    """Common part: a ridge model per arm (``disjoint``) or one for all arms (``shared``)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 reg: float = 1.0, model: Literal["auto", "disjoint", "shared"] = "auto") -> None:
        super().__init__(observation_space, action_space)
        name = type(self).__name__
        self.arms = discrete_arms(name, action_space)
        self.per_arm, self.dim = context_shape(name, observation_space, self.arms)
        check_number("reg", reg, low=0.0, strict=True)
        check_choice("model", model, ("auto", "disjoint", "shared"))
        if model == "shared" and not self.per_arm:
            msg = "model='shared' needs per-arm contexts of shape (K, d); use 'disjoint'"
            raise ValueError(msg)
        self.reg = reg
        self.model = model

    @property
    def _models(self) -> int:
        disjoint = self.model == "disjoint" or (self.model == "auto" and not self.per_arm)
        return self.arms if disjoint else 1

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        self._ridge = BatchedRidge(replicates=self.replicates, models=self._models, dim=self.dim,
                                   reg=self.reg, device=self.device)
        self._rows = torch.arange(self.replicates, device=self.device)
        self._zeros = torch.zeros(self.replicates, dtype=torch.long, device=self.device)

    def _contexts(self, obs: Tensor) -> Tensor:
        """Contexts, shared ``(R, d)`` or per arm ``(R, K, d)``, never expanded."""
        return obs

    def update(self, step: Step) -> None:
        a = step.action
        x = self._contexts(step.obs)
        if self.per_arm:
            x = x[self._rows, a]
        model = a if self._models > 1 else self._zeros
        self._ridge.update(model, x, self._target(step))

    def _target(self, step: Step) -> Tensor:
        """The regression target of a step: the reward (subclasses may map it to a loss)."""
        return step.reward


class LinUCB(_LinearAgent):
    """LinUCB: play the arm with the largest upper confidence bound of a ridge model.

    Score ``θ̂_aᵀx_a + α·√(x_aᵀA_a⁻¹x_a)``; rank-one updates of ``A⁻¹``, batched over
    replicates (Li et al., WWW 2010; olearn papers §5.3).

    Parameters
    ----------
    alpha
        Width of the confidence bonus (α ≥ 0).
    reg
        Ridge strength λ (``A = λI`` initially).
    model
        ``"disjoint"``: one model per arm; ``"shared"``: one model over per-arm contexts;
        ``"auto"``: disjoint for a shared context, shared for per-arm contexts.

    Examples
    --------
    >>> import olearn
    >>> spec = olearn.RunSpec.from_dict({"name": "doc", "horizon": 300, "replicates": 2,
    ...     "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 4, "dim": 5}},
    ...     "agents": [{"label": "linucb", "id": "olearn/LinUCB-v0"}]})
    >>> import tempfile
    >>> result = olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True)
    >>> result.final_regret()["linucb"] < 40
    True
    """

    info_keys: ClassVar[tuple[str, ...]] = ("propensity",)

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 alpha: float = 1.0, reg: float = 1.0,
                 model: Literal["auto", "disjoint", "shared"] = "auto") -> None:
        super().__init__(observation_space, action_space, reg=reg, model=model)
        check_number("alpha", alpha, low=0.0)
        self.alpha = alpha

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{}, {"alpha": 0.1, "reg": 0.5}]

    def act(self, obs: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return self._ridge.best(self._contexts(obs), self.alpha), {"propensity": self._ones}

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        self._ones = torch.ones(self.replicates, device=self.device)


class LinTS(_LinearAgent):
    """Linear Thompson sampling: act greedily on a posterior sample ``θ̃ ~ N(θ̂, v²A⁻¹)``.

    With disjoint models the arms' sampled scores are independent, so each arm's score is
    drawn from its exact marginal ``N(θ̂_aᵀx, v²·x_aᵀA_a⁻¹x_a)``; with a shared model ``θ̃`` is
    drawn jointly through a Cholesky factor of ``A⁻¹``.

    Parameters
    ----------
    v
        Posterior scale (v > 0); the noise level of the rewards is the Bayesian choice.
    reg, model
        As for :class:`LinUCB`.

    Examples
    --------
    >>> import gymnasium as gym, torch
    >>> agent = LinTS(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(4), v=0.1)
    >>> agent.reset(seeds=[0, 1], device=torch.device("cpu"))
    >>> action, info = agent.act(torch.ones(2, 3))
    >>> action.shape, info
    (torch.Size([2]), {})
    """

    info_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 v: float = 0.3, reg: float = 1.0,
                 model: Literal["auto", "disjoint", "shared"] = "auto") -> None:
        super().__init__(observation_space, action_space, reg=reg, model=model)
        check_number("v", v, low=0.0, strict=True)
        self.v = v

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        shape = (self.arms,) if self._models > 1 else (self.dim,)
        self._z = BlockStream(self.seeds, "posterior", shape, device=self.device)
        self._t = 0

    def act(self, obs: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        x = self._contexts(obs)
        z = self._z(self._t)
        self._t += 1
        if self._models > 1:
            return self._ridge.best(x, self.v * z), {}
        chol = torch.linalg.cholesky(self._ridge.a_inv[:, 0])  # (R, d, d)
        theta = self._ridge.theta[:, 0] + self.v * (chol @ z.unsqueeze(-1)).squeeze(-1)
        score = torch.bmm(x.to(torch.float64), theta.unsqueeze(-1)).squeeze(-1)
        return score.argmax(dim=1), {}
