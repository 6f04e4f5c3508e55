"""Exponential-weights policy optimization with a large covariance regularizer (the baseline)."""

from __future__ import annotations

from typing import ClassVar, Literal

from olearn.agents.mdp.common import default
from olearn.agents.mdp.policy_optimization import SimulatorPO

__all__ = ["ExpWeightsPO"]


class ExpWeightsPO(SimulatorPO):
    r"""Per-state exponential weights with linear-Q estimates and a large ``γ`` (Luo et al. 2021).

    The ``K^{2/3}`` baseline of papers §2.1: exponential weights need ``η·Q̂ ≥ −1``; since
    ``|Q̂| ≤ H/γ`` this forces ``η ≤ γ/H`` and hence a large ``γ`` (bias). Same estimator,
    simulator use and dilated bonus as :class:`~olearn.agents.mdp.log_barrier_po.LogBarrierPO`;
    only the regularizer (negative entropy) and the defaults differ.

    Parameters
    ----------
    horizon
        Number of episodes ``K`` the defaults are computed from.
    eta
        Learning rate; default ``γ/H`` (reconstruction: the largest with ``η|Q̂| ≤ 1``).
    gamma
        Covariance regularizer; default ``K^{−1/3}`` (reconstruction of the ``K^{2/3}``
        tuning).
    beta
        Bonus scale; default ``η·H``; 0 disables the bonus.
    rollouts
        Simulator trajectories per episode; default ``min(K, 64)``.

    Info
    ----
    ``sim_calls``, ``sim_trajectories``: simulator calls and trajectories so far, per replicate.

    Examples
    --------
    >>> import olearn
    >>> spec = olearn.RunSpec.from_dict({"name": "doc", "horizon": 20, "replicates": 2,
    ...     "env": {"id": "olearn/LinearMDP-v0", "kwargs": {"H": 2, "states": 3}},
    ...     "agents": [{"label": "ew", "id": "olearn/ExpWeightsPO-v0",
    ...                 "kwargs": {"horizon": 20, "rollouts": 4}}]})
    >>> import tempfile
    >>> run = olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True)
    >>> int(olearn.load(run.out).collect()["sim_calls"].max())
    20
    """

    regularizer: ClassVar[Literal["log_barrier", "entropy"]] = "entropy"

    def _defaults(self) -> tuple[float, float, float, int]:
        h = self._shape[0]
        k = self.horizon
        gamma = default(self.gamma, k ** (-1.0 / 3.0))
        eta = default(self.eta, gamma / h)
        beta = default(self.beta, eta * h)
        return eta, gamma, beta, self.rollouts or min(k, 64)
