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

import olearn
from olearn.errors import RunExistsError, SpecError

SPEC = {"name": "r", "horizon": 300, "replicates": 4, "seed": 3,
        "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 4, "dim": 5}},
        "agents": [{"label": "linucb", "id": "olearn/LinUCB-v0"},
                   {"label": "eg", "id": "olearn/EpsilonGreedy-v0"}]}


def _frame(out) -> pl.DataFrame:
    return olearn.load(out).collect().sort("agent", "replicate", "t")


def test_run_directory_layout_and_schema():
    r = olearn.simulate(SPEC, quiet=True, out="run")
    assert (Path("run") / "spec.toml").is_file()
    meta = json.loads(Path("run/meta.json").read_text())
    assert meta["status"] == "complete" and meta["replicates"] == [0, 1, 2, 3]
    assert set(meta["agents"]) == {"linucb", "eg"} and "torch" in meta["versions"]
    df = _frame(r.out)
    assert df.columns[:6] == ["agent", "replicate", "t", "regret", "reward", "cum_reward"]
    assert df.schema["t"] == pl.Int64 and df.schema["regret"] == pl.Float64
    assert df.height == 2 * 4 * 300
    steps = df.group_by("agent", "replicate").agg(pl.col("regret").diff().min())["regret"]
    assert (steps >= -1e-12).all()
    # the resolved spec reproduces the run
    again = olearn.simulate(olearn.RunSpec.from_toml("run/spec.toml"), quiet=True, out="again")
    assert _frame(again.out).equals(df)


def test_same_spec_same_trace_and_seed_changes_it():
    a = _frame(olearn.simulate(SPEC, quiet=True, out="a").out)
    b = _frame(olearn.simulate(SPEC, quiet=True, out="b").out)
    c = _frame(olearn.simulate({**SPEC, "seed": 4}, quiet=True, out="c").out)
    assert a.equals(b)
    assert not a["regret"].equals(c["regret"])


def test_replicate_rerun_alone_matches_large_run():
    big = _frame(olearn.simulate({**SPEC, "replicates": 20}, quiet=True, out="big").out)
    alone = _frame(olearn.simulate({**SPEC, "replicates": 1, "first_replicate": 17}, quiet=True,
                                   out="alone").out)
    assert alone["replicate"].unique().to_list() == [17]
    ref = big.filter(pl.col("replicate") == 17)
    for col in ("regret", "reward"):
        assert alone[col].to_list() == pytest.approx(ref[col].to_list(), rel=1e-9, abs=1e-9)


def test_log_schedule_records_T():
    r = olearn.simulate({**SPEC, "record": {"log": 10}}, quiet=True, out="log")
    ts = sorted(_frame(r.out)["t"].unique().to_list())
    assert ts[0] == 1 and ts[-1] == 300 and len(ts) <= 10


def test_existing_run_is_never_overwritten_without_force():
    olearn.simulate(SPEC, quiet=True, out="x")
    before = Path("x/meta.json").read_text()
    with pytest.raises(RunExistsError, match="--resume .* --force"):
        olearn.simulate(SPEC, quiet=True, out="x")
    assert Path("x/meta.json").read_text() == before
    Path("notarun").mkdir()
    (Path("notarun") / "precious.txt").write_text("keep")
    with pytest.raises(SpecError, match="cannot prove it wrote it"):
        olearn.simulate(SPEC, quiet=True, out="notarun", force=True)
    assert (Path("notarun") / "precious.txt").read_text() == "keep"
    olearn.simulate(SPEC, quiet=True, out="x", force=True)


def test_resume_with_another_spec_is_refused():
    olearn.simulate(SPEC, quiet=True, out="x")
    with pytest.raises(SpecError, match="different spec"):
        olearn.simulate({**SPEC, "seed": 9}, quiet=True, out="x", resume=True)


KILL_SPEC = """
name = "kill"
horizon = 12000
replicates = 3
seed = 1
checkpoint_seconds = 0
[record]
every = 1
chunk = 500
[env]
id = "olearn/ContextualBandit-v0"
kwargs = {{ arms = 3, dim = 4 }}
[[agents]]
label = "eg"
id = "olearn/EpsilonGreedy-v0"
[[agents]]
label = "linucb"
id = "olearn/LinUCB-v0"
"""


