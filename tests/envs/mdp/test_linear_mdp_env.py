"""LinearMDP-v0: exact DP oracle (vs Monte Carlo and brute force), feedback, bad input."""

from __future__ import annotations

import itertools

import pytest
import torch

from olearn.envs.mdp.dynamics import best_value, policy_value, sample_trajectories
from olearn.envs.mdp.linear_mdp import LinearMDPVector

F64 = torch.float64


def _random_policy(r: int, h: int, s: int, a: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(r, h, s, a, generator=g, dtype=F64) + 0.05
    return x / x.sum(-1, keepdim=True)


@pytest.mark.parametrize("start", ["fixed", "random"])
def test_dp_value_matches_monte_carlo_rollouts(start):
    env = LinearMDPVector(num_envs=1, H=3, states=4, actions=3, d=4, start=start)
    env.reset(seed=0)
    table = env.loss_table(env.theta(1))
    pi = _random_policy(2, 3, 4, 3)
    n = 40000
    noise = torch.rand(2, n, 3, 2, generator=torch.Generator().manual_seed(1), dtype=F64)
    states, actions = sample_trajectories(env.P, pi, noise, start)
    layers = torch.arange(3)
    returns = table[layers, states, actions].sum(-1)                      # (2, n)
    mc, se = returns.mean(-1), returns.std(-1) / n ** 0.5
    exact = policy_value(env.P, table, pi, start)
    assert torch.all((mc - exact).abs() < 4 * se), (mc, exact, se)
    # a wrong DP (transitions ignored: next-layer values of the start state) would be caught
    wrong = sum((pi[:, h, 0] * table[h, 0]).sum(-1) for h in range(3))
    assert torch.any((mc - wrong).abs() > 10 * se)


def _deterministic_value(env: LinearMDPVector, tables: list[torch.Tensor],
                         choice: tuple[int, ...]) -> float:
    h, s, a = env.H, env.states, env.actions
    pi = torch.zeros(1, h, s, a, dtype=F64)
    pi.view(h * s, a)[torch.arange(h * s), torch.tensor(choice)] = 1.0
    return sum(float(policy_value(env.P, t, pi, env.start)[0]) for t in tables)


@pytest.mark.parametrize("kwargs", [
    {"adversary": "random_walk", "walk_step": 0.3},
    {"adversary": "switching", "switch_every": 2, "start": "random"},
    {"adversary": "stochastic", "features": "tabular"},
])
def test_comparator_is_the_best_fixed_policy_by_brute_force(kwargs):
    """min over all A^(H·S) deterministic policies of Σ_τ V^π_τ equals the env's comparator."""
    env = LinearMDPVector(num_envs=2, H=2, states=2, actions=2, d=None if "features" in kwargs
                          else 3, instance_seed=3, **kwargs)
    env.reset(seed=0)
    pi = _random_policy(2, 2, 2, 2)
    tables = []
    twin = LinearMDPVector(num_envs=1, H=2, states=2, actions=2, d=env.d, instance_seed=3,
                           **kwargs)
    twin.reset(seed=0)
    for k in range(1, 8):
        oracle = env.step(pi)[4]["oracle"]
        tables.append(twin.loss_table(twin.theta(k)) if kwargs["adversary"] != "switching"
                      else twin._tables[((k - 1) // 2) % 2])
        brute = min(_deterministic_value(env, tables, c)
                    for c in itertools.product(range(2), repeat=4))
        assert oracle["comparator_cum_loss"].tolist() == pytest.approx([brute] * 2, abs=1e-12)
        assert float(best_value(env.P, sum(tables), env.start)) == pytest.approx(brute, abs=1e-12)


def test_h1_is_a_linear_contextual_bandit_with_iid_contexts():
    """H = 1, random start: loss = mean over contexts; comparator = best arm per context."""
    env = LinearMDPVector(num_envs=2, H=1, states=5, actions=4, d=3, start="random",
                          adversary="random_walk", walk_step=0.2)
    env.reset(seed=0)
    pi = _random_policy(2, 1, 5, 4)
    cum = torch.zeros(5, 4, dtype=F64)
    twin = LinearMDPVector(num_envs=1, H=1, states=5, actions=4, d=3, start="random",
                           adversary="random_walk", walk_step=0.2)
    twin.reset(seed=0)
    seen = set()
    for k in range(1, 30):
        info = env.step(pi)[4]
        ell = twin.loss_table(twin.theta(k))[0]                            # (contexts, arms)
        cum += ell
        assert info["oracle"]["loss"].tolist() == pytest.approx(
            (pi[:, 0] * ell).sum(-1).mean(-1).tolist(), abs=1e-12)
        assert float(info["oracle"]["comparator_cum_loss"][0]) == pytest.approx(
            float(cum.amin(-1).mean()), abs=1e-12)
        seen.update(info["feedback"]["states"][:, 0].tolist())
    assert len(seen) >= 4                                                  # contexts vary


def test_feedback_is_the_trajectory_and_observation_only_features():
    env = LinearMDPVector(num_envs=3, H=3, states=4, actions=2, adversary="random_walk")
    obs, _ = env.reset(seed=1)
    pi = _random_policy(3, 3, 4, 2)
    obs2, reward, _, _, info = env.step(pi)
    assert sorted(info["feedback"]) == ["actions", "losses", "states"]
    assert torch.equal(obs, obs2) and obs is not obs2
    assert torch.allclose(obs[0].double(), env.phi.double(), atol=1e-6)
    fb = info["feedback"]
    assert int(fb["states"][:, 0].max()) == 0                              # fixed start
    assert torch.allclose(reward.double(), -fb["losses"].double().sum(-1))
    # every replicate faces the same instance: same comparator
    assert len(set(info["oracle"]["comparator_cum_loss"].tolist())) == 1


def test_tabular_features_are_one_hot():
    env = LinearMDPVector(num_envs=1, H=2, states=3, actions=2, features="tabular")
    assert env.d == 6
    assert torch.equal(env.phi.sum(-1), torch.ones(2, 3, 2, dtype=F64))
    assert set(env.phi.unique().tolist()) == {0.0, 1.0}


def test_anti_uniform_punishes_uniform_play():
    env = LinearMDPVector(num_envs=1, adversary="anti_uniform")
    env.reset(seed=0)
    info = {}
    for _ in range(20):
        info = env.step(torch.full((1, 3, 5, 4), 0.25, dtype=F64))[4]
    regret_per_episode = (20 * float(info["oracle"]["loss"][0])
                          - float(info["oracle"]["comparator_cum_loss"][0])) / 20
    assert regret_per_episode > 0.2


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"adversary": "greedy"}, "adversary"),
    ({"H": 0}, "H must be a positive integer"),
    ({"states": -1}, "states must be"),
    ({"actions": 2.5}, "actions must be"),
    ({"d": 0}, "d must be"),
    ({"features": "tabular", "d": 4}, "d = states \\* actions"),
    ({"start": "middle"}, "start"),
])
def test_bad_kwargs_are_one_line_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match) as e:
        LinearMDPVector(num_envs=1, **kwargs)
    assert "\n" not in str(e.value)


def test_bad_policies_name_replicate_layer_and_state():
    env = LinearMDPVector(num_envs=2, H=2, states=3, actions=2)
    env.reset(seed=0)
    good = torch.full((2, 2, 3, 2), 0.5, dtype=F64)
    with pytest.raises(ValueError, match="shape"):
        env.step(good[:, :1])
    for bad_value in (float("nan"), -0.1, 0.7):
        bad = good.clone()
        bad[1, 1, 2, 0] = bad_value
        with pytest.raises(ValueError, match="replicate 1 at layer 1, state 2") as e:
            env.step(bad)
        assert "\n" not in str(e.value)
