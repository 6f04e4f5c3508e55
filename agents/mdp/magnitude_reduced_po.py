"""Exponential weights with a magnitude-reduced estimator (Algorithm 2 reconstruction)."""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import gymnasium as gym
import torch
from torch import Tensor

from olearn.agents.mdp.common import default
from olearn.agents.mdp.policy_optimization import SimulatorPO

__all__ = ["MagnitudeReducedPO"]


class MagnitudeReducedPO(SimulatorPO):
    r"""**Experimental.** Per-state exponential weights on a magnitude-reduced linear-Q estimate.

    Algorithm 2 of Dai et al. (ICML 2023) as reconstructed in papers §2.4; the paper's exact
    estimator was not available. Reconstruction: the estimate is centred at the policy's own
    prediction, ``Q̃_k(s, a) = (φ(s, a) − φ̄_k(s))ᵀ ŵ_{k,h}`` with ``φ̄_k(s) = Σ_a π_k(a|s)φ(s, a)``
    (exponential weights are invariant to the per-state shift, so the policy is that of the
    uncentred estimate), and when ``η·max_{s,a}|Q̃_k(s, a)|`` exceeds ``clip`` on a layer the
    layer's estimate is scaled down to reach it, so ``η·Q̃ ≥ −clip`` holds with a small ``γ``.
    Simulator use and dilated bonus as in :class:`~olearn.agents.mdp.log_barrier_po.LogBarrierPO`.

    Parameters
    ----------
    horizon
        Number of episodes ``K`` the defaults are computed from.
    eta
        Learning rate; default ``√(ln A / (d H² K))`` (reconstruction, papers §2.4).
    gamma
        Covariance regularizer; default ``1/√K``.
    beta
        Bonus scale; default ``η·H``; 0 disables the bonus.
    rollouts
        Simulator trajectories per episode; default ``min(K, 64)``.
    clip
        Bound on ``η|Q̃|`` (reconstruction); default 1.

    Info
    ----
    ``sim_calls``, ``sim_trajectories``: simulator calls and trajectories so far, per replicate.

    Examples
    --------
    >>> import olearn
    >>> spec = olearn.RunSpec.from_dict({"name": "doc", "horizon": 20, "replicates": 2,
    ...     "env": {"id": "olearn/LinearMDP-v0", "kwargs": {"H": 2, "states": 3}},
    ...     "agents": [{"label": "mr", "id": "olearn/MagnitudeReducedPO-v0",
    ...                 "kwargs": {"horizon": 20, "rollouts": 4}}]})
    >>> import tempfile
    >>> run = olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True)
    >>> int(olearn.load(run.out).collect()["sim_calls"].max())
    20
    """

    regularizer: ClassVar[Literal["log_barrier", "entropy"]] = "entropy"

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 horizon: int = 10000,
                 eta: float | None = None, gamma: float | None = None,
                 beta: float | None = None, rollouts: int | None = None,
                 clip: float = 1.0) -> None:
        super().__init__(observation_space, action_space, horizon=horizon, eta=eta,
                         gamma=gamma, beta=beta, rollouts=rollouts)
        if not (isinstance(clip, (int, float)) and math.isfinite(clip) and clip > 0):
            msg = f"clip must be a positive finite number, got {clip!r}"
            raise ValueError(msg)
        self.clip = float(clip)

    def _defaults(self) -> tuple[float, float, float, int]:
        h, _, a, d = self._shape
        k = self.horizon
        eta = default(self.eta, math.sqrt(max(math.log(a), 1.0) / (d * h * h * k)))
        gamma = default(self.gamma, 1.0 / math.sqrt(k))
        beta = default(self.beta, eta * h)
        return eta, gamma, beta, self.rollouts or min(k, 64)

    def _estimate(self, w: Tensor, phi: Tensor, policy: Tensor) -> Tensor:
        centred = phi - (policy.unsqueeze(-1) * phi).sum(-2, keepdim=True)   # (R, H, S, A, d)
        q = torch.einsum("rhsad,rhd->rhsa", centred, w)
        size = self.eta_ * q.abs().amax(dim=(-2, -1))                       # (R, H)
        scale = torch.where(size > self.clip, self.clip / size.clamp_min(1e-300),
                            torch.ones_like(size))
        return w * scale.unsqueeze(-1)
