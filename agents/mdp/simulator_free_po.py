"""Simulator-free log-barrier policy optimization for linear MDPs (papers §2.5 reconstruction)."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import gymnasium as gym
import torch
from torch import Tensor

from olearn.agent import BatchedAgent
from olearn.agents.mdp.common import (
    default,
    layer_features,
    log_k,
    mdp_shape,
    policy_from_weights,
    regularized_inverse,
    reward_to_go,
)
from olearn.validation import check_choice, check_number

__all__ = ["SimulatorFreePO", "mgr_inverse"]


def mgr_inverse(samples: Tensor, beta: float) -> Tensor:
    """Matrix Geometric Resampling (Neu & Olkhovskaya 2020): ``Σ⁺ = βI + β Σ_j A_j``.

    ``A_0 = I``, ``A_j = A_{j−1}(I − βφ_jφ_jᵀ)`` for samples ``φ_j`` (``samples`` ``(…, M, d)``,
    ``β‖φ‖² ≤ 1``); ``E[Σ⁺] = Σ⁻¹(I − (I − βΣ)^{M+1})`` for i.i.d. samples of covariance ``Σ``.

    Examples
    --------
    >>> phi = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> mgr_inverse(phi, 0.5).tolist()
    [[1.0, 0.0], [0.0, 1.25]]
    """
    d = samples.shape[-1]
    eye = torch.eye(d, dtype=samples.dtype, device=samples.device)
    a = eye.expand(*samples.shape[:-2], d, d)
    total = torch.zeros_like(a)
    for j in range(samples.shape[-2]):
        v = samples[..., j, :]
        a = a - beta * (a @ v.unsqueeze(-1)) * v.unsqueeze(-2)
        total = total + a
    return beta * (eye + total)


class SimulatorFreePO(BatchedAgent):
    r"""Log-barrier policy optimization from real episodes only (linear MDP, no simulator).

    Reconstruction of the simulator-free extension of Dai et al. (papers §2.5; the paper's
    construction was not available): the ``K`` episodes are split into epochs of
    ``epoch_len`` episodes with a fixed policy (per-state log-barrier FTRL, as in
    :class:`~olearn.agents.mdp.log_barrier_po.LogBarrierPO`). The first ``cov_fraction`` of an
    epoch's real trajectories estimate the layer covariances; the rest give linear-Q
    estimates ``Σ̂⁻¹φ_{k,h}L_{k,h}``, averaged and credited to every episode of the epoch at
    its end. ``estimator="direct"``: ``(Σ̂ + γI)⁻¹`` with ``Σ̂`` the mean of
    ``Σ_a π(a|s_h)φφᵀ`` at the visited states; ``"mgr"``: Matrix Geometric Resampling
    (:func:`mgr_inverse`) on the visited ``φ(s_h, a_h)``. No exploration bonus
    (reconstruction). The phase of a round is a function of its index ``step.t``, so
    delayed feedback is safe (the first rounds of an epoch may then act on the previous
    epoch's policy).

    Parameters
    ----------
    horizon
        Number of episodes ``K`` the defaults are computed from.
    eta
        Learning rate; default ``√(A ln K / (d H² K))``.
    epoch_len
        Episodes per epoch; default ``2⌈K^{1/3}⌉`` (reconstruction).
    cov_fraction
        Share of an epoch used for covariance estimation (at least one episode each).
    estimator
        ``"direct"`` or ``"mgr"``.
    gamma
        Regularizer of ``"direct"``; default ``1/√(covariance episodes)``.
    mgr_samples, mgr_beta
        MGR: samples used (default: all covariance samples of the epoch) and ``β``
        (``β‖φ‖² ≤ 1``; features on the simplex have ``‖φ‖ ≤ 1``).

    Examples
    --------
    >>> import olearn
    >>> spec = olearn.RunSpec.from_dict({"name": "doc", "horizon": 40, "replicates": 2,
    ...     "env": {"id": "olearn/LinearMDP-v0", "kwargs": {"H": 2, "states": 3}},
    ...     "agents": [{"label": "sf", "id": "olearn/SimulatorFreePO-v0",
    ...                 "kwargs": {"horizon": 40, "estimator": "mgr"}}]})
    >>> import tempfile
    >>> run = olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True)
    >>> olearn.load(run.out).collect()["t"].max()
    40
    """

    info_keys: ClassVar[tuple[str, ...]] = ()
    test_env: ClassVar[tuple[str, dict[str, Any]]] = (
        "olearn/LinearMDP-v0", {"H": 2, "states": 3, "actions": 3, "d": 3})

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 horizon: int = 10000, eta: float | None = None, epoch_len: int | None = None,
                 cov_fraction: float = 0.5, estimator: Literal["direct", "mgr"] = "direct",
                 gamma: float | None = None, mgr_samples: int | None = None,
                 mgr_beta: float = 0.5) -> None:
        super().__init__(observation_space, action_space)
        self._shape = mdp_shape(type(self).__name__, observation_space, action_space)
        if not (isinstance(horizon, int) and horizon >= 1):
            msg = f"horizon must be a positive integer (the number of episodes K), got {horizon!r}"
            raise ValueError(msg)
        if eta is not None:
            check_number("eta", eta, low=0.0, strict=True)
        if gamma is not None:
            check_number("gamma", gamma, low=0.0, strict=True)
        if epoch_len is not None and not (isinstance(epoch_len, int) and epoch_len >= 2):
            msg = f"epoch_len must be None or an integer >= 2, got {epoch_len!r}"
            raise ValueError(msg)
        check_number("cov_fraction", cov_fraction, low=0.0, high=1.0, strict=True)
        check_choice("estimator", estimator, ("direct", "mgr"))
        if mgr_samples is not None and not (isinstance(mgr_samples, int) and mgr_samples >= 1):
            msg = f"mgr_samples must be None or a positive integer, got {mgr_samples!r}"
            raise ValueError(msg)
        check_number("mgr_beta", mgr_beta, low=0.0, high=1.0, strict=True)
        self.horizon, self.eta, self.epoch_len, self.cov_fraction = (
            horizon, eta, epoch_len, cov_fraction)
        self.estimator, self.gamma, self.mgr_samples, self.mgr_beta = (
            estimator, gamma, mgr_samples, mgr_beta)
        h, _, a, d = self._shape
        self.eta_ = default(eta, math.sqrt(a * log_k(horizon) / (d * h * h * horizon)))
        self.epoch_len_ = epoch_len or 2 * math.ceil(horizon ** (1.0 / 3.0))
        self.cov_episodes_ = min(self.epoch_len_ - 1,
                                 max(1, int(self.epoch_len_ * cov_fraction)))
        self.gamma_ = default(gamma, 1.0 / math.sqrt(self.cov_episodes_))

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{"horizon": 50, "epoch_len": 4}, {"horizon": 50, "estimator": "mgr"}]

    def reset(self, *, seeds: Any, device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        h, _, _, d = self._shape
        r = len(self.seeds)
        self._weights = torch.zeros(r, h, d, dtype=torch.float64, device=device)
        self._new_epoch()

    def _new_epoch(self) -> None:
        h, _, _, d = self._shape
        r = self._weights.shape[0]
        self._cov = torch.zeros(r, h, d, d, dtype=torch.float64, device=self.device)
        self._samples: list[Tensor] = []
        self._inv: Tensor | None = None
        self._sum = torch.zeros_like(self._weights)
        self._n_cov = 0

    def act(self, obs: Any) -> tuple[Tensor, dict[str, Tensor]]:
        phi = torch.as_tensor(obs, device=self.device).to(torch.float64)
        return policy_from_weights(phi, self._weights, self.eta_, "log_barrier"), {}

    def update(self, step: Any) -> None:
        phi = torch.as_tensor(step.obs, device=self.device).to(torch.float64)
        fb = step.feedback
        states, actions = fb["states"].unsqueeze(1), fb["actions"].unsqueeze(1)   # (R, 1, H)
        f = layer_features(phi, states, actions)[:, 0]                            # (R, H, d)
        pos = (step.t - 1) % self.epoch_len_
        if pos < self.cov_episodes_:
            if self.estimator == "mgr":
                self._samples.append(f)
            else:
                r_idx = torch.arange(f.shape[0], device=self.device).unsqueeze(1)
                h_idx = torch.arange(f.shape[1], device=self.device).unsqueeze(0)
                s = fb["states"]
                phis = phi[r_idx, h_idx, s]                                      # (R, H, A, d)
                pis = step.action.to(torch.float64)[r_idx, h_idx, s]             # (R, H, A)
                self._cov = self._cov + torch.einsum("rha,rhai,rhaj->rhij", pis, phis, phis)
            self._n_cov += 1
        else:
            if self._inv is None:
                self._inv = self._inverse()
            togo = reward_to_go(fb["losses"].to(torch.float64))
            w = torch.einsum("rhij,rhj->rhi", self._inv, f) * togo.unsqueeze(-1)
            self._sum = self._sum + w
        if pos == self.epoch_len_ - 1 or step.t == self.horizon:
            loss_episodes = pos + 1 - self.cov_episodes_
            if loss_episodes > 0:
                self._weights = self._weights + self._sum * ((pos + 1) / loss_episodes)
            self._new_epoch()

    def _inverse(self) -> Tensor:
        if self._n_cov == 0:   # only when feedback started mid-epoch: no data, plain 1/γ
            return regularized_inverse(torch.zeros_like(self._cov), self.gamma_)
        if self.estimator == "direct":
            return regularized_inverse(self._cov / self._n_cov, self.gamma_)
        samples = torch.stack(self._samples, dim=-2)                             # (R, H, M, d)
        if self.mgr_samples is not None:
            samples = samples[..., : self.mgr_samples, :]
        return mgr_inverse(samples, self.mgr_beta)
