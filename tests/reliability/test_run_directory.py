"""Nothing lost, nothing silent: --force, one writer per run directory, honest status, failures.

Each test is a failing case of the reliability review (issue 13, items 1-6).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import olearn
from olearn.cli import main
from olearn.errors import SpecError
from olearn.trace import IncompleteRunWarning

SPEC = """
name = "dir"
horizon = {horizon}
replicates = 2
checkpoint_seconds = 0.2
[record]
every = 1
chunk = 64
[env]
id = "olearn/ContextualBandit-v0"
kwargs = {{ arms = 3, dim = 4 }}
[[agents]]
label = "uniform"
id = "olearn/Uniform-v0"
[[agents]]
label = "egreedy"
id = "olearn/EpsilonGreedy-v0"
"""


@pytest.fixture
def spec(tmp_path) -> Path:
    p = tmp_path / "spec.toml"
    p.write_text(SPEC.format(horizon=200))
    return p


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def cli(*args: str | Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "olearn.cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


# --- item 1: --force removes only what olearn provably wrote -------------------------------------
def test_force_refuses_a_directory_that_only_has_a_meta_json(spec):
    other = Path("other_tool")
    (other / "models").mkdir(parents=True)
    (other / "meta.json").write_text('{"model": "bert"}')
    (other / "models" / "w.bin").write_bytes(b"weights")
    res = run("simulate", spec, "--out", other, "--force", "-q")
    assert res.exit_code == 2 and "cannot prove it wrote it" in res.output, res.output
    assert (other / "models" / "w.bin").read_bytes() == b"weights"


def test_force_refuses_a_run_directory_holding_foreign_files(spec):
    assert run("simulate", spec, "--out", "o", "-q", "--no-plot").exit_code == 0
    Path("o/notes.txt").write_text("mine")
    Path("o/trace/agent=uniform/extra.csv").write_text("1,2")
    res = run("simulate", spec, "--out", "o", "--force", "-q")
    assert res.exit_code == 2 and "notes.txt" in res.output and "extra.csv" in res.output
    assert Path("o/notes.txt").read_text() == "mine"
    Path("o/notes.txt").unlink()
    Path("o/trace/agent=uniform/extra.csv").unlink()
    assert run("simulate", spec, "--out", "o", "--force", "-q", "--no-plot").exit_code == 0


# --- item 2: one writer per run directory --------------------------------------------------------
def test_a_second_writer_is_refused_while_the_first_runs(tmp_path):
    spec = tmp_path / "long.toml"
    spec.write_text(SPEC.format(horizon=400_000))
    first = cli("simulate", spec, "--out", "conc", "-q", "--no-plot", cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "conc" / "meta.json").is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        second = cli("simulate", spec, "--out", "conc", "--force", "-q", "--no-plot", cwd=tmp_path)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 2, err
        assert f"in use by process {first.pid}" in err and len(err.strip().splitlines()) == 1
        assert first.poll() is None   # the first writer was not disturbed
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)


# --- item 4: honest status after SIGTERM and SIGKILL ----------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_run_says_so_and_resumes(tmp_path, sig):
    spec = tmp_path / "long.toml"
    spec.write_text(SPEC.format(horizon=20_000))
    proc = cli("simulate", spec, "--out", "k", "-q", "--no-plot", cwd=tmp_path)
    part = tmp_path / "k" / "checkpoints" / "uniform.pt"
    deadline = time.monotonic() + 120
    while not part.is_file() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    out = tmp_path / "k"
    meta = json.loads((out / "meta.json").read_text())
    if sig == signal.SIGTERM:
        assert proc.returncode == 1 and "interrupted" in err
        assert meta["status"] == "interrupted"
    else:
        assert meta["status"] == "running"        # it could not say anything...
    res = run("show", out)                         # ...but show and load can tell
    assert res.exit_code == 0 and "status=interrupted" in res.output
    assert "uniform at t = " in res.output and "--resume" in res.output
    with pytest.warns(IncompleteRunWarning, match="interrupted"):
        olearn.load(out)
    res = run("simulate", out / "spec.toml", "--out", out, "--resume", "-q", "--no-plot")
    assert res.exit_code == 0, res.output
    df = olearn.load(out).collect()
    assert df.group_by("agent").agg(pl.col("t").max())["t"].to_list() == [20_000, 20_000]
    assert df.height == 2 * 2 * 20_000


def test_show_marks_agents_at_different_rounds(spec):
    assert run("simulate", spec, "--out", "o", "-q", "--no-plot").exit_code == 0
    meta = json.loads(Path("o/meta.json").read_text())
    meta["status"] = "interrupted"
    Path("o/meta.json").write_text(json.dumps(meta))
    for part in Path("o/trace/agent=egreedy").glob("part-*.parquet"):   # stopped at t = 100
        pl.read_parquet(part).filter(pl.col("t") <= 100).write_parquet(part)
    res = run("show", "o")
    assert "egreedy at t = 100" in res.output and "100*" in res.output
    assert "not at T = 200" in res.output


# --- item 5: failures say where, and a failure before round 1 leaves nothing ----------------------
FAILING = """
import gymnasium as gym, numpy as np

