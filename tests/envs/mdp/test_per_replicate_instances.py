"""LinearMDP-v0 with ``instance="per_replicate"``: one instance per replicate seed.

Replicate ``r`` alone equals replicate ``r`` of a batch; the oracle stays exact per replicate
(checked against an independent forward computation over every deterministic policy); the
simulator moves each replicate by its own dynamics; the shared default is unchanged.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from olearn.envs.mdp.dynamics import best_value, policy_value, sample_trajectories
from olearn.envs.mdp.linear_mdp import LinearMDPVector
from olearn.seeding import replicate_seeds

F64 = torch.float64
SEEDS = replicate_seeds(11, "env", range(3))
CONFIGS = [
    {"adversary": "switching", "switch_every": 2},
    {"adversary": "random_walk", "walk_step": 0.3, "start": "random"},
    {"adversary": "stochastic", "features": "tabular"},
    {"adversary": "anti_uniform"},
]


def _env(r: int, **kwargs) -> LinearMDPVector:
    kw = {"H": 2, "states": 2, "actions": 2, "d": 3, "instance_seed": 4, **kwargs}
    if kw.get("features") == "tabular":
        kw["d"] = None
    return LinearMDPVector(num_envs=r, instance="per_replicate", **kw)


def _policies(r: int, h: int, s: int, a: int, k: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(100 + k)
    x = torch.rand(r, h, s, a, generator=g, dtype=F64) + 0.05
    return x / x.sum(-1, keepdim=True)


def _forward_value(P: torch.Tensor, table: torch.Tensor, pi: torch.Tensor,  # noqa: N803
                   start: str) -> float:
    """``V^π(s_1)`` of ONE instance by a forward pass over state distributions (not the DP)."""
    h, s, _ = table.shape
    dist = torch.zeros(s, dtype=F64)
    if start == "fixed":
        dist[0] = 1.0
    else:
        dist[:] = 1.0 / s
    value = 0.0
    for layer in range(h):
        joint = dist.unsqueeze(-1) * pi[layer]                       # (S, A)
        value += float((joint * table[layer]).sum())
        if layer + 1 < h:
            dist = torch.einsum("sa,sat->t", joint, P[layer])
    return value


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_replicate_alone_equals_replicate_of_a_batch(kwargs):
    batch = _env(3, **kwargs)
    obs_b, _ = batch.reset(seed=SEEDS)
    alone = []
    for r in range(3):
        e = _env(1, **kwargs)
        obs, _ = e.reset(seed=[SEEDS[r]])
        assert torch.equal(obs[0], obs_b[r])
        alone.append(e)
    for k in range(1, 13):
        pi = _policies(3, 2, 2, 2, k)
        obs_b, rew_b, _, _, info_b = batch.step(pi)
        for r, e in enumerate(alone):
            obs, rew, _, _, info = e.step(pi[r:r + 1])
            assert torch.equal(obs[0], obs_b[r])
            assert torch.equal(rew[0], rew_b[r])
            for key in ("states", "actions", "losses"):
                assert torch.equal(info["feedback"][key][0], info_b["feedback"][key][r]), key
            for key in ("loss", "comparator_cum_loss"):
                torch.testing.assert_close(info["oracle"][key][0], info_b["oracle"][key][r],
                                           rtol=0, atol=1e-12)


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_oracle_is_exact_per_replicate_by_brute_force(kwargs):
    """Per replicate: loss = forward value of the played policy; comparator = min over all
    A^(H·S) deterministic policies of Σ_τ V^π_τ (forward passes, replicate r's own P)."""
    env = _env(3, **kwargs)
    env.reset(seed=SEEDS)
    twin = _env(3, **kwargs)                     # the loss sequence, drawn independently
    twin.reset(seed=SEEDS)
    h, s, a = env.H, env.states, env.actions
    det = []
    for choice in itertools.product(range(a), repeat=h * s):
        pi = torch.zeros(h, s, a, dtype=F64)
        pi.view(h * s, a)[torch.arange(h * s), torch.tensor(choice)] = 1.0
        det.append(pi)
    cum = torch.zeros(3, len(det), dtype=F64)
    for k in range(1, 9):
        pi = _policies(3, h, s, a, k)
        oracle = env.step(pi)[4]["oracle"]
        table = twin.loss_table(twin.theta(k))                     # (R, H, S, A)
        assert table.shape == (3, h, s, a)
        for r in range(3):
            P = twin.P[r]  # noqa: N806
            assert float(oracle["loss"][r]) == pytest.approx(
                _forward_value(P, table[r], pi[r], env.start), abs=1e-12)
            for j, d in enumerate(det):
                cum[r, j] += _forward_value(P, table[r], d, env.start)
        assert oracle["comparator_cum_loss"].tolist() == pytest.approx(
            cum.amin(-1).tolist(), abs=1e-12)
    # the replicates' comparators differ: they face different instances
    assert len(set(oracle["comparator_cum_loss"].tolist())) == 3


def test_batched_dp_equals_the_single_instance_dp():
    env = _env(4, adversary="random_walk", walk_step=0.2)
    env.reset(seed=replicate_seeds(3, "env", range(4)))
    table = env.loss_table(env.theta(1))
    pi = _policies(4, 2, 2, 2, 0)
    values = policy_value(env.P, table, pi)
    best = best_value(env.P, table)
    for r in range(4):
        assert float(values[r]) == pytest.approx(
            float(policy_value(env.P[r], table[r], pi[r:r + 1])[0]), abs=1e-14)
        assert float(best[r]) == pytest.approx(float(best_value(env.P[r], table[r])), abs=1e-14)
    # a shared P with per-replicate tables, and the reverse, broadcast
    assert policy_value(env.P[0], table, pi).shape == (4,)
    assert best_value(env.P, table[0]).shape == (4,)


def test_instances_differ_by_replicate_and_are_a_function_of_the_seed():
    env = _env(3)
    obs, _ = env.reset(seed=SEEDS)
    assert env.phi.shape == (3, 2, 2, 2, 3) and env.P.shape == (3, 1, 2, 2, 2)
    assert not torch.equal(env.P[0], env.P[1]) and not torch.equal(obs[0], obs[1])
    assert torch.allclose(obs.double(), env.phi, atol=1e-6)
    assert torch.allclose(env.P.sum(-1), torch.ones(3, 1, 2, 2, dtype=F64))
    again = _env(3)
    again.reset(seed=SEEDS)
    assert torch.equal(again.P, env.P) and torch.equal(again.phi, env.phi)
    other = _env(3, instance_seed=5)
    other.reset(seed=SEEDS)
    assert not torch.equal(other.P, env.P)
    # the shared default: one instance for all, from instance_seed only
    shared = LinearMDPVector(num_envs=3, H=2, states=2, actions=2, d=3, instance_seed=4)
    obs_s, _ = shared.reset(seed=SEEDS)
    assert shared.P.shape == (1, 2, 2, 2) and torch.equal(obs_s[0], obs_s[2])


@pytest.mark.parametrize("start", ["fixed", "random"])
def test_simulator_moves_each_replicate_by_its_own_dynamics(start):
    env = _env(3, start=start)
    sim = env.simulator()
    pi = _policies(3, 2, 2, 2, 0)
    noise = torch.rand(3, *sim.noise_shape(500), generator=torch.Generator().manual_seed(0),
                       dtype=F64)
    with pytest.raises(RuntimeError, match="never reset"):
        sim.rollouts(pi, noise)
    env.reset(seed=SEEDS)
    out = sim.rollouts(pi, noise)
    for r in range(3):
        st, ac = sample_trajectories(env.P[r], pi[r:r + 1], noise[r:r + 1], start)
        assert torch.equal(out["states"][r], st[0]) and torch.equal(out["actions"][r], ac[0])
    # a reset with other seeds draws other instances, and the simulator follows
    old = env.P
    env.reset(seed=replicate_seeds(12, "env", range(3)))
    assert not torch.equal(env.P, old)
    out2 = sim.rollouts(pi, noise)
    st, _ = sample_trajectories(env.P[1], pi[1:2], noise[1:2], start)
    assert torch.equal(out2["states"][1], st[0])


def test_per_replicate_simulator_frequencies_match_each_replicates_transitions():
    """Monte Carlo: layer-1 state frequencies of replicate r match its own P_r (4 s.e.)."""
    env = _env(2, H=2, states=3, actions=2)
    env.reset(seed=SEEDS[:2])
    sim = env.simulator()
    pi = torch.full((2, 2, 3, 2), 0.5, dtype=F64)
    n = 20000
    out = sim.rollouts(pi, torch.rand(2, *sim.noise_shape(n),
                                      generator=torch.Generator().manual_seed(1), dtype=F64))
    for r in range(2):
        exact = (0.5 * env.P[r, 0, 0]).sum(0)                             # from state 0
        freq = torch.bincount(out["states"][r, :, 1], minlength=3).double() / n
        se = (exact * (1 - exact) / n).sqrt()
        assert torch.all((freq - exact).abs() < 4 * se + 1e-12), (r, freq, exact)
    assert not torch.allclose((0.5 * env.P[0, 0, 0]).sum(0), (0.5 * env.P[1, 0, 0]).sum(0),
                              atol=0.05)


def test_bad_instance_kwarg_is_one_line():
    with pytest.raises(ValueError, match="instance") as e:
        LinearMDPVector(num_envs=1, instance="each")
    assert "\n" not in str(e.value)
