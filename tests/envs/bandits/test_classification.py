"""ClassificationBandit-v0: gymnasium checks, regret = mistakes, epochs, replicate independence."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import olearn.envs  # noqa: F401  (registers ids)
from olearn.envs.bandits.classification import ClassificationBandit, ClassificationBanditVector


@pytest.mark.parametrize("encoding", ["shared", "disjoint"])
def test_check_env_and_registry(encoding):
    check_env(ClassificationBandit(dataset="iris", encoding=encoding), skip_render_check=True)
    env = gym.make("olearn/ClassificationBandit-v0", dataset="wine", encoding=encoding)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


def test_contexts_normalized_and_disjoint_blocks():
    env = ClassificationBanditVector(num_envs=2, dataset="wine", encoding="disjoint")
    obs, _ = env.reset(seed=1)
    assert obs.shape == (2, 3, 39)
    assert torch.allclose(obs.norm(dim=-1), torch.ones(2, 3))
    assert torch.equal(obs[:, 1, 13:26], obs[:, 0, :13]) and (obs[:, 0, 13:] == 0).all()


def test_regret_counts_mistakes_and_epochs_reshuffle():
    env = ClassificationBanditVector(num_envs=2, dataset="iris")
    env.reset(seed=0)
    labels, regret = [], torch.zeros(2)
    for _ in range(300):                          # two epochs of 150 rows
        labels.append(env._label.clone())
        _, reward, _, _, info = env.step(torch.zeros(2, dtype=torch.long))
        assert torch.equal(info["oracle"]["regret"], 1 - reward)
        regret += info["oracle"]["regret"]
    labels = torch.stack(labels, 1)
    # iris: 50 rows per class, arm 0 right 1/3 of the time
    assert regret.tolist() == [200.0, 200.0]
    first, second = labels[:, :150], labels[:, 150:]
    assert (first.sort(1).values == second.sort(1).values).all()  # each epoch visits every row once
    assert not torch.equal(first, second)                        # with a fresh order
    assert not torch.equal(labels[0], labels[1])                 # replicates have their own orders


def test_replicate_alone_equals_batch():
    from olearn.seeding import replicate_seeds
    seeds = replicate_seeds(3, "env", range(3))
    big = ClassificationBanditVector(num_envs=3, dataset="digits")
    one = ClassificationBanditVector(num_envs=1, dataset="digits")
    ob, _ = big.reset(seed=seeds)
    oo, _ = one.reset(seed=seeds[2:])
    for _ in range(5):
        assert torch.equal(ob[2], oo[0])
        ob = big.step(torch.zeros(3, dtype=torch.long))[0]
        oo = one.step(torch.zeros(1, dtype=torch.long))[0]


@pytest.mark.parametrize(("kwargs", "match"), [({"encoding": "onehot"}, "encoding"),
                                               ({"max_rows": 1}, "max_rows"),
                                               ({"dataset": "nope"}, "dataset must be")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClassificationBanditVector(**{"dataset": "iris", **kwargs})


def test_max_rows_one_class_is_rejected():
    with pytest.raises(ValueError, match="only one class"):
        ClassificationBanditVector(dataset="iris", max_rows=10)   # iris is sorted by class
