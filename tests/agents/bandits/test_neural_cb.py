"""NeuSquareCB / NeuFastCB: OGD reduction, batching, perturbation, regret ordering."""

from __future__ import annotations

import copy
import pickle

import gymnasium as gym
import polars as pl
import pytest
import torch

import olearn
from olearn.agents.bandits.neural_cb import NeuFastCB, NeuSquareCB
from olearn.types import Step

OBS, ACT = gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(3)
CPU = torch.device("cpu")


def _stream(n=30, r=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(r, 4, generator=g), torch.randint(0, 3, (r,), generator=g),
             torch.rand(r, generator=g)) for _ in range(n)]


def _feed(agent, stream):
    for t, (obs, a, r) in enumerate(stream, 1):
        agent.update(Step(t=t, obs=obs, action=a, act_info={}, reward=r))
    return agent._params


@pytest.mark.parametrize("cls", [NeuSquareCB, NeuFastCB])
def test_cp_zero_is_exactly_unperturbed(cls):
    a = cls(OBS, ACT, hidden=(16,), c_p=0.0, S=8, lr=0.3)
    b = cls(OBS, ACT, hidden=(16,), perturbation="none", lr=0.3)
    c = cls(OBS, ACT, hidden=(16,), c_p=0.5, S=8, lr=0.3)
    for agent in (a, b, c):
        agent.reset(seeds=[3, 4], device=CPU)
    stream = _stream()
    pa, pb, pc = _feed(a, stream), _feed(b, stream), _feed(c, stream)
    assert all(torch.equal(x, y) for x, y in zip(pa, pb, strict=True))
    assert not all(torch.allclose(x, y) for x, y in zip(pa, pc, strict=True))


@pytest.mark.parametrize("cls", [NeuSquareCB, NeuFastCB])
def test_cp_zero_matches_plain_torch_ogd(cls):
    """c_p = 0 is textbook OGD: an nn.Module + torch.optim.SGD on (y - f)² or BCE-with-logits."""
    agent = cls(OBS, ACT, hidden=(16,), c_p=0.0, lr=0.3)
    agent.reset(seeds=[7], device=CPU)
    w1, b1, w2, b2 = (p[0].clone() for p in agent._params)
    net = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    with torch.no_grad():
        net[0].weight.copy_(w1.T), net[0].bias.copy_(b1)
        net[2].weight.copy_(w2.T), net[2].bias.copy_(b2)
    opt = torch.optim.SGD(net.parameters(), lr=0.3)
    stream = _stream(r=1)
    for obs, a, r in stream:
        x = torch.zeros(12)
        x[4 * a[0]:4 * a[0] + 4] = obs[0]     # disjoint encoding
        y = 1.0 - r[0]
        f = net(x)[0]
        loss = (y - f) ** 2 if cls is NeuSquareCB else \
            torch.nn.functional.binary_cross_entropy_with_logits(f, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    params = _feed(agent, stream)
    assert torch.allclose(params[0][0], net[0].weight.T, atol=1e-5)
    assert torch.allclose(params[2][0], net[2].weight.T, atol=1e-5)


def test_projection_radius_holds():
    agent = NeuSquareCB(OBS, ACT, hidden=(8,), lr=5.0, radius=0.05)
    agent.reset(seeds=[0, 1], device=CPU)
    _feed(agent, _stream())
    from olearn.agents.bandits.networks import flatten
    dist = (flatten(agent._params) - agent._theta0).norm(dim=1)
    assert (dist <= 0.05 + 1e-5).all() and (dist > 0.04).all()


def test_pickle_roundtrip_continues_identically():
    agent = NeuFastCB(OBS, ACT, hidden=(8,), c_p=0.1)
    agent.reset(seeds=[0, 1], device=CPU)
    stream = _stream(n=40)
    _feed(agent, stream[:20])
    clone = pickle.loads(pickle.dumps(agent))
    _feed(agent, stream[20:])
    _feed(clone, stream[20:])
    assert all(torch.equal(x, y) for x, y in zip(agent._params, clone._params, strict=True))


@pytest.mark.parametrize("kwargs", [{"c_p": -1.0}, {"S": 0}, {"perturbation": "gauss"},
                                    {"lr": 0.0}, {"hidden": [0]}, {"activation": "elu"},
                                    {"gamma_exponent": 2.0}, {"update_every": 0},
                                    {"radius": -1.0}, {"reward_range": (1.0, 0.0)}])
def test_bad_hyperparameters_raise(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs)).split("_")[0]):
        NeuSquareCB(OBS, ACT, **kwargs)


