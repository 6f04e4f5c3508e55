"""Contract tests over every registered olearn environment, with the configurations each env
class lists in ``_unit_test_kwargs()``; the batched action spaces; the autoreset semantics."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

import olearn.envs  # noqa: F401  (registers)
from olearn.adapters import PerReplicateEnv
from olearn.checks import check_env
from olearn.registry import load_object, make_env
from olearn.spaces import BallSpace, BatchedDomainSpace, SimplexSpace
from olearn.vector import BatchedEnv

# gymnasium's checker advises [-1, 1] boxes; a ball of radius 2 is a configuration we test
pytestmark = pytest.mark.filterwarnings("ignore:.*symmetric and normalized space:UserWarning")

def _olearn_ids() -> list[str]:
    return sorted(i for i in gym.registry if i.startswith("olearn/"))


def _env_params():
    for env_id in _olearn_ids():
        cls = load_object(gym.registry[env_id].vector_entry_point)
        for kwargs in getattr(cls, "_unit_test_kwargs", lambda: [{}])():
            yield pytest.param(env_id, kwargs, id=f"{env_id}-{kwargs}")


@pytest.mark.parametrize(("env_id", "kwargs"), list(_env_params()))
def test_env_contract(env_id, kwargs):
    assert check_env(env_id, kwargs) == []


@pytest.mark.parametrize("env_id", _olearn_ids())
def test_every_builtin_env_lists_several_test_configurations(env_id):
    cls = load_object(gym.registry[env_id].vector_entry_point)
    configs = cls._unit_test_kwargs()
    assert len(configs) >= 3 and all(isinstance(c, dict) for c in configs)


@pytest.mark.parametrize("kwargs", [
    {"dim": 3}, {"dim": 4, "radius": 0.5}, {"dim": 3, "domain": "simplex"},
    {"dim": 1, "domain": "simplex"},
])
def test_sampled_sea_actions_lie_in_the_domain_and_step(kwargs):
    env = make_env("olearn/SEA-v0", num_envs=64, kwargs=kwargs)
    single, batched = env.single_action_space, env.action_space
    assert isinstance(single, (BallSpace, SimplexSpace))
    assert isinstance(batched, BatchedDomainSpace) and batched.single == single
    assert batched.shape == (64, kwargs["dim"]) and batched == gym.vector.utils.batch_space(
        single, 64)
    batched.seed(0)
    single.seed(0)
    env.reset(seed=0)
    for _ in range(5):
        x = batched.sample()
        assert batched.contains(x) and all(single.contains(row) for row in x)
        assert env._domain.violation(torch.as_tensor(x)).max() <= 1e-12
        env.step(torch.as_tensor(x))                       # the env accepts every row
        assert single.contains(single.sample())
    # ``contains`` agrees with the env: a point pushed out of the set is refused by both
    x = batched.sample()
    x[5] = 2.0 * x[5] / np.abs(x[5]).sum() if kwargs.get("domain") == "simplex" else (
        x[5] * 1.01 * env.radius / np.linalg.norm(x[5]))
    assert not single.contains(x[5]) and not batched.contains(x)
    assert single.contains(x[4]) and not batched.contains(np.delete(x, 5, 0))   # wrong shape
    with pytest.raises(ValueError, match="replicate 5 is outside"):
        env.step(torch.as_tensor(x))


def test_sampled_actions_are_seeded_and_differ_by_row():
    a, b = (gym.vector.utils.batch_space(BallSpace(1.0, 3), 4) for _ in range(2))
    a.seed(1)
    x = a.sample()
    b.seed(1)
    assert np.array_equal(x, b.sample())
    assert len({tuple(row) for row in x}) == 4
    simplex = gym.vector.utils.batch_space(SimplexSpace(3), 5)
    assert np.allclose(simplex.sample().sum(1), 1.0)


def test_single_view_samples_valid_actions():
    env = gym.make("olearn/SEA-v0", dim=3, domain="simplex")
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(3):
        env.step(env.action_space.sample())


# ------------------------------------------------------------------ autoreset semantics
class _Ends(gym.Env):
    """Counts steps; the episode ends after ``length`` of them."""

    def __init__(self, length: int = 3):
        self.length = length
        self.observation_space = gym.spaces.Box(0.0, 10.0, (1,), dtype=np.float64)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1), {}

    def step(self, action):
        self.t += 1
        return (np.full(1, float(self.t)), 0.0, self.t == self.length, False,
                {"oracle": {"regret": 0.0}})


def test_vector_envs_declare_same_step_autoreset():
    assert BatchedEnv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert PerReplicateEnv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    for env_id in _olearn_ids():
        env = make_env(env_id, num_envs=1, kwargs=load_object(
            gym.registry[env_id].vector_entry_point)._unit_test_kwargs()[0])
        assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP


def test_per_replicate_env_resets_a_finished_copy_in_the_same_step():
    env = PerReplicateEnv(_Ends, 2)
    env.reset(seed=0)
    seen = []
    for _ in range(4):
        obs, _, term, _, _ = env.step(torch.zeros(2, dtype=torch.long))
        seen.append((float(obs[0, 0]), bool(term[0])))
    # the ending step reports terminated and already returns the new episode's first obs
    assert seen == [(1.0, False), (2.0, False), (0.0, True), (1.0, False)]
