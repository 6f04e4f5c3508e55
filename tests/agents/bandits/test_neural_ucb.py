"""NeuralUCB / NeuralTS: widths, covariance options, buffer cap, batching."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

from olearn.agents.bandits.neural_ucb import NeuralTS, NeuralUCB
from olearn.types import Step

OBS, ACT = gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(2)
CPU = torch.device("cpu")


def _run(agent, seeds, n=15, seed=0):
    agent.reset(seeds=seeds, device=CPU)
    g = torch.Generator().manual_seed(seed)
    actions = []
    for t in range(1, n + 1):
        obs = torch.randn(1, 3, generator=g).expand(len(seeds), 3)
        a, info = agent.act(obs)
        actions.append(a)
        agent.update(Step(t=t, obs=obs, action=a, act_info=info, reward=(a == 1).float()))
    return torch.stack(actions, 1)


@pytest.mark.parametrize("cls", [NeuralUCB, NeuralTS])
def test_batched_replicate_equals_alone(cls):
    kw = {"hidden": (8,), "train_steps": 3, "batch_size": 4, "buffer_size": 6}
    batch = _run(cls(OBS, ACT, **kw), [11, 12, 13])
    alone = _run(cls(OBS, ACT, **kw), [13])
    assert torch.equal(batch[2], alone[0])


def test_full_matches_diag_before_any_update():
    """With Z = λI both covariances give the same widths; they differ after updates."""
    diag = NeuralUCB(OBS, ACT, hidden=(4,), covariance="diag", train_steps=0)
    full = NeuralUCB(OBS, ACT, hidden=(4,), covariance="full", train_steps=0)
    x = torch.ones(1, 3)
    for a in (diag, full):
        a.reset(seeds=[0], device=CPU)
    assert torch.allclose(diag.act(x)[1]["width"], full.act(x)[1]["width"])
    for a in (diag, full):
        a.update(Step(t=1, obs=x, action=torch.tensor([1]), act_info={}, reward=torch.ones(1)))
    w_diag, w_full = diag.act(x)[1]["width"], full.act(x)[1]["width"]
    assert (w_full > 0).all() and not torch.allclose(w_diag, w_full)


def test_width_shrinks_on_repeated_context():
    agent = NeuralUCB(OBS, ACT, hidden=(8,), train_steps=0)
    agent.reset(seeds=[0], device=CPU)
    x = torch.tensor([[0.5, -0.2, 0.1]])
    widths = []
    for t in range(1, 6):
        _, info = agent.act(x)
        widths.append(float(info["width"][0]))
        agent.update(Step(t=t, obs=x, action=torch.tensor([0]), act_info=info,
                          reward=torch.zeros(1)))
    assert all(a > b for a, b in zip(widths, widths[1:], strict=False))


def test_buffer_is_capped_and_training_fits():
    agent = NeuralUCB(OBS, ACT, hidden=(16,), train_steps=20, lr=0.1, buffer_size=5)
    agent.reset(seeds=[0], device=CPU)
    x = torch.tensor([[0.3, 0.3, 0.3]])
    for t in range(1, 12):
        agent.update(Step(t=t, obs=x, action=torch.tensor([1]), act_info={}, reward=torch.ones(1)))
    assert agent._buf_x.shape[1] == 5 and agent._count == 11
    from olearn.agents.bandits.networks import encode_arms
    pred = agent._net.scalar(agent._params, encode_arms(x, 2, False))[0, 1]
    assert abs(float(pred) - 1.0) < 0.1


def test_full_covariance_rejects_big_networks():
    with pytest.raises(ValueError, match="covariance='full'"):
        NeuralUCB(gym.spaces.Box(-1, 1, (64,)), gym.spaces.Discrete(10), covariance="full")


@pytest.mark.parametrize("kwargs", [{"reg": 0}, {"nu": -1.0}, {"covariance": "lowrank"},
                                    {"train_steps": -1}, {"batch_size": 0}, {"buffer_size": 0}])
def test_bad_hyperparameters_raise(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        NeuralTS(OBS, ACT, **kwargs)
