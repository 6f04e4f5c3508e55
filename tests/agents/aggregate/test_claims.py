"""The testable claims of papers §4.6 on the interpolating learner, each able to fail for a
wrong learner (the other ρ, a constant predictor)."""

from __future__ import annotations

import math

import pytest
import torch

from olearn.agents.aggregate.interpolating import (
    BagLevel,
    InstanceLevel,
    Interpolating,
    interpolating_loss,
)
from olearn.envs.aggregate.responses import AggregateResponsesVector as Env
from olearn.envs.aggregate.risk import exact_risk
from olearn.seeding import replicate_seeds
from olearn.types import Step

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    """Batched small solves run faster on one thread on a shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def play(env_kw: dict, rounds: int, replicates: int, cls=Interpolating, seed: int = 0,
         constant: bool = False, **agent_kw):
    """Run ``cls`` on the env; returns (agent, env, regret per round (T, R), bags)."""
    env = Env(num_envs=replicates, **env_kw)
    agent = cls(env.single_observation_space, env.single_action_space, **agent_kw)
    obs, _ = env.reset(seed=replicate_seeds(seed, "env", range(replicates)))
    agent.reset(seeds=replicate_seeds(seed, "agent", range(replicates)), device=CPU)
    cum = torch.zeros(replicates, dtype=torch.float64)
    regret, bags = [], []
    for t in range(1, rounds + 1):
        action, info = agent.act(obs)
        if constant:
            action = torch.zeros_like(action)
        nxt, reward, term, trunc, einfo = env.step(action)
        cum = cum + einfo["oracle"]["loss"]
        regret.append(cum - einfo["oracle"]["comparator_cum_loss"])
        bags.append((obs, einfo["feedback"]["bag_mean"]))
        agent.update(Step(t, obs, action, info, reward, einfo["feedback"], nxt, term | trunc))
        obs = nxt
    return agent, env, torch.stack(regret), bags


# ------------------------------------------------------------------ claim 1: the identity
@pytest.mark.parametrize("k", [1, 2, 7])
def test_instance_minus_bag_loss_is_the_within_bag_prediction_variance(k):
    g = torch.Generator().manual_seed(k)
    pred, ybar = torch.randn(50, k, generator=g, dtype=torch.float64), torch.randn(50,
                                                                                   generator=g,
                                                                                   dtype=torch.float64)
    l_ins = ((ybar.unsqueeze(-1) - pred) ** 2).mean(-1)          # every instance vs its bag mean
    l_bag = (pred.mean(-1) - ybar) ** 2
    within = pred.var(dim=-1, unbiased=False)
    assert torch.allclose(l_ins - l_bag, within, atol=1e-12) and bool((within >= 0).all())
    assert torch.allclose(interpolating_loss(pred, ybar, 1.0), l_ins, atol=1e-12)
    assert torch.allclose(interpolating_loss(pred, ybar, 0.0), l_bag, atol=1e-12)
    assert torch.allclose(interpolating_loss(pred, ybar, 0.3), l_bag + 0.3 * within, atol=1e-12)


# ------------------------------------------------------------------ claim 2: k = 1
@pytest.mark.parametrize("solver", ["closed_form", "gradient"])
def test_bags_of_one_make_every_rho_coincide(solver):
    kw = {"solver": solver, "optimizer": "sgd", "lr": 0.05}
    thetas = []
    for rho in (0.0, 0.4, 1.0):
        agent, *_ = play({"dim": 4, "bag_size": 1}, 30, 2, rho=rho, **kw)
        thetas.append(agent.predict(torch.eye(4, dtype=torch.float64)))
    assert torch.allclose(thetas[0], thetas[1], atol=1e-12)
    assert torch.allclose(thetas[0], thetas[2], atol=1e-12)
    agent, *_ = play({"dim": 4, "bag_size": 3}, 30, 2, rho=1.0, **kw)    # k = 3: they differ
    assert not torch.allclose(thetas[0], agent.predict(torch.eye(4, dtype=torch.float64)),
                              atol=1e-3)


# ------------------------------------------------------------------ claim 7: closed form = GD
@pytest.mark.parametrize("rho", [0.0, 0.35, 1.0])
def test_closed_form_equals_gradient_descent_on_the_interpolating_loss(rho):
    agent, _, _, bags = play({"dim": 5, "bag_size": 4}, 60, 2, rho=rho)
    x = torch.stack([b[0] for b in bags], 1)                       # (R, m, k, d)
    ybar = torch.stack([b[1] for b in bags], 1)                    # (R, m)
    theta = torch.zeros(2, 5, dtype=torch.float64, requires_grad=True)
    step = 0.5
    for _ in range(3000):          # full-batch gradient descent on the mean L_int, float64
        pred = torch.einsum("rmkd,rd->rmk", x, theta)
        loss = interpolating_loss(pred, ybar, rho).mean(-1).sum()
        (g,) = torch.autograd.grad(loss, theta)
        with torch.no_grad():
            theta -= step * g
    closed = agent.predict(torch.eye(5, dtype=torch.float64))
    assert float(g.abs().max()) < 1e-10
    assert torch.allclose(closed, theta.detach(), atol=1e-6, rtol=0)


# ------------------------------------------------------------------ claims 3 and 4
def _estimates(rho: float, replicates: int = 200):
    m, d, k = 100, 20, 5
    agent, env, *_ = play({"dim": d, "bag_size": k, "snr": 1.0, "noise": 1.0}, m, replicates,
                          rho=rho)
    theta, star = agent.predict(torch.eye(d, dtype=torch.float64)), env.theta_star
    risk = ((theta - star) ** 2).sum(-1).mean()
    projection = ((theta * star).sum(-1) / (star * star).sum(-1)).mean()
    return float(risk), float(projection), m, d, k


def test_bag_level_is_unbiased_with_the_ols_excess_risk():
    """Claim 3: ρ = 0 ⇒ mean projection ≈ 1 and excess risk ≈ σ²d/(m − d − 1) (±10%)."""
    risk, projection, m, d, _ = _estimates(0.0)
    assert projection == pytest.approx(1.0, abs=0.05)
    assert risk == pytest.approx(d / (m - d - 1), rel=0.10)


def test_instance_level_shrinks_toward_theta_over_k():
    """Claim 4: ρ = 1 ⇒ mean projection ≈ 1/k; the unbiasedness test above would fail it."""
    risk, projection, m, d, k = _estimates(1.0)
    assert projection == pytest.approx(1.0 / k, abs=0.03)
    assert not risk == pytest.approx(d / (m - d - 1), rel=0.10)


# ------------------------------------------------------------------ claim 5
def test_interior_optimal_rho_when_bag_level_variance_is_high():
    """Claim 5: m = 30 bags for d = 20: ρ = 0.2 beats both ρ = 0 and ρ = 1, as the exact
    representation says; and its argmin moves toward 0 as m grows."""
    risks = {}
    for rho in (0.0, 0.2, 1.0):
        agent, env, *_ = play({"dim": 20, "bag_size": 5}, 30, 100, rho=rho, seed=1)
        theta = agent.predict(torch.eye(20, dtype=torch.float64))
        risks[rho] = float(((theta - env.theta_star) ** 2).sum(-1).mean())
    exact = exact_risk(n=150, dim=20, bag_size=5, noise=1.0, rho=[0.0, 0.2, 1.0], reps=60)["risk"]
    assert risks[0.2] < 0.85 * min(risks[0.0], risks[1.0])
    for rho, e in zip((0.0, 0.2, 1.0), exact.tolist(), strict=True):
        assert risks[rho] == pytest.approx(e, rel=0.15)
    grid = [0.0, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0]
    argmins = [grid[int(exact_risk(n=n, dim=20, bag_size=5, noise=1.0, rho=grid,
                                   reps=20)["risk"].argmin())] for n in (150, 600, 4000)]
    assert argmins[0] >= argmins[1] >= argmins[2] and argmins[0] > argmins[2]


# ------------------------------------------------------------------ online regret
@pytest.mark.slow
def test_bag_level_regret_is_sublinear_and_a_constant_predictor_loses():
    """Regret against the best fixed linear predictor: ρ = 0 (consistent) grows like log T;
    the zero predictor and ρ = 1 (biased toward θ*/k) grow linearly."""
    env_kw, horizon = {"dim": 5, "bag_size": 4}, 1600

    def slope(regret: torch.Tensor) -> float:
        mean = regret.mean(-1)
        return math.log(float(mean[-1]) / float(mean[horizon // 8 - 1])) / math.log(8)

    _, _, bag, _ = play(env_kw, horizon, 8, cls=BagLevel)
    _, _, zero, _ = play(env_kw, horizon, 8, cls=BagLevel, constant=True)
    _, _, ins, _ = play(env_kw, horizon, 8, cls=InstanceLevel)
    sgd_kw = {"solver": "gradient", "optimizer": "adam", "lr": 0.01}
    _, _, sgd, _ = play(env_kw, horizon, 8, cls=BagLevel, **sgd_kw)
    # measured: slopes 0.04 / 0.99 / 0.98 / 0.20, final regret 103 / 1617 / 901 / 109
    assert slope(bag) < 0.4 and slope(zero) > 0.9 and slope(ins) > 0.9
    assert float(bag.mean(-1)[-1]) < 0.1 * float(zero.mean(-1)[-1])
    assert slope(sgd) < 0.5 and float(sgd.mean(-1)[-1]) < 0.2 * float(zero.mean(-1)[-1])


@pytest.mark.parametrize("rho", [0.0, 0.6])
@pytest.mark.parametrize("inverse", ["auto", "woodbury"])
def test_factor_and_woodbury_updates_match_refactoring_every_bag(rho, inverse):
    """The rank-k updates (of the augmented factor, or Woodbury's of the inverse) stay on the
    exact refit over many bags, and on a direct solve of the normal equations."""
    a, _, _, bags = play({"dim": 6, "bag_size": 3}, 800, 3, rho=rho, inverse=inverse)
    b, *_ = play({"dim": 6, "bag_size": 3}, 800, 3, rho=rho, inverse="refactor")
    assert (a._factor is not None) == (inverse == "auto") and b._inv is b._factor is None
    assert (a._inv is not None) == (inverse == "woodbury")
    eye = torch.eye(6, dtype=torch.float64)
    assert torch.allclose(a.predict(eye), b.predict(eye), atol=1e-9, rtol=0)
    m, c = torch.zeros(3, 6, 6, dtype=torch.float64), torch.zeros(3, 6, dtype=torch.float64)
    for x, y in bags:
        xbar = x.mean(1, keepdim=True)
        m += 3 * xbar.mT @ xbar + rho * (x - xbar).mT @ (x - xbar)
        c += 3 * xbar.squeeze(1) * y.unsqueeze(-1)
    direct = torch.linalg.solve(m, c)
    assert torch.allclose(a.predict(eye), direct, atol=1e-8 * float(direct.abs().max()), rtol=0)


@pytest.mark.parametrize("rho", [0.0, 0.6])
def test_row_space_solve_matches_the_min_norm_solve_while_singular(rho):
    """While at most d rows have come the learner solves in their row space (an n×n Cholesky):
    the same minimum-norm θ as the eigendecomposition every bag, then the factor path."""
    env = Env(num_envs=3, dim=12, bag_size=3)
    fast = Interpolating(env.single_observation_space, env.single_action_space, rho=rho)
    ref = Interpolating(env.single_observation_space, env.single_action_space, rho=rho,
                        inverse="refactor")
    obs, _ = env.reset(seed=replicate_seeds(2, "env", range(3)))
    for agent in (fast, ref):
        agent.reset(seeds=replicate_seeds(2, "agent", range(3)), device=CPU)
    used = []
    for t in range(1, 16):
        action, info = fast.act(obs)
        nxt, reward, term, trunc, einfo = env.step(action)
        step = Step(t, obs, action, info, reward, einfo["feedback"], nxt, term | trunc)
        used.append(fast._rows is not None)
        fast.update(step)
        ref.update(step)
        scale = float(ref._theta.abs().max())
        assert torch.allclose(fast._theta, ref._theta, atol=1e-9 * scale, rtol=0), t
        obs = nxt
    assert used[0] and fast._rows is None and fast._factor is not None
