"""Hostile and careless command-line input: each case fails with one line and exit code 2.

Each test is written as the failing case of the reliability review (issue 13), so the list of
inputs that once slipped through sits in one place.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from olearn.cli import main

SPEC = """
name = "rel"
horizon = 60
replicates = 2
[record]
every = 5
[env]
id = "olearn/ContextualBandit-v0"
kwargs = { arms = 3, dim = 4 }
[[agents]]
label = "linucb"
id = "olearn/LinUCB-v0"
"""

TWO_ARMS = """
import gymnasium as gym, numpy as np

class TwoArms(gym.Env):
    def __init__(self, reward="0.5"):
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.reward = reward
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.ones(1, dtype=np.float32), {}
    def step(self, action):
        info = {"oracle": {"regret": 0.0}}
        return np.ones(1, dtype=np.float32), self.reward, False, False, info
"""


@pytest.fixture
def spec(tmp_path) -> Path:
    p = tmp_path / "spec.toml"
    p.write_text(SPEC)
    return p


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def one_line(res, code: int, *needles: str) -> str:
    assert res.exit_code == code, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert "Traceback" not in res.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# --- item 7: no silent precedence -------------------------------------------------------------
def test_a_flag_and_a_set_of_the_same_field_conflict(spec):
    res = run("simulate", spec, "--out", "o", "-q", "--set", "horizon=200", "--horizon", "300")
    one_line(res, 2, "--horizon", "--set horizon", "give only one")
    assert not Path("o").exists()


def test_record_every_and_log_on_the_command_line_conflict(spec):
    res = run("simulate", spec, "--out", "o", "-q", "--record-log", "20", "--record-every", "5")
    one_line(res, 2, "record.every and record.log")
    res = run("simulate", spec, "--out", "o", "-q", "--set", "record.log=20", "--record-every", "5")
    one_line(res, 2, "record.every and record.log")


@pytest.mark.parametrize("args", [["--set", "record.log=20"], ["--record-log", "20"]])
def test_log_on_the_command_line_replaces_every_of_the_file(spec, args):
    res = run("simulate", spec, "--out", "o", "-q", "--no-plot", *args)
    assert res.exit_code == 0, res.output
    record = tomllib.loads(Path("o/spec.toml").read_text())["record"]
    assert record == {"log": 20}


def test_the_later_of_two_sets_wins(spec):
    res = run("simulate", spec, "--out", "o", "-q", "--no-plot", "--set", "horizon=40",
              "--set", "horizon=50")
    assert res.exit_code == 0, res.output
    assert tomllib.loads(Path("o/spec.toml").read_text())["horizon"] == 50


# --- item 8: accepted silently ----------------------------------------------------------------
@pytest.mark.parametrize(("args", "needles"), [
    (["--set", "agents.linucb.kwargs.alpha=inf"], ["alpha must be a finite number", "inf"]),
    (["--set", "agents.linucb.kwargs.alpha=nan"], ["alpha must be a finite number"]),
    (["--delay", "60"], ["delay (60) must be below horizon (60)"]),
    (["--device", "cpu:1"], ["device must be", "cpu:1"]),
])
def test_bad_values_are_refused_before_the_run(spec, args, needles):
    one_line(run("simulate", spec, "--out", "o", "-q", *args), 2, *needles)
    assert not Path("o").exists()


def test_a_string_reward_from_a_plug_in_fails_the_run(spec, tmp_path):
    (tmp_path / "two_arms.py").write_text(TWO_ARMS)
    res = run("simulate", spec, "--out", "o", "-q", "--no-plot", "--set",
              "env.id='two_arms.py:TwoArms'", "--set", "env.kwargs={}")
    assert res.exit_code != 0
    assert "reward of type str" in res.output, res.output


# --- item 9: plug-in files resolve against the spec's folder -----------------------------------
def test_a_relative_plug_in_path_resolves_against_the_spec_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "two_arms.py").write_text(TWO_ARMS)
    (folder / "spec.toml").write_text(
        SPEC.replace('"olearn/ContextualBandit-v0"', '"two_arms.py:TwoArms"')
        .replace("kwargs = { arms = 3, dim = 4 }", "kwargs = { reward = 0.5 }"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    res = run("simulate", folder / "spec.toml", "--out", "o", "-q", "--no-plot")
    assert res.exit_code == 0, res.output
    env_id = tomllib.loads(Path("o/spec.toml").read_text())["env"]["id"]
    assert env_id == f"{(folder / 'two_arms.py').resolve()}:TwoArms"
    monkeypatch.chdir(tmp_path)   # the written spec runs from anywhere
    res = run("simulate", elsewhere / "o" / "spec.toml", "--out", "again", "-q", "--no-plot")
    assert res.exit_code == 0, res.output


# --- item 12: gymnasium ids without a namespace --------------------------------------------------
def test_a_gymnasium_id_without_namespace_is_an_id():
    res = run("check", "env", "CartPole-v1")
    assert "expected 'module:Class'" not in res.output
    assert "unknown env" not in res.output


# --- item 6: one exit-code rule ----------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["check", "env", "olearn/Nope-v0"],
    ["check", "env", "olearn/ContextualBandit-v0", "--kw", "armz=3"],
    ["check", "agent", "olearn/Nope-v0", "--env", "olearn/ContextualBandit-v0"],
    ["check", "agent", "olearn/LinUCB-v0", "--env", "olearn/ContextualBandit-v0",
     "--kw", "alpah=1"],
])
def test_check_with_an_unknown_id_or_keyword_is_bad_input(args):
    one_line(run(*args), 2)



def test_a_key_without_value_is_a_usage_error():
    res = run("check", "env", "olearn/ContextualBandit-v0", "--kw", "arms")
    assert res.exit_code == 2 and "key=value" in res.output and "run failed" not in res.output


def test_a_plug_in_that_fails_to_import_is_bad_input_with_its_file_and_line(spec, tmp_path):
    (tmp_path / "broken.py").write_text("x = 1\nraise RuntimeError('boom at import')\n")
    res = run("simulate", spec, "--out", "o", "-q", "--set", "env.id='broken.py:Env'")
    line = one_line(res, 2, "failed to import", "RuntimeError: boom at import")
    assert "broken.py:2" in line
    assert not Path("o").exists()


def test_a_damaged_meta_json_is_named(spec):
    assert run("simulate", spec, "--out", "o", "-q", "--no-plot").exit_code == 0
    Path("o/meta.json").write_text("{not json")
    one_line(run("show", "o"), 2, "o/meta.json", "damaged")


# --- item 11: olearn check names what is wrong ---------------------------------------------------
NAN_ENV = """
import gymnasium as gym, numpy as np

