"""Pieces the adversarial-MDP policy-optimization agents share (batched over replicates).

Shapes: features ``φ`` ``(R, H, S, A, d)`` (the observation), policies ``(R, H, S, A)``,
cumulative weight vectors ``W`` ``(R, H, d)``: the policy of a layer-``h`` state is an FTRL
step on the cumulative estimated losses ``⟨φ(s, a), W_h⟩``, computed for every state on
demand, so memory does not grow with the states visited. All float64.

Examples
--------
>>> phi = torch.eye(2, dtype=torch.float64).reshape(1, 1, 1, 2, 2)
>>> pi = policy_from_weights(phi, torch.tensor([[[0.0, 1.0]]], dtype=torch.float64), 1.0,
...                          "log_barrier")
>>> [round(float(p), 6) for p in pi.flatten()]     # 1/(L + λ) with λ = (1 + √5)/2
[0.618034, 0.381966]
"""

from __future__ import annotations

import math
from typing import Any, Literal

import gymnasium as gym
import torch
from torch import Tensor

from olearn.agents.common.mirror_maps import log_barrier_simplex
from olearn.seeding import BlockStream

__all__ = ["bonus_weights", "covariance", "layer_features", "mdp_shape", "occupancy",
           "policy_from_weights", "reward_to_go", "SimulatorClient"]


def mdp_shape(cls_name: str, observation_space: gym.Space,
              action_space: gym.Space) -> tuple[int, int, int, int]:
    """``(H, S, A, d)`` of a LinearMDP-like env, or a one-line error."""
    obs = getattr(observation_space, "shape", None)
    act = getattr(action_space, "shape", None)
    if obs is None or act is None or len(obs) != 4 or tuple(obs[:3]) != tuple(act):
        msg = (f"{cls_name} needs a layered MDP: observations of shape (H, S, A, d) (the "
               f"features) and policy actions of shape (H, S, A), got {obs} and {act}")
        raise ValueError(msg)
    return tuple(int(x) for x in obs)  # type: ignore[return-value]


def policy_from_weights(phi: Tensor, weights: Tensor, eta: float,
                        regularizer: Literal["log_barrier", "entropy"]) -> Tensor:
    """Per-state FTRL on ``L(s, a) = ⟨φ(s, a), W_h⟩`` over the action simplex.

    ``log_barrier`` uses the shared exact solver :func:`log_barrier_simplex` (valid for
    arbitrarily negative ``L``); ``entropy`` is exponential weights ``∝ exp(−ηL)``.
    """
    loss = (phi.flatten(2, 3) @ weights.unsqueeze(-1)).view(phi.shape[:-1])
    if regularizer == "log_barrier":
        return log_barrier_simplex(loss, eta)
    return torch.softmax(-eta * loss, dim=-1)


def occupancy(states: Tensor, n_states: int) -> Tensor:
    """Empirical state distribution per layer ``(R, H, S)`` of trajectories ``(R, n, H)``."""
    r, n, h = states.shape
    out = torch.zeros(r, h, n_states, dtype=torch.float64, device=states.device)
    out.scatter_add_(2, states.transpose(1, 2), torch.ones(r, h, n, dtype=torch.float64,
                                                             device=states.device))
    return out / n


def covariance(phi: Tensor, policy: Tensor, occ: Tensor) -> Tensor:
    """``Σ_h = Σ_s occ_h(s) Σ_a π_h(a|s) φ(s, a)φ(s, a)ᵀ`` per replicate and layer.

    Shape ``(R, H, d, d)``.
    """
    w = (occ.unsqueeze(-1) * policy).flatten(2).unsqueeze(-1)        # (R, H, S·A, 1)
    x = phi.flatten(2, 3)                                             # (R, H, S·A, d)
    return (x * w).transpose(-1, -2) @ x


def regularized_inverse(cov: Tensor, gamma: float) -> Tensor:
    """``(Σ + γI)⁻¹`` for a batch of ``(…, d, d)`` matrices (Cholesky)."""
    eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    return torch.cholesky_inverse(torch.linalg.cholesky(cov + gamma * eye))


