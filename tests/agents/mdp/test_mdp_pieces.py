"""Claims 3–5 of papers §2.7: the log-barrier solver, MGR's mean, the estimator's bias in γ."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from olearn.agents.common.mirror_maps import log_barrier_simplex
from olearn.agents.mdp.common import (
    covariance,
    layer_features,
    occupancy,
    regularized_inverse,
    reward_to_go,
)
from olearn.agents.mdp.simulator_free_po import mgr_inverse
from olearn.envs.mdp.dynamics import policy_value, sample_trajectories
from olearn.envs.mdp.linear_mdp import LinearMDPVector

F64 = torch.float64


def _generic(loss: np.ndarray, eta: float) -> np.ndarray:
    """argmin ⟨L, x⟩ − (1/η)Σ log x over the simplex by a generic constrained solver (SLSQP)."""
    k = len(loss)
    res = minimize(lambda x: loss @ x - np.log(x).sum() / eta, np.full(k, 1.0 / k),
                   jac=lambda x: loss - 1.0 / (eta * x), method="SLSQP",
                   bounds=[(1e-12, 1.0)] * k,
                   constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1.0,
                                 "jac": lambda x: np.ones(k)}],
                   options={"ftol": 1e-16, "maxiter": 500})
    return res.x


def _high_precision(loss: list[float], eta: float) -> list[float]:
    """The KKT solution xᵢ = 1/(η(Lᵢ + λ)) at 60 digits on the raw (unshifted) losses."""
    mpmath.mp.dps = 60
    ls = [mpmath.mpf(v) for v in loss]
    lo = -min(ls)

    def phi(lam):
        return sum(1 / (eta * (v + lam)) for v in ls) - 1

    lam = mpmath.findroot(phi, (lo + mpmath.mpf(1) / eta / 2, lo + len(ls) / mpmath.mpf(eta) * 2),
                          solver="anderson")
    return [float(1 / (eta * (v + lam))) for v in ls]


@pytest.mark.parametrize("seed", range(4))
def test_log_barrier_solver_matches_a_generic_convex_solver(seed):
    rng = np.random.default_rng(seed)
    loss = rng.normal(size=5) * 3
    eta = float(rng.uniform(0.2, 2.0))
    ours = log_barrier_simplex(torch.tensor(loss), eta).numpy()
    assert ours.sum() == pytest.approx(1.0, abs=1e-12) and (ours > 0).all()
    assert np.abs(ours - _generic(loss, eta)).max() < 1e-8


@pytest.mark.parametrize("loss", [
    [-1e9, -1e9 + 3.0, 0.0, 5.0],
    [-1e6, -1e6, -1e6 + 1e-3, 2.0],
    [-5e4, 0.0, 1e4, 1e8],
])
def test_log_barrier_solver_with_very_negative_losses(loss):
    eta = 0.7
    ours = log_barrier_simplex(torch.tensor(loss, dtype=F64), eta)
    assert bool((ours > 0).all()) and float(ours.sum()) == pytest.approx(1.0, abs=1e-12)
    assert np.abs(ours.numpy() - np.array(_high_precision(loss, eta))).max() < 1e-8


def test_mgr_mean_matches_its_closed_form():
    """E[Σ⁺] = Σ⁻¹(I − (I − βΣ)^{M+1}) over i.i.d. samples (claim 5)."""
    g = torch.Generator().manual_seed(0)
    atoms = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [1.0, 0.0, 0.0]],
                         dtype=F64)
    probs = torch.tensor([0.3, 0.3, 0.3, 0.1], dtype=F64)
    sigma = (probs[:, None, None] * atoms[:, :, None] * atoms[:, None, :]).sum(0)
    runs, m, beta = 40000, 6, 0.5
    idx = torch.multinomial(probs, runs * m, replacement=True, generator=g).view(runs, m)
    est = mgr_inverse(atoms[idx], beta)                                    # (runs, 3, 3)
    mean, se = est.mean(0), est.std(0) / runs ** 0.5
    eye = torch.eye(3, dtype=F64)
    closed = torch.linalg.inv(sigma) @ (eye - torch.linalg.matrix_power(eye - beta * sigma, m + 1))
    assert bool(((mean - closed).abs() < 5 * se + 1e-12).all())
    # the unshrunk inverse is not what MGR estimates with M = 6: the check has power
    assert float((mean - torch.linalg.inv(sigma)).abs().max()) > 20 * float(se.max())


def _estimator_error(env, pi, gamma, n, *, to_go=True):
    """max |φᵀ E[ŵ] − Q^π| over layer-0/1 pairs, E[ŵ] by Monte Carlo over n trajectories."""
    h, s, a = env.H, env.states, env.actions
    table = env.loss_table(env.theta(1))
    g = torch.Generator().manual_seed(5)
    noise = torch.rand(1, n, h, 2, generator=g, dtype=F64)
    states, actions = sample_trajectories(env.P, pi, noise)
    phi = env.phi.unsqueeze(0)
    # exact layer covariances from a very long occupancy estimate (the simulator's job)
    big = torch.rand(1, 200000, h, 2, generator=g, dtype=F64)
    occ = occupancy(sample_trajectories(env.P, pi, big)[0], s)
    cov_inv = regularized_inverse(covariance(phi, pi, occ), gamma)          # (1, H, d, d)
    f = layer_features(phi, states, actions)                                # (1, n, H, d)
    layers = torch.arange(h)
    losses = table[layers, states, actions]                                 # (1, n, H)
    target = reward_to_go(losses) if to_go else losses
    w = (cov_inv.unsqueeze(1) @ (f * target.unsqueeze(-1)).unsqueeze(-1)).squeeze(-1).mean(1)
    # true Q^π by backward DP
    q = torch.zeros(h, s, a, dtype=F64)
    v = None
    for layer in range(h - 1, -1, -1):
        q[layer] = table[layer] + (0 if v is None else env.P[layer] @ v)
        v = (pi[0, layer] * q[layer]).sum(-1)
    est = torch.einsum("hsad,hd->hsa", env.phi, w[0])
    reach = occ[0] > 0.01                                                   # states visited
    return float((est - q).abs()[reach].max())


def test_estimator_bias_shrinks_with_gamma():
    """Claim 4: E[Q̂] → Q^π as γ → 0 (Monte Carlo on a small linear MDP)."""
    env = LinearMDPVector(num_envs=1, H=2, states=3, actions=3, d=3, instance_seed=2)
    env.reset(seed=0)
    pi = torch.full((1, 2, 3, 3), 1.0 / 3, dtype=F64)
    errors = [_estimator_error(env, pi, gamma, 60000) for gamma in (0.3, 0.03, 0.001)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.05
    # a wrong estimator (this step's loss instead of the loss-to-go) stays far off
    assert _estimator_error(env, pi, 0.001, 60000, to_go=False) > 0.2
    assert policy_value(env.P, env.loss_table(env.theta(1)), pi).shape == (1,)
