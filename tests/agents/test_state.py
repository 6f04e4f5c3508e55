"""Agent state over every registered agent: saved as tensors, loaded with weights_only=True
into a fresh agent, which then acts and learns exactly like the original."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from test_delay import CPU, R, _agent_params, _assert_same, _round

from olearn.agent_state import StateMismatchError, load_state, state_of
from olearn.registry import make_agent, make_env
from olearn.seeding import replicate_seeds
from olearn.simulator import attach_simulators


def _roundtrip(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize(("agent_id", "kwargs", "env_id", "env_kwargs"), list(_agent_params()))
def test_restored_agent_continues_exactly(agent_id, kwargs, env_id, env_kwargs):
    env = make_env(env_id, num_envs=R, device=CPU, kwargs=env_kwargs)
    spaces = env.single_observation_space, env.single_action_space

    def fresh(seed):
        agent = make_agent(agent_id, *spaces, **kwargs)
        attach_simulators(env, [agent])
        agent.reset(seeds=replicate_seeds(seed, "agent", range(R)), device=CPU)
        return agent

    agent = fresh(7)
    obs, _ = env.reset(seed=replicate_seeds(7, "env", range(R)))
    for t in range(1, 6):
        step, obs = _round(agent, env, obs, t)
        agent.update(step)
    restored = fresh(99)   # other seeds: the state must bring the streams' too
    load_state(restored, _roundtrip(state_of(agent)))
    env_x, env_y = env, copy.deepcopy(env)
    obs_x = obs_y = obs
    for t in range(6, 10):
        ax = agent.act(obs_x)
        ay = restored.act(obs_y)
        _assert_same(ax, ay, f"round {t}")
        nx, rx, tx, ux, ix = env_x.step(ax[0])
        ny, ry, ty, uy, iy = env_y.step(ay[0])
        from olearn.types import Step

        agent.update(Step(t, obs_x, ax[0], ax[1], rx, ix.get("feedback", {}), nx, tx | ux))
        restored.update(Step(t, obs_y, ay[0], ay[1], ry, iy.get("feedback", {}), ny, ty | uy))
        obs_x, obs_y = nx, ny


def test_another_replicate_count_is_refused():
    import gymnasium as gym

    spaces = gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(2)
    a = make_agent("olearn/LinUCB-v0", *spaces)
    a.reset(seeds=[0, 1], device=CPU)
    b = make_agent("olearn/LinUCB-v0", *spaces)
    b.reset(seeds=[0, 1, 2], device=CPU)
    with pytest.raises(StateMismatchError, match="2 replicates and this agent 3"):
        load_state(b, _roundtrip(a.state_dict()))
