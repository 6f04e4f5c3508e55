"""Warm starts: an [[agents]] entry with init = RUN_DIR continues where the saved agent stopped
(that a restored agent acts and learns exactly as the original is checked for every registered
agent in tests/agents/test_state.py); a saved agent that does not fit is refused before any
round runs."""

from __future__ import annotations

import copy

import pytest

import olearn
from olearn.errors import SpecError
from olearn.registry import make_env
from olearn.seeding import replicate_seeds
from olearn.types import Step

UCB = {"name": "ucb", "horizon": 40, "replicates": 2, "seed": 3,
       "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 3, "dim": 4}},
       "agents": [{"label": "ts", "id": "olearn/LinTS-v0"}]}


def _by_hand(agent, spec, rounds):
    """The actions ``agent`` plays on ``spec``'s env for ``rounds`` rounds, learning."""
    ids = range(spec["replicates"])
    env = make_env(spec["env"]["id"], num_envs=len(ids), kwargs=spec["env"]["kwargs"])
    obs, _ = env.reset(seed=replicate_seeds(spec["seed"], "env", ids))
    actions = []
    for t in range(1, rounds + 1):
        a, info = agent.act(obs)
        nxt, r, term, trunc, einfo = env.step(a)
        agent.update(Step(t, obs, a, info, r, einfo["feedback"], nxt, term | trunc))
        actions.append(a.tolist())
        obs = nxt
    return actions


def _trace_actions(run, rounds):
    df = olearn.load(run.out).sort("t", "replicate").collect()
    return [df.filter(df["t"] == t)["action"].to_list() for t in range(1, rounds + 1)]


def test_init_runs_the_saved_agent_on(tmp_path):
    first = olearn.simulate(UCB, out=tmp_path / "first", quiet=True)
    spec = {**copy.deepcopy(UCB), "horizon": 15, "seed": 8}
    spec["agents"][0]["init"] = str(first.out)
    warm = olearn.simulate(spec, out=tmp_path / "warm", quiet=True)
    expected = _by_hand(olearn.load_agent(first.out, "ts"), spec, 15)
    assert _trace_actions(warm, 15) == expected
    del spec["agents"][0]["init"]   # the control: a cold start plays otherwise
    cold = olearn.simulate(spec, out=tmp_path / "cold", quiet=True)
    assert _trace_actions(cold, 15) != expected


@pytest.mark.parametrize(("change", "match"), [
    ({"replicates": 3}, "2 replicates, this run 3"),
    ({"env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 3, "dim": 5}}},
     "observation space"),
    ({"agents": [{"label": "ts", "id": "olearn/LinUCB-v0"}]}, "it is olearn/LinTS-v0"),
])
def test_a_saved_agent_that_does_not_fit_is_refused(tmp_path, change, match):
    first = olearn.simulate(UCB, out=tmp_path / "first", quiet=True)
    spec = {**copy.deepcopy(UCB), **copy.deepcopy(change)}
    spec["agents"][0]["init"] = str(first.out)
    with pytest.raises(SpecError, match=match):
        olearn.simulate(spec, out=tmp_path / "warm", quiet=True)
    assert not (tmp_path / "warm").exists()