def _spec(reward, agents, *, horizon, replicates, first=0, seed=0):
    return {"name": f"ncb-{reward}", "horizon": horizon, "replicates": replicates,
            "first_replicate": first, "seed": seed,
            "env": {"id": "olearn/ContextualBandit-v0",
                    "kwargs": {"arms": 4, "dim": 5, "reward": reward, "noise": 0.1}},
            "agents": agents}


def test_batched_replicate_equals_replicate_alone(tmp_path):
    agents = [{"label": "sq", "id": "olearn/NeuSquareCB-v0",
               "kwargs": {"hidden": [16], "c_p": 0.1}},
              {"label": "fast", "id": "olearn/NeuFastCB-v0", "kwargs": {"hidden": [16], "S": 2}}]
    batch = olearn.simulate(_spec("cosine", agents, horizon=60, replicates=3),
                            out=tmp_path / "batch", quiet=True)
    alone = olearn.simulate(_spec("cosine", agents, horizon=60, replicates=1, first=2),
                            out=tmp_path / "alone", quiet=True)
    cols = ["agent", "t", "regret", "propensity"]
    a = batch.load().filter(pl.col("replicate") == 2).select(cols).sort("agent", "t").collect()
    b = alone.load().select(cols).sort("agent", "t").collect()
    assert a.height == 120
    assert a["regret"].to_list() == pytest.approx(b["regret"].to_list(), abs=1e-6)
    assert a["propensity"].to_list() == pytest.approx(b["propensity"].to_list(), abs=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize(("reward", "rng", "margin"),
                         [("cosine", [-1.0, 1.0], 0.6), ("quadratic", [0.0, 10.0], 0.9)])
def test_neural_igw_beats_linucb_and_uniform(tmp_path, reward, rng, margin):
    """Papers §3.5 claim 5 on the realizable nonlinear testbed (fixed seed, 8 replicates).

    LinUCB (a misspecified linear model) and uniform play are the weaker learners and must
    lose. The un-perturbed variants (``perturbation="none"``, plain OGD) run alongside for the
    perturbation claim, and it does **not** hold here: perturbed vs un-perturbed final regret
    (mean ± 95% t-CI) is, on cosine, NeuSquareCB 261 ± 28 vs 242 ± 15 and NeuFastCB 236 ± 20
    vs 243 ± 25; on quadratic 1646 ± 349 vs 1699 ± 218 and 1345 ± 193 vs 1493 ± 169 — the same
    within the intervals (docs/neural_cb.md's ablation agrees). What is asserted for it is what
    holds: the perturbation (c_p = 0.01) costs at most 25% and the un-perturbed agents beat
    LinUCB too."""
    agents = [{"label": "uniform", "id": "olearn/Uniform-v0"},
              {"label": "linucb", "id": "olearn/LinUCB-v0"}]
    for name in ("NeuSquareCB", "NeuFastCB"):
        for suffix, extra in (("", {}), ("_off", {"perturbation": "none"})):
            agents.append({"label": name.lower() + suffix, "id": f"olearn/{name}-v0",
                           "kwargs": {"reward_range": rng, "hidden": [50], **extra}})
    res = olearn.simulate(_spec(reward, agents, horizon=1500, replicates=8, seed=1),
                          out=tmp_path / reward, quiet=True)
    final = res.final_regret()
    for neural in ("neusquarecb", "neufastcb"):
        assert final[neural] < margin * final["linucb"], final
        assert final[neural] < 0.6 * final["uniform"], final
        assert final[neural + "_off"] < margin * final["linucb"], final
        assert final[neural] < 1.25 * final[neural + "_off"], final


def test_deepcopy_reset_restores_initial_behaviour():
    agent = NeuSquareCB(OBS, ACT, hidden=(8,))
    agent.reset(seeds=[5], device=CPU)
    first = agent.act(torch.ones(1, 4))
    fresh = copy.deepcopy(agent)
    agent.reset(seeds=[5], device=CPU)
    again = agent.act(torch.ones(1, 4))
    assert torch.equal(first[0], again[0])
    assert torch.equal(first[1]["propensity"], again[1]["propensity"])
    assert fresh._t == 1
