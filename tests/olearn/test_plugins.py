from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

import olearn
from olearn.checks import check_agent, check_env

PLUGIN = str(Path(__file__).parent / "plugins" / "plain_bandit.py")


def _spec(env, agent="olearn/Uniform-v0", **over):
    return {"name": "p", "horizon": 200, "replicates": 3, "env": env,
            "agents": [{"label": "a", "id": agent}], **over}


def test_plain_gymnasium_env_from_a_file_is_vectorized():
    r = olearn.simulate(_spec({"id": f"{PLUGIN}:TwoArms", "kwargs": {"gap": 0.4}}), quiet=True)
    df = r.load().collect()
    assert df["replicate"].unique().sort().to_list() == [0, 1, 2]
    # uniform play: expected regret 0.4 per round on half the rounds
    assert 20 < r.final_regret()["a"] < 60
    assert check_env(f"{PLUGIN}:TwoArms") == []


def test_loss_plus_comparator_oracle_gives_regret():
    r = olearn.simulate(_spec({"id": f"{PLUGIN}:LossEnv"}), quiet=True)
    df = r.load().filter(pl.col("t") == 200).collect()
    # regret = number of times arm 1 was pulled
    assert df["regret"].to_list() == pytest.approx((-df["cum_reward"]).to_list())


def test_single_replicate_agent_plugin_runs_batched():
    spec = _spec({"id": f"{PLUGIN}:TwoArms"}, agent=f"{PLUGIN}:GreedyCounter")
    r = olearn.simulate(spec, quiet=True)
    assert r.final_regret()["a"] < 20  # greedy after 20 pulls each finds the better arm
    assert check_agent(f"{PLUGIN}:GreedyCounter", f"{PLUGIN}:TwoArms") == []


def test_module_class_and_package_id_references(tmp_path, monkeypatch):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent(f"""
        import gymnasium as gym
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("mypkg.envs", {PLUGIN!r})
        envs = importlib.util.module_from_spec(spec); spec.loader.exec_module(envs)
        sys.modules["mypkg.envs"] = envs
        gym.register(id="mypkg/TwoArms-v0", entry_point="mypkg.envs:TwoArms")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    r = olearn.simulate(_spec({"id": "mypkg:mypkg/TwoArms-v0"}), quiet=True, out="a")
    assert r.meta["status"] == "complete"
    r = olearn.simulate(_spec({"id": "mypkg.envs:TwoArms"}), quiet=True, out="b")
    assert r.meta["status"] == "complete"
    sys.modules.pop("mypkg", None)


def test_register_agent_makes_an_id():
    olearn.register_agent("me/Counter-v0", f"{PLUGIN}:GreedyCounter")
    r = olearn.simulate(_spec({"id": f"{PLUGIN}:TwoArms"}, agent="me/Counter-v0"), quiet=True)
    assert r.final_regret()["a"] < 20


@pytest.mark.parametrize(("ref", "message"), [
    ("nosuchmodule:Thing", "cannot import module 'nosuchmodule'"),
    (f"{PLUGIN}:TwoArm", "did you mean 'TwoArms'"),
    ("missing/file.py:X", "does not exist"),
])
def test_bad_plugin_references(ref, message):
    with pytest.raises(olearn.errors.SpecError, match=message):
        olearn.simulate(_spec({"id": ref}), quiet=True)


def test_checks_catch_tensors_reused_across_rounds():
    import olearn.envs.bandits.contextual as mod
    from olearn.agents.bandits.linear import LinUCB

    class ReusedEnv(mod.ContextualBanditVector):
        def step(self, action):
            obs, reward, term, trunc, info = super().step(action)
            self._buf = getattr(self, "_buf", reward.clone())
            self._buf.copy_(reward)
            return obs, self._buf, term, trunc, info

    class ReusedAgent(LinUCB):
        def act(self, obs):
            action, info = super().act(obs)
            self._buf = getattr(self, "_buf", action.clone())
            return self._buf.copy_(action), info

    mod.ReusedEnv, mod.ReusedAgent = ReusedEnv, ReusedAgent
    env_problems = check_env("olearn.envs.bandits.contextual:ReusedEnv", {"arms": 3, "dim": 2})
    assert len(env_problems) == 1 and "modified the reward tensor(s) returned in round 1" in env_problems[0]
    agent_problems = check_agent("olearn.envs.bandits.contextual:ReusedAgent", "olearn/ContextualBandit-v0",
                                 env_kwargs={"arms": 3, "dim": 2})
    assert len(agent_problems) == 1 and "modified the action tensor(s)" in agent_problems[0]
