from __future__ import annotations

from collections import deque
from pathlib import Path

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
    with pytest.raises(AgentError, match=r"round 1: action 5 of replicate 0 is outside Discrete\(3\)"):
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