def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path):
    spec_path = tmp_path / "kill.toml"
    spec_path.write_text(KILL_SPEC.format())
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "olearn.cli", "simulate", str(spec_path),
                             "--out", str(out), "--quiet", "--no-plot"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    parts = out / "trace" / "agent=eg"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(parts.glob("part-*.parquet"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(list(parts.glob("part-*.parquet"))) >= 3, "the run ended before it could be killed"
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "running"
    partial = olearn.load(out).collect()  # every written part is readable
    assert 0 < partial.height < 2 * 3 * 12000
    olearn.simulate(spec_path, out=out, resume=True, quiet=True)
    assert json.loads((out / "meta.json").read_text())["status"] == "complete"
    full = olearn.simulate(spec_path, out=tmp_path / "clean", quiet=True)
    assert _frame(out).equals(_frame(full.out))


class _Unpicklable:
    """A batched agent that cannot be pickled (it holds a lambda)."""

    vectorized = True

    def __init__(self, observation_space, action_space):
        self.fn = lambda x: x

    def reset(self, *, seeds, device):
        import torch

        self.r = len(seeds)
        self.zeros = torch.zeros(self.r, dtype=torch.long)

    def act(self, obs):
        return self.zeros, {}

    def update(self, step):
        pass


def test_unpicklable_plugin_runs_without_checkpoints(capsys):
    olearn.register_agent("test/Unpicklable-v0", _Unpicklable)
    spec = {**SPEC, "checkpoint_seconds": 0, "record": {"every": 1, "chunk": 50},
            "agents": [{"label": "u", "id": "test/Unpicklable-v0"}]}
    r = olearn.simulate(spec, quiet=True, out="unpicklable")
    assert r.meta["status"] == "complete"
    assert "cannot checkpoint agent u" in capsys.readouterr().err
    assert not (Path("unpicklable") / "checkpoints" / "u.pt.tmp").exists()


def test_the_threads_cap_holds_for_torch_during_the_run():
    """numba's set_num_threads resets torch's OpenMP threads: the cap must survive it."""
    import torch

    from olearn.agents.bandits.baselines import Uniform
    from olearn.registry import register_agent

    seen: list[int] = []

    class Counting(Uniform):
        def act(self, obs):
            seen.append(torch.get_num_threads())
            return super().act(obs)

    register_agent("test/CountThreads-v0", Counting)
    torch.set_num_threads(2)
    spec = {"name": "threads", "horizon": 5, "replicates": 2, "threads": 1,
            "env": {"id": "olearn/ContextualBandit-v0"},
            "agents": [{"label": "u", "id": "test/CountThreads-v0"},
                       {"label": "lin", "id": "olearn/LinUCB-v0"}]}
    olearn.simulate(spec, out="threads", quiet=True)
    assert seen == [1] * 5
    assert torch.get_num_threads() == 2   # restored after the run


def test_a_run_that_leaves_the_thread_counts_alone_does_not_change_them():
    """threads = 0 and kernel_threads = 0 mean "as they are": the restore at the end of the
    run used to set numba's count to torch's, leaving a caller's numba on one thread."""
    import numba
    import torch

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs two cores")
    old_numba, old_torch = numba.get_num_threads(), torch.get_num_threads()
    try:
        numba.set_num_threads(2)
        torch.set_num_threads(1)
        spec = {"name": "as-is", "horizon": 5, "replicates": 2, "threads": 0,
                "kernel_threads": 0, "env": {"id": "olearn/ContextualBandit-v0"},
                "agents": [{"label": "lin", "id": "olearn/LinUCB-v0"}]}
        olearn.simulate(spec, out="as-is", quiet=True)
        assert (numba.get_num_threads(), torch.get_num_threads()) == (2, 1)
    finally:
        numba.set_num_threads(old_numba)
        torch.set_num_threads(old_torch)
