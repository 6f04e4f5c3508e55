"""The simulator-based policy-optimization skeleton the adversarial-MDP agents share.

Every episode ``k`` (papers §2.3): play the per-state FTRL policy ``π_k`` of the cumulative
estimated losses ``Σ_{τ<k} (Q̂_τ − B_τ)``; draw ``rollouts`` trajectories of ``π_k`` from the
simulator to estimate, per layer, the feature covariance ``Σ̂_{k,h}`` and the dilated bonus;
after the episode, the linear-Q estimate ``Q̂_k(s, a) = φ(s, a)ᵀ (Σ̂_{k,h} + γI)⁻¹
φ(s_{k,h}, a_{k,h}) L_{k,h}`` with ``L_{k,h}`` the realized loss-to-go. Both estimates are
linear in ``φ``, so the agent keeps one cumulative weight vector per layer and replicate.

Subclasses choose the regularizer, the default parameters and an optional transformation of
the estimate (:meth:`_estimate`). Everything ``update`` needs from its round travels in
``act_info`` (``_cov_inv``, ``_bonus``): delayed feedback is safe.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import gymnasium as gym
import torch
from torch import Tensor

from olearn.agent import BatchedAgent
from olearn.agents.mdp.common import (
    SimulatorClient,
    bonus_weights,
    covariance,
    layer_features,
    mdp_shape,
    occupancy,
    policy_from_weights,
    regularized_inverse,
    reward_to_go,
)
from olearn.validation import check_number

__all__ = ["SimulatorPO"]


class SimulatorPO(BatchedAgent):
    """Base class; see the module docstring. Not registered itself."""

    needs_simulator: ClassVar[bool] = True
    regularizer: ClassVar[Literal["log_barrier", "entropy"]] = "log_barrier"
    info_keys: ClassVar[tuple[str, ...]] = ("sim_calls", "sim_trajectories")
    info_dtypes: ClassVar[dict[str, str | None]] = {"sim_calls": "int64",
                                                    "sim_trajectories": "int64"}
    test_env: ClassVar[tuple[str, dict[str, Any]]] = (
        "olearn/LinearMDP-v0", {"H": 2, "states": 3, "actions": 3, "d": 3})

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 horizon: int = 10000, eta: float | None = None, gamma: float | None = None,
                 beta: float | None = None, rollouts: int | None = None) -> None:
        super().__init__(observation_space, action_space)
        self._shape = mdp_shape(type(self).__name__, observation_space, action_space)
        if not (isinstance(horizon, int) and horizon >= 1):
            msg = f"horizon must be a positive integer (the number of episodes K), got {horizon!r}"
            raise ValueError(msg)
        for name, v in (("eta", eta), ("gamma", gamma)):
            if v is not None:
                check_number(name, v, low=0.0, strict=True)
        if beta is not None:
            check_number("beta", beta, low=0.0)
        if rollouts is not None and not (isinstance(rollouts, int) and rollouts >= 1):
            msg = (f"rollouts must be None (the default of papers §2.3) or an integer >= 1, "
                   f"got {rollouts!r}")
            raise ValueError(msg)
        self.horizon, self.eta, self.gamma, self.beta, self.rollouts = (
            horizon, eta, gamma, beta, rollouts)
        self._sim: Any = None
        self.eta_, self.gamma_, self.beta_, self.rollouts_ = self._defaults()

    def _defaults(self) -> tuple[float, float, float, int]:
        """``(η, γ, β, N)`` used: the given values, else the subclass's formulas in ``K``."""
        raise NotImplementedError

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{"horizon": 50}, {"horizon": 50, "beta": 0.0, "rollouts": 4}]

    def attach_simulator(self, sim: Any) -> None:
        """Receive the environment's simulator (called by the engine before ``reset``)."""
        self._sim = sim

    def reset(self, *, seeds: Any, device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        if self._sim is None:
            msg = (f"{type(self).__name__} needs a simulator: the engine attaches one "
                   "(olearn.simulator.attach_simulators(env, agents)) before reset; run it "
                   "through olearn.simulate, olearn check, or call that function yourself")
            raise ValueError(msg)
        h, _, _, d = self._shape
        self._weights = torch.zeros(len(self.seeds), h, d, dtype=torch.float64, device=device)
        self._client = SimulatorClient(self._sim, self.seeds, self.rollouts_, self.device)
        self._acts = 0

    def act(self, obs: Any) -> tuple[Tensor, dict[str, Tensor]]:
        phi = torch.as_tensor(obs, device=self.device).to(torch.float64)
        pi = policy_from_weights(phi, self._weights, self.eta_, self.regularizer)
        traj = self._client.draw(pi, self._acts)
        self._acts += 1
        occ = occupancy(traj["states"], self._shape[1])
        cov_inv = regularized_inverse(covariance(phi, pi, occ), self.gamma_)
        if self.beta_ > 0:
            bonus = bonus_weights(phi, pi, cov_inv, traj["states"], traj["actions"], self.beta_)
        else:
            bonus = torch.zeros_like(self._weights)
        return pi, {"_cov_inv": cov_inv, "_bonus": bonus, **self._client.counters()}

    def update(self, step: Any) -> None:
        phi = torch.as_tensor(step.obs, device=self.device).to(torch.float64)
        fb = step.feedback
        states, actions = fb["states"].unsqueeze(1), fb["actions"].unsqueeze(1)   # (R, 1, H)
        f = layer_features(phi, states, actions)[:, 0]                            # (R, H, d)
        togo = reward_to_go(fb["losses"].to(torch.float64))                       # (R, H)
        w = (step.act_info["_cov_inv"] @ f.unsqueeze(-1)).squeeze(-1) * togo.unsqueeze(-1)
        w = self._estimate(w, phi, step.action.to(torch.float64))
        self._weights = self._weights + w - step.act_info["_bonus"]

    def _estimate(self, w: Tensor, phi: Tensor, policy: Tensor) -> Tensor:
        """Hook: transform the episode's estimate weights ``w`` (R, H, d); identity here."""
        return w