def layer_features(phi: Tensor, states: Tensor, actions: Tensor) -> Tensor:
    """``φ(s_h, a_h)`` along trajectories: ``(R, n, H)`` states and actions -> ``(R, n, H, d)``."""
    r, n, h = states.shape
    ri = torch.arange(r, device=phi.device).view(r, 1, 1).expand(r, n, h)
    hi = torch.arange(h, device=phi.device).view(1, 1, h).expand(r, n, h)
    return phi[ri, hi, states, actions]


def reward_to_go(x: Tensor, factor: float = 1.0) -> Tensor:
    """``Σ_{h' ≥ h} factor^{h'−h} x_{h'}`` along the last dimension."""
    out = x.clone()
    for h in range(x.shape[-1] - 2, -1, -1):
        out[..., h] = x[..., h] + factor * out[..., h + 1]
    return out


def bonus_weights(phi: Tensor, policy: Tensor, cov_inv: Tensor, states: Tensor,
                  actions: Tensor, beta: float) -> Tensor:
    """Regression weights ``v_h`` ``(R, H, d)`` of the dilated bonus (Luo, Wei, Lee 2021).

    ``b(s) = β Σ_a π(a|s)‖φ(s, a)‖²_{Σ⁻¹}``, ``B(s, a) = b(s) + (1 + 1/H) E[B(s', a')]``.
    Reconstruction: ``b(s)`` is a per-state constant and leaves per-state FTRL unchanged, so
    only the future part ``(1 + 1/H) E[B(s', a')]`` matters; it is regressed onto ``φ(s, a)``
    from the simulated trajectories, ``v_h = Σ_h⁻¹ mean_i φ(s_h^i, a_h^i) D_{h+1}^i`` with
    ``D`` the dilated bonus-to-go along trajectory ``i``.
    """
    horizon, n_actions = phi.shape[1], phi.shape[3]
    x = phi.flatten(2, 3)                                             # (R, H, S·A, d)
    norms = ((x @ cov_inv) * x).sum(-1).view(phi.shape[:-1])
    b = beta * (policy * norms).sum(-1)                               # (R, H, S)
    r, n, _ = states.shape
    st = states.transpose(1, 2)                                       # (R, H, n)
    along = b.gather(2, st)
    dilate = 1.0 + 1.0 / horizon
    future = torch.zeros_like(along)
    for h in range(horizon - 2, -1, -1):                              # dilated bonus-to-go
        future[:, h] = dilate * (along[:, h + 1] + future[:, h + 1])
    bins = torch.zeros(r, horizon, x.shape[2], dtype=x.dtype, device=x.device)
    bins.scatter_add_(2, st * n_actions + actions.transpose(1, 2), future)
    target = (bins.unsqueeze(-2) @ x).squeeze(-2) / n                 # mean_i φ(s_h, a_h) F_h
    return (cov_inv @ target.unsqueeze(-1)).squeeze(-1)


class SimulatorClient:
    """An agent's handle on an attached simulator: its noise stream and its counters.

    ``draw(policy)`` returns ``rollouts`` trajectories per replicate; the noise comes from the
    agent's own per-replicate stream (indexed by the act count), so a seeded agent replays.
    """

    def __init__(self, sim: Any, seeds: list[int], rollouts: int, device: torch.device) -> None:
        self.sim, self.rollouts = sim, rollouts
        self._noise = BlockStream(seeds, "simulator", sim.noise_shape(rollouts), kind="uniform",
                                  device=device)
        self.calls = torch.zeros(len(seeds), dtype=torch.int64, device=device)

    def draw(self, policy: Tensor, index: int) -> dict[str, Tensor]:
        """Trajectories of ``policy`` for act number ``index`` (0-based)."""
        self.calls = self.calls + 1
        return self.sim.rollouts(policy, self._noise(index).to(torch.float64))

    def counters(self) -> dict[str, Tensor]:
        """``sim_calls`` and ``sim_trajectories`` so far, per replicate (trace columns)."""
        return {"sim_calls": self.calls, "sim_trajectories": self.calls * self.rollouts}


def default(value: float | None, formula: float) -> float:
    """``value`` if given, else the papers §2.3 ``formula``."""
    return float(formula) if value is None else float(value)


def log_k(horizon: int) -> float:
    """``ln K`` floored at 1 (the default-parameter formulas divide by it or take roots)."""
    return max(1.0, math.log(horizon))