class Fails(gym.Env):
    def __init__(self, when="step"):
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.when, self.t = when, 0
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if self.when == "reset":
            raise RuntimeError("boom in reset")
        return np.ones(1, dtype=np.float32), {}
    def step(self, action):
        self.t += 1
        if self.t == 50:
            raise RuntimeError("boom at round 50")
        return np.ones(1, dtype=np.float32), 0.0, False, False, {"oracle": {"regret": 0.0}}
"""


def test_a_plug_in_failing_mid_run_names_its_line_and_the_log(spec, tmp_path):
    (tmp_path / "fails.py").write_text(FAILING)
    res = run("simulate", spec, "--out", "o", "-q", "--no-plot",
              "--set", "env.id='fails.py:Fails'", "--set", "env.kwargs={}")
    assert res.exit_code == 1
    line = res.output.strip()
    assert "RuntimeError: boom at round 50" in line and "fails.py:17" in line, line
    assert "o/error.log" in line and "boom at round 50" in Path("o/error.log").read_text()
    assert json.loads(Path("o/meta.json").read_text())["status"] == "failed"


def test_a_plug_in_failing_before_round_one_leaves_nothing(spec, tmp_path):
    (tmp_path / "fails.py").write_text(FAILING)
    res = run("simulate", spec, "--out", "o", "-q", "--set", "env.id='fails.py:Fails'",
              "--set", "env.kwargs={when='reset'}")
    assert res.exit_code == 2 and "boom in reset" in res.output and "fails.py:12" in res.output
    assert not Path("o").exists()


# --- item 6: unusable --out and damaged files are bad input, named --------------------------------
@pytest.mark.parametrize("out", ["/dev/null", "/proc/olearn-x", "afile/sub"])
def test_an_unusable_out_is_bad_input(spec, out):
    Path("afile").write_text("x")
    res = run("simulate", spec, "--out", out, "-q")
    assert res.exit_code == 2 and "--out" in res.output and "run failed" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_a_truncated_part_is_named(spec):
    assert run("simulate", spec, "--out", "o", "-q", "--no-plot").exit_code == 0
    part = sorted(Path("o/trace/agent=uniform").glob("part-*.parquet"))[0]
    part.write_bytes(part.read_bytes()[:100])
    res = run("show", "o")
    assert res.exit_code == 2 and str(part) in res.output and "damaged" in res.output
    with pytest.raises(olearn.errors.UsageError, match="damaged or truncated"):
        olearn.load("o")


def test_python_api_refuses_a_foreign_directory_too():
    Path("data").mkdir()
    (Path("data") / "keep.txt").write_text("keep")
    with pytest.raises(SpecError, match="cannot prove"):
        olearn.simulate({"name": "x", "horizon": 10, "env": {"id": "olearn/ContextualBandit-v0"},
                         "agents": [{"label": "u", "id": "olearn/Uniform-v0"}]},
                        out="data", force=True, quiet=True)
    assert (Path("data") / "keep.txt").read_text() == "keep"
    assert sorted(os.listdir("data")) == ["keep.txt"]


# --- item 3: non-finite observations from a plug-in -----------------------------------------------
NAN_CONTEXT = """
import gymnasium as gym, numpy as np

class NanContext(gym.Env):
    def __init__(self):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (4,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(3)
        self.t = 0
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(4, dtype=np.float32), {}
    def step(self, action):
        self.t += 1
        obs = np.full(4, np.nan if self.t == 50 else 0.1, dtype=np.float32)
        return obs, 0.0, False, False, {"oracle": {"regret": 0.0}}
"""


def test_a_nan_observation_fails_the_run_naming_round_and_replicate(spec, tmp_path):
    (tmp_path / "nan_context.py").write_text(NAN_CONTEXT)
    res = run("simulate", spec, "--out", "o", "-q", "--no-plot", "--record-every", "1",
              "--set", "env.id='nan_context.py:NanContext'", "--set", "env.kwargs={}",
              "--set", "record.chunk=10")
    assert res.exit_code == 1, res.output
    assert "non-finite observation" in res.output and "between rounds 41 and 50" in res.output
    assert "replicate 0" in res.output
