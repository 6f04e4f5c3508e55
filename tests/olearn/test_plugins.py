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
    assert len(env_problems) == 1
    assert "modified the reward tensor(s) returned in round 1" in env_problems[0]
    agent_problems = check_agent("olearn.envs.bandits.contextual:ReusedAgent",
                                 "olearn/ContextualBandit-v0", env_kwargs={"arms": 3, "dim": 2})
    assert len(agent_problems) == 1 and "modified the action tensor(s)" in agent_problems[0]


# ------------------------------------------------------ dict observations, non-Discrete actions
SPACES = str(Path(__file__).parent / "plugins" / "spaces_env.py")


@pytest.mark.parametrize("env", ["ReachTarget", "Dials"])
def test_check_env_accepts_dict_observations_and_array_actions(env):
    assert check_env(f"{SPACES}:{env}") == []


@pytest.mark.parametrize(("env", "problem"), [
    ("StrayTarget", "round 3: the observation['target'] has 1.5 outside the bounds [-1, 1] "
                    "(replicate 0)"),
    ("NoPhase", "reset: the observation lacks the key 'phase' (the space's keys: "
                "['phase', 'target']) (replicate 0)"),
    ("DictAction", "action space Dict('dial': Discrete(3)) is not supported: olearn passes a "
                   "round's actions as one tensor"),
])
def test_check_env_reports_values_outside_the_spaces_in_plain_words(env, problem):
    problems = check_env(f"{SPACES}:{env}")
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_check_env_reports_a_batched_action_space_that_samples_outside_the_single_one():
    import gymnasium as gym
    import numpy as np

    import olearn.envs.oco.sea as mod

    class CubeBatch(mod.SEAVector):   # the plain Box batch of a ball: its bounding cube
        def _finish_spaces(self):
            super()._finish_spaces()
            self.action_space = gym.spaces.Box(-1.0, 1.0, (self.num_envs, self.dim), np.float64)

    mod.CubeBatch = CubeBatch
    try:
        problems = check_env("olearn.envs.oco.sea:CubeBatch", {"dim": 6})
    finally:
        del mod.CubeBatch
    assert len(problems) == 1
    assert problems[0].startswith("action_space.sample() gives replicate ")
    assert "is not in BallSpace(radius=1.0, dim=6); make action_space with gymnasium" in problems[0]


def test_check_agent_tests_actions_with_the_single_action_space():
    assert check_agent(f"{SPACES}:Chaser", f"{SPACES}:ReachTarget") == []
    assert check_agent("olearn/OGD-v0", "olearn/SEA-v0",
                       env_kwargs={"dim": 3, "domain": "simplex"}) == []
    over = check_agent(f"{SPACES}:Chaser", f"{SPACES}:ReachTarget", kwargs={"overshoot": 0.5})
    assert len(over) == 1 and over[0].startswith("round 1: the action has ")
    assert "outside the bounds [-1, 1] (replicate " in over[0]
    out = check_agent(f"{SPACES}:OutsideBall", "olearn/SEA-v0", env_kwargs={"dim": 3})
    assert out == ["round 1: the action [1.5, 0.0, 0.0] is not in BallSpace(radius=1.0, dim=3) "
                   "(replicate 0)"]


def test_dict_observation_plugin_runs_end_to_end(tmp_path):
    spec = _spec({"id": f"{SPACES}:ReachTarget"}, agent=f"{SPACES}:Chaser", horizon=30)
    spec["agents"].append({"label": "b", "id": f"{SPACES}:Chaser", "kwargs": {"overshoot": 0.05}})
    r = olearn.simulate(spec, quiet=True, out=tmp_path / "run")
    regret = r.final_regret()
    assert regret["a"] == 0.0 and regret["b"] > 0.0


# ------------------------------------------------------------------ the one factory
@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """A fake installed distribution whose ``olearn.plugins`` entry point registers ids."""
    import gymnasium as gym

    from olearn import registry

    (tmp_path / "epdemo.py").write_text(textwrap.dedent(f"""
        import importlib.util, sys
        import gymnasium as gym
        import olearn
        spec = importlib.util.spec_from_file_location("epdemo_envs", {PLUGIN!r})
        envs = importlib.util.module_from_spec(spec); spec.loader.exec_module(envs)
        sys.modules["epdemo_envs"] = envs
        gym.register(id="epdemo/TwoArms-v0", entry_point="epdemo_envs:TwoArms")
        olearn.register_agent("epdemo/Greedy-v0", "epdemo_envs:GreedyCounter",
                              description="greedy after a few pulls")
    """))
    dist = tmp_path / "epdemo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: epdemo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[olearn.plugins]\nepdemo = epdemo\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    gym.registry.pop("epdemo/TwoArms-v0", None)
    registry.agent_registry.pop("epdemo/Greedy-v0", None)
    registry._PLUGIN_MODULES.pop("epdemo", None)
    for name in ("epdemo", "epdemo_envs"):
        sys.modules.pop(name, None)


