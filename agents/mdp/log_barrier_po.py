"""Log-barrier policy optimization (Dai, Luo, Wei, Zimmert 2023, Algorithm 1 reconstruction)."""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from olearn.agents.mdp.common import default, log_k
from olearn.agents.mdp.policy_optimization import SimulatorPO

__all__ = ["LogBarrierPO"]


class LogBarrierPO(SimulatorPO):
    r"""Per-state log-barrier FTRL with simulator-estimated linear-Q losses and dilated bonus.

    Algorithm 1 of Dai et al. (ICML 2023) as reconstructed in papers §2.3 (the paper's boxes
    were not available; every choice below is a parameter). Each episode: the policy of every
    state is ``argmin_{p∈Δ_A} ⟨p, Σ_{τ<k}(Q̂_τ − B_τ)(s, ·)⟩ − (1/η) Σ_a ln p(a)``, solved
    exactly by the shared :func:`~olearn.agents.common.mirror_maps.log_barrier_simplex`
    (valid for arbitrarily negative cumulative losses); ``N = rollouts`` simulator
    trajectories of ``π_k`` give the layer covariances ``Σ̂_{k,h}`` (with the exact policy
    over actions, ``Σ_a π(a|s)φφᵀ``, at the sampled states) and the dilated bonus;
    ``Q̂_k = φᵀ(Σ̂_{k,h} + γI)⁻¹φ_{k,h}L_{k,h}``. Policies are stored implicitly (one
    cumulative weight vector per layer), see :mod:`olearn.agents.mdp.policy_optimization`.

    Parameters
    ----------
    horizon
        Number of episodes ``K`` the defaults are computed from.
    eta
        Learning rate; default (reconstruction, papers §2.3) ``√(A ln K / (d H² K))``.
    gamma
        Covariance regularizer; default ``1/√K`` (reconstruction: small, as the log-barrier
        analysis tolerates negative estimates).
    beta
        Bonus scale; default ``η·H`` (reconstruction); 0 disables the bonus.
    rollouts
        Simulator trajectories per episode; default ``min(K, 64)`` (reconstruction: papers
        §2.3 say ``N ≈ K``; capped for speed, which leaves a covariance error ~1/16).

    Info
    ----
    ``sim_calls``, ``sim_trajectories``: simulator calls and trajectories so far, per replicate.

    Examples
    --------
    >>> import olearn
    >>> spec = olearn.RunSpec.from_dict({"name": "doc", "horizon": 30, "replicates": 2,
    ...     "env": {"id": "olearn/LinearMDP-v0", "kwargs": {"H": 2, "states": 3}},
    ...     "agents": [{"label": "lb", "id": "olearn/LogBarrierPO-v0",
    ...                 "kwargs": {"horizon": 30, "rollouts": 8}}]})
    >>> import tempfile
    >>> run = olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True)
    >>> trace = olearn.load(run.out).collect()
    >>> int(trace["sim_trajectories"].max())
    240

    References
    ----------
    Dai, Luo, Wei, Zimmert, "Refined Regret for Adversarial MDPs with Linear Function
    Approximation", ICML 2023. Luo, Wei, Lee, "Policy Optimization in Adversarial MDPs:
    Improved Exploration via Dilated Bonuses", NeurIPS 2021.
    """

    regularizer: ClassVar[Literal["log_barrier", "entropy"]] = "log_barrier"

    def _defaults(self) -> tuple[float, float, float, int]:
        h, _, a, d = self._shape
        k = self.horizon
        eta = default(self.eta, math.sqrt(a * log_k(k) / (d * h * h * k)))
        gamma = default(self.gamma, 1.0 / math.sqrt(k))
        beta = default(self.beta, eta * h)
        return eta, gamma, beta, self.rollouts or min(k, 64)
