from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

import olearn
from olearn.errors import AgentError, EnvError
from olearn.registry import register_agent

PLUGIN = str(Path(__file__).parent / "plugins" / "plain_bandit.py")


def _spec(**over):
    d = {"name": "t", "horizon": 60, "replicates": 2,
         "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 3, "dim": 4}},
         "agents": [{"label": "a", "id": "olearn/LinUCB-v0"}]}
    d.update(over)
    return d


class Spy:
    """Batched agent that records every step it is handed."""

    vectorized = True
    log: list = []

    def __init__(self, observation_space, action_space):
        self.n = action_space.n

    def reset(self, *, seeds, device):
        self.r = len(seeds)
        type(self).log = []

    def act(self, obs):
        return torch.zeros(self.r, dtype=torch.long), {"propensity": torch.ones(self.r)}

    def update(self, step):
        type(self).log.append(step)


class BadAction(Spy):
    def act(self, obs):
        return torch.full((self.r,), 5, dtype=torch.long), {}


def test_oracle_never_reaches_the_agent():
    register_agent("test/Spy-v0", Spy)
    olearn.simulate(_spec(agents=[{"label": "spy", "id": "test/Spy-v0"}]), quiet=True)
    assert len(Spy.log) == 60
    for step in Spy.log:
        assert "oracle" not in step.feedback and "regret" not in step.feedback
        assert set(vars(step)) == {"t", "obs", "action", "act_info", "reward", "feedback",
                                   "next_obs", "done"}


def test_delay_hands_feedback_late_and_counts_regret_at_decision_time():
    register_agent("test/Spy-v0", Spy)
    r = olearn.simulate(_spec(delay=5, agents=[{"label": "spy", "id": "test/Spy-v0"}]), quiet=True)
    assert [s.t for s in Spy.log] == list(range(1, 56))  # the last 5 are still in flight
    undelayed = olearn.simulate(_spec(agents=[{"label": "spy", "id": "test/Spy-v0"}]), quiet=True,
                                out="undelayed")
    a = r.load().sort("replicate", "t").collect()["regret"]
    b = undelayed.load().sort("replicate", "t").collect()["regret"]
    assert a.to_list() == b.to_list()  # same actions -> same regret, whatever the delay


def test_delay_changes_learning_but_not_validity():
    fast = olearn.simulate(_spec(horizon=400), quiet=True, out="fast").final_regret()["a"]
    slow = olearn.simulate(_spec(horizon=400, delay=50), quiet=True, out="slow").final_regret()["a"]
    assert slow > fast


def test_invalid_action_names_round_and_replicate():
    register_agent("test/BadAction-v0", BadAction)
    with pytest.raises(AgentError,
                       match=r"round 1: action 5 of replicate 0 is outside Discrete\(3\)"):
        olearn.simulate(_spec(agents=[{"label": "bad", "id": "test/BadAction-v0"}]), quiet=True)


def test_nan_from_env_names_round_and_replicate():
    spec = _spec(env={"id": f"{PLUGIN}:NaNEnv"}, agents=[{"label": "u", "id": "olearn/Uniform-v0"}],
                 first_replicate=3)
    with pytest.raises(EnvError, match="non-finite .* at round 7, replicate 3"):
        olearn.simulate(spec, quiet=True)


def test_nan_between_recorded_rounds_names_the_interval():
    spec = _spec(env={"id": f"{PLUGIN}:NaNEnv"}, agents=[{"label": "u", "id": "olearn/Uniform-v0"}],
                 record={"every": 5})
    with pytest.raises(EnvError, match="between rounds 6 and 10 .*, replicate 0"):
        olearn.simulate(spec, quiet=True)


def test_env_without_oracle_is_refused_with_a_hint():
    import olearn.envs.bandits.contextual as mod

    class NoOracle(mod.ContextualBanditVector):
        def step(self, action):
            obs, r, te, tr, info = super().step(action)
            return obs, r, te, tr, {"feedback": {}}

    mod.NoOracle = NoOracle
    with pytest.raises(EnvError, match="neither 'regret' nor 'loss'"):
        olearn.simulate(_spec(env={"id": "olearn.envs.bandits.contextual:NoOracle"}), quiet=True)


class Declares(Spy):
    """Batched agent with declared keys: ``count`` int64, ``probs`` a (R, K) vector."""

    info_keys = ("count", "probs")
    info_dtypes = {"count": "int64", "probs": None}

    def act(self, obs):
        return torch.zeros(self.r, dtype=torch.long), {
            "count": torch.full((self.r,), 3), "probs": torch.ones(self.r, self.n) / self.n}


class WrongDtype(Declares):
    def act(self, obs):
        action, info = super().act(obs)
        return action, {**info, "count": info["count"] + 0.5}


class VectorUndeclared(Declares):
    info_dtypes = {"count": "int64"}


def test_declared_dtypes_and_non_scalar_entries():
    register_agent("test/Declares-v0", Declares)
    df = olearn.simulate(_spec(agents=[{"label": "d", "id": "test/Declares-v0"}]),
                         quiet=True).load().collect()
    assert df.schema["count"] == pl.Int64 and "probs" not in df.columns
    assert df["count"].unique().to_list() == [3]


def test_a_declared_value_that_does_not_fit_its_column_is_refused():
    register_agent("test/WrongDtype-v0", WrongDtype)
    with pytest.raises(AgentError, match=r"round 1: agent 'w'.*act_info\['count'\] holds "
                                         r"torch.float32 values.*int64 column"):
        olearn.simulate(_spec(agents=[{"label": "w", "id": "test/WrongDtype-v0"}]), quiet=True)
    register_agent("test/VectorUndeclared-v0", VectorUndeclared)
    with pytest.raises(AgentError, match=r"act_info\['probs'\] holds \(2, 3\).*info_dtypes"):
        olearn.simulate(_spec(agents=[{"label": "v", "id": "test/VectorUndeclared-v0"}]),
                        quiet=True, out="v")


def test_the_probe_leaves_agents_and_global_random_states_alone():
    from olearn.loop import trace_schema
    from olearn.registry import make_agent, make_env

    register_agent("test/Spy-v0", Spy)
    env = make_env(f"{PLUGIN}:TwoArms", num_envs=2)
    agent = make_agent("test/Spy-v0", env.single_observation_space, env.single_action_space)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    schema = trace_schema(env, {"spy": agent}, env_seeds=[1, 2], agent_seeds={"spy": [3, 4]},
                          device=torch.device("cpu"))
    assert schema.act_info == {"spy": ("propensity",)} and schema.oracle == ()
    assert not hasattr(agent, "r")          # the probe reset a copy, not the agent
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert (np.random.get_state()[1] == np_state).all()


def test_private_act_info_keys_are_never_recorded():
    """``_`` keys are for ``update`` only: neither a column nor an 'undeclared key' error."""
    import olearn
    from olearn.agents.bandits.baselines import Uniform
    from olearn.registry import register_agent

    class WithPrivate(Uniform):
        def act(self, obs):
            action, info = super().act(obs)
            return action, {**info, "_seen": action.double()}

    register_agent("test/PrivateKey-v0", WithPrivate)
    spec = {"name": "private", "horizon": 20, "replicates": 3,
            "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 3, "dim": 2}},
            "agents": [{"label": "p", "id": "test/PrivateKey-v0"}]}
    df = olearn.simulate(spec, out="private", quiet=True).load().collect()
    assert "_seen" not in df.columns and df.height == 60