def test_entry_point_ids_build_without_importing_the_plugin_first(installed_plugin):
    import gymnasium as gym

    assert "epdemo" not in sys.modules and "epdemo/TwoArms-v0" not in gym.registry
    env = olearn.make_env("epdemo/TwoArms-v0", num_envs=2, kwargs={"gap": 0.2})
    assert env.num_envs == 2 and env.envs[0].unwrapped.gap == 0.2 and "epdemo" in sys.modules
    agent = olearn.make_agent("epdemo/Greedy-v0", env.single_observation_space,
                              env.single_action_space, explore=3)
    assert agent.inner.explore == 3


def test_entry_point_ids_listed_by_the_cli_run_in_simulate(installed_plugin, tmp_path):
    from click.testing import CliRunner

    from olearn.cli import main

    r = olearn.simulate(_spec({"id": "epdemo/TwoArms-v0"}, agent="epdemo/Greedy-v0"),
                        quiet=True, out=tmp_path / "run")
    assert r.meta["status"] == "complete" and r.final_regret()["a"] < 20
    listed = CliRunner().invoke(main, ["envs"])
    assert listed.exit_code == 0 and "epdemo/TwoArms-v0" in listed.output
    listed = CliRunner().invoke(main, ["agents"])
    assert listed.exit_code == 0 and "epdemo/Greedy-v0" in listed.output


def test_single_replicate_agents_come_batched_from_the_one_factory(monkeypatch, tmp_path):
    import gymnasium as gym

    from olearn import registry
    from olearn.adapters import PerReplicateAgent

    ref = f"{PLUGIN}:GreedyCounter"
    agent = olearn.make_agent(ref, gym.spaces.Box(0.0, 1.0, (1,)), gym.spaces.Discrete(2),
                              explore=5)
    assert isinstance(agent, PerReplicateAgent) and agent.inner.explore == 5
    resolved, wrapped = [], []
    resolve, reset = registry.resolve_agent, PerReplicateAgent.reset
    monkeypatch.setattr(registry, "resolve_agent", lambda r: resolved.append(r) or resolve(r))

    def spy_reset(self, **kw):
        wrapped.append(type(self.inner).__name__)
        return reset(self, **kw)

    monkeypatch.setattr(PerReplicateAgent, "reset", spy_reset)
    olearn.simulate(_spec({"id": f"{PLUGIN}:TwoArms"}, agent=ref), quiet=True, out=tmp_path / "r")
    assert ref in resolved and set(wrapped) == {"GreedyCounter"}      # the runner
    resolved.clear()
    wrapped.clear()
    assert check_agent(ref, f"{PLUGIN}:TwoArms") == []
    assert ref in resolved and set(wrapped) == {"GreedyCounter"}      # olearn check agent


def test_a_typo_in_the_second_agent_fails_before_the_first_plays(monkeypatch, tmp_path):
    from olearn.agents.bandits.baselines import Uniform

    played = []
    act = Uniform.act
    monkeypatch.setattr(Uniform, "act", lambda self, obs: played.append(1) or act(self, obs))
    spec = _spec({"id": f"{PLUGIN}:TwoArms"})
    spec["agents"].append({"label": "b", "id": "olearn/LinUCB-v0", "kwargs": {"alpah": 1.0}})
    out = tmp_path / "run"
    with pytest.raises(olearn.errors.SpecError, match="'alpah'.*did you mean 'alpha'"):
        olearn.simulate(spec, quiet=True, out=out)
    assert played == [] and not (out / "trace").exists()


def test_a_plugin_file_has_the_same_module_name_in_every_process():
    """Checkpoints pickle a plug-in's classes by module name and a run resumes in a new
    process (``--resume``, a sweep worker): the name must not depend on the process's
    salted ``hash()``, or the checkpoint fails to load with ModuleNotFoundError."""
    import os
    import subprocess

    code = (f"from olearn.registry import load_object; "
            f"print(load_object({PLUGIN + ':TwoArms'!r}).__module__)")
    names = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
             for seed in ("1", "2")}
    assert len(names) == 1 and names.pop().startswith("olearn_plugin_")
