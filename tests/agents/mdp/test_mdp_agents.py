"""MDP agents: the simulator mechanism, delay safety with a simulator, bad input."""

from __future__ import annotations

import copy

import pytest
import torch

import olearn
from olearn.checks import check_agent
from olearn.errors import SpecError
from olearn.registry import make_agent, make_env
from olearn.seeding import replicate_seeds
from olearn.simulator import attach_simulators
from olearn.types import Step

CPU = torch.device("cpu")
ENV = ("olearn/LinearMDP-v0", {"H": 2, "states": 3, "actions": 3, "d": 3})
AGENTS = [
    ("olearn/LogBarrierPO-v0", {"horizon": 50, "rollouts": 8}),
    ("olearn/ExpWeightsPO-v0", {"horizon": 50, "rollouts": 8}),
    ("olearn/MagnitudeReducedPO-v0", {"horizon": 50, "rollouts": 8, "eta": 0.5}),
    ("olearn/SimulatorFreePO-v0", {"horizon": 50, "epoch_len": 4}),
    ("olearn/SimulatorFreePO-v0", {"horizon": 50, "epoch_len": 6, "estimator": "mgr"}),
    ("olearn/UniformPolicy-v0", {}),
]


def _round(agent, env, obs, t):
    action, info = agent.act(obs)
    nxt, reward, term, trunc, einfo = env.step(action)
    return Step(t, obs, action, info, reward, einfo["feedback"], nxt, term | trunc), nxt


@pytest.mark.parametrize("delay", [1, 3])
@pytest.mark.parametrize(("agent_id", "kwargs"), AGENTS)
def test_update_depends_only_on_its_step_with_a_simulator(agent_id, kwargs, delay):
    """tests/agents/test_delay.py's check, with the simulator attached as the engine does."""
    r = 3
    env = make_env(ENV[0], num_envs=r, device=CPU, kwargs=ENV[1])
    agent = make_agent(agent_id, env.single_observation_space, env.single_action_space, **kwargs)
    attach_simulators(env, [agent])
    obs, _ = env.reset(seed=replicate_seeds(7, "env", range(r)))
    agent.reset(seeds=replicate_seeds(7, "agent", range(r)), device=CPU)
    t = 0
    for t in range(1, 6):
        step, obs = _round(agent, env, obs, t)
        agent.update(step)
    x, y = copy.deepcopy(agent), copy.deepcopy(agent)
    steps = []
    for s in range(t + 1, t + delay + 2):
        step, obs = _round(x, env, obs, s)
        x.update(step)
        steps.append(step)
    for step in steps:
        y.act(step.obs)
    for step in steps:
        y.update(step)
    ax, ay = x.act(obs), y.act(obs)
    assert torch.equal(ax[0], ay[0])
    assert all(torch.equal(ax[1][k], ay[1][k]) for k in ax[1])


@pytest.mark.parametrize(("agent_id", "kwargs"), AGENTS)
def test_check_agent_passes_on_the_tabular_and_h1_cases(agent_id, kwargs):
    for env_kwargs in ({"H": 2, "states": 2, "actions": 2, "features": "tabular"},
                       {"H": 1, "states": 3, "actions": 3, "start": "random"}):
        assert check_agent(agent_id, "olearn/LinearMDP-v0", env_kwargs=env_kwargs,
                           kwargs=kwargs, rounds=12) == []


def test_simulator_use_is_counted_in_the_trace(tmp_path):
    spec = {"name": "sim", "horizon": 12, "replicates": 2, "record": {"every": 1},
            "env": {"id": ENV[0], "kwargs": ENV[1]},
            "agents": [{"label": "lb", "id": "olearn/LogBarrierPO-v0",
                        "kwargs": {"horizon": 12, "rollouts": 5}},
                       {"label": "sf", "id": "olearn/SimulatorFreePO-v0",
                        "kwargs": {"horizon": 12}}]}
    run = olearn.simulate(spec, out=tmp_path / "run", quiet=True)
    trace = olearn.load(run.out).collect().sort("agent", "replicate", "t")
    lb = trace.filter(trace["agent"] == "lb")
    assert lb["sim_trajectories"].to_list() == [5 * t for t in lb["t"].to_list()]
    assert lb["sim_calls"].to_list() == lb["t"].to_list()
    sf = trace.filter(trace["agent"] == "sf")
    assert sf["sim_calls"].null_count() == len(sf)                        # no handle at all


def test_an_agent_needing_a_simulator_on_an_env_without_one_fails_in_one_line():
    env = make_env(ENV[0], num_envs=1, device=CPU, kwargs=ENV[1])
    agent = make_agent("olearn/LogBarrierPO-v0", env.single_observation_space,
                       env.single_action_space)

    class NoSimulator:   # e.g. a user's MDP env that offers no generative model
        pass

    with pytest.raises(SpecError, match="needs a simulator") as e:
        attach_simulators(NoSimulator(), [agent])
    assert "\n" not in str(e.value)
    attach_simulators(NoSimulator(), [make_agent("olearn/SimulatorFreePO-v0",
                                                 env.single_observation_space,
                                                 env.single_action_space)])   # needs none


def test_reset_without_a_simulator_says_how_to_attach_one():
    env = make_env(ENV[0], num_envs=1, device=CPU, kwargs=ENV[1])
    agent = make_agent("olearn/ExpWeightsPO-v0", env.single_observation_space,
                       env.single_action_space)
    with pytest.raises(ValueError, match="attach_simulators"):
        agent.reset(seeds=[0], device=CPU)


@pytest.mark.parametrize(("agent_id", "kwargs", "match"), [
    ("olearn/LogBarrierPO-v0", {"eta": -1.0}, "eta"),
    ("olearn/LogBarrierPO-v0", {"rollouts": 0}, "rollouts"),
    ("olearn/ExpWeightsPO-v0", {"horizon": 0}, "horizon"),
    ("olearn/MagnitudeReducedPO-v0", {"clip": 0}, "clip"),
    ("olearn/SimulatorFreePO-v0", {"estimator": "svd"}, "estimator"),
    ("olearn/SimulatorFreePO-v0", {"epoch_len": 1}, "epoch_len"),
])
def test_bad_hyperparameters(agent_id, kwargs, match):
    env = make_env(ENV[0], num_envs=1, device=CPU, kwargs=ENV[1])
    with pytest.raises(ValueError, match=match):
        make_agent(agent_id, env.single_observation_space, env.single_action_space, **kwargs)


def test_mdp_agents_refuse_a_non_mdp_env():
    env = make_env("olearn/ContextualBandit-v0", num_envs=1, device=CPU,
                   kwargs={"arms": 3, "dim": 2})
    with pytest.raises(ValueError, match="layered MDP"):
        make_agent("olearn/UniformPolicy-v0", env.single_observation_space,
                   env.single_action_space)