class NanAtOne(gym.Env):
    def __init__(self, where="reward"):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.where = where
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}
    def step(self, action):
        obs = np.full(1, np.nan if self.where == "obs" else 0.0, dtype=np.float32)
        reward = float("nan") if self.where == "reward" else 0.0
        if self.where == "raise":
            raise RuntimeError("step exploded")
        return obs, reward, False, False, {"oracle": {"regret": 0.0}}
"""


@pytest.mark.parametrize(("where", "needle"), [
    ("reward", "round 1: the reward of replicate 0 is nan"),
    ("obs", "round 1"),
    ("raise", "step exploded"),
])
def test_check_env_names_nan_and_raising_steps(tmp_path, where, needle):
    (tmp_path / "nan_env.py").write_text(NAN_ENV)
    res = run("check", "env", f"{tmp_path / 'nan_env.py'}:NanAtOne", "--kw", f"where='{where}'")
    assert res.exit_code == 1, res.output
    assert needle in res.output and "deterministic" not in res.output, res.output


# --- item 10: Discrete(n, start=k) --------------------------------------------------------------
SHIFTED = """
import gymnasium as gym, numpy as np

class Shifted(gym.Env):
    def __init__(self):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(3, start=1)
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, dtype=np.float32), {}
    def step(self, action):
        return np.zeros(2, dtype=np.float32), 0.0, False, False, {"oracle": {"regret": 0.0}}
"""


def test_built_in_agents_refuse_a_discrete_space_not_starting_at_zero(tmp_path):
    (tmp_path / "shifted.py").write_text(SHIFTED)
    res = run("check", "agent", "olearn/LinUCB-v0", "--env", f"{tmp_path / 'shifted.py'}:Shifted")
    one_line(res, 2, "Discrete(n) starting at 0", "start=1")


# --- item 13: record.log = N records N distinct rounds -------------------------------------------
@pytest.mark.parametrize(("horizon", "n"), [(20, 20), (100, 100), (5000, 500), (200_000, 100)])
def test_log_schedule_records_exactly_n_rounds(horizon, n):
    from olearn.trace import schedule

    rounds = schedule(horizon, log=n)
    assert len(rounds) == n and len(set(rounds.tolist())) == n
    assert rounds[0] == 1 and rounds[-1] == horizon


def test_check_env_names_a_string_reward(tmp_path):
    (tmp_path / "two_arms.py").write_text(TWO_ARMS)
    res = run("check", "env", f"{tmp_path / 'two_arms.py'}:TwoArms")
    assert res.exit_code == 1 and "reward of type str" in res.output, res.output


# --- item 8: too many replicates -----------------------------------------------------------------
def test_running_out_of_memory_while_building_is_bad_input(spec):
    from olearn.agents.bandits.baselines import Uniform
    from olearn.registry import register_agent

    class Hungry(Uniform):
        def reset(self, *, seeds, device):
            raise MemoryError

    register_agent("test/Hungry-v0", Hungry)
    res = run("simulate", spec, "--out", "o", "-q", "--set", "agents.0.id='test/Hungry-v0'")
    one_line(res, 2, "2 replicates need more memory", "lower --replicates")
    assert not Path("o").exists()


def test_too_many_replicates_are_refused_before_allocating(spec, monkeypatch):
    import olearn.memory

    monkeypatch.setattr(olearn.memory, "available", lambda device: 64 << 20)   # 64 MiB
    res = run("simulate", spec, "--out", "o", "-q", "--replicates", "100000")
    one_line(res, 2, "100000 replicates need about", "GiB", "lower --replicates to at most")
    assert not Path("o").exists()
