"""Sweeps on the local process pool: traces equal plain runs, failures stay in their task,
a killed driver resumes without rewriting finished tasks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import faulty, write_spec

import olearn
from olearn import rundir
from olearn.cli import main
from olearn.runner import simulate
from olearn.spec import RunSpec
from olearn.sweep import sweepdir
from olearn.sweep.grid import expand, read_sweep


def _trace(path: Path) -> pl.DataFrame:
    return olearn.load(path).collect().sort("agent", "replicate", "t")


def _same_as_plain_runs(spec: Path, sweep: Path, tmp: Path) -> None:
    base, grid = read_sweep(spec)
    for task in expand(base, grid):
        plain = simulate(RunSpec.from_dict(task.spec), out=tmp / f"plain-{task.name}", quiet=True)
        assert _trace(sweep / task.name).equals(_trace(plain.out)), task.name


def _mtimes(task: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in task.rglob("*") if p.is_file()
            and p.name != rundir.LOCK}


def test_pool_tasks_equal_plain_runs(spec, tmp_path):
    res = CliRunner().invoke(main, ["sweep", str(spec), "--out", "s", "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert "best configuration per agent" in res.output and "index: s/index.parquet" in res.output
    out = tmp_path / "s"
    _same_as_plain_runs(spec, out, tmp_path)
    index = pl.read_parquet(out / sweepdir.INDEX)
    assert index["status"].to_list() == ["complete"] * 4
    assert index["seed"].to_list() == [0, 1, 0, 1]
    assert index["summary"].list.len().to_list() == [1] * 4
    lf = olearn.load(out)
    df = lf.collect()
    assert {"task", "agents.ucb.kwargs.alpha", "seed"} <= set(df.columns)
    assert df.height == 4 * 2 * 30   # tasks × replicates × recorded rounds
    assert (out / "logs" / "task-0000.log").is_file()
    # each task is an ordinary run directory
    assert CliRunner().invoke(main, ["show", str(out / "task-0001")]).exit_code == 0
    shown = CliRunner().invoke(main, ["show", str(out)])
    assert shown.exit_code == 0 and "4 complete" in shown.output
    plotted = CliRunner().invoke(main, ["plot", str(out), "--x", "agents.ucb.kwargs.alpha"])
    assert plotted.exit_code == 0 and (out / "sweep.png").stat().st_size > 0
    again = CliRunner().invoke(main, ["sweep", str(spec), "--out", "s"])
    assert again.exit_code == 2 and "--resume" in again.output


def test_failed_task_is_marked_others_go_on_and_resume_retries(tmp_path):
    spec = write_spec(tmp_path / "f.toml", agents=faulty(fail_at=0),
                      grid='"agents.bad.kwargs.fail_at" = [0, 40, 500]')
    res = CliRunner().invoke(main, ["sweep", str(spec), "--out", "s", "-q"])
    assert res.exit_code == 1, res.output
    assert "1 of 3 tasks failed" in res.output and "deliberate failure at round 40" in res.output
    out = tmp_path / "s"
    index = pl.read_parquet(out / sweepdir.INDEX)
    assert index["status"].to_list() == ["complete", "failed", "complete"]
    assert "deliberate failure" in index["error"][1]
    assert "deliberate failure" in (out / "logs" / "task-0001.log").read_text()
    shown = CliRunner().invoke(main, ["show", str(out)])
    assert "1 failed" in shown.output and "deliberate" in shown.output
    before = _mtimes(out / "task-0000") | _mtimes(out / "task-0002")
    retry = CliRunner().invoke(main, ["sweep", str(spec), "--out", "s", "-q", "--resume"])
    assert retry.exit_code == 1 and "1 of 3 tasks failed" in retry.output
    assert _mtimes(out / "task-0000") | _mtimes(out / "task-0002") == before


def test_a_crashed_worker_fails_only_its_task(tmp_path):
    spec = write_spec(tmp_path / "c.toml", agents=faulty(crash_at=0),
                      grid='"agents.bad.kwargs.crash_at" = [30, 0, 400]')
    res = CliRunner().invoke(main, ["sweep", str(spec), "--out", "s", "-q", "--workers", "1"])
    assert res.exit_code == 1, res.output
    index = pl.read_parquet(tmp_path / "s" / sweepdir.INDEX)
    assert index["status"].to_list() == ["failed", "complete", "complete"]
    assert "worker process died (exit code 3)" in index["error"][0]


def test_sigkill_driver_then_resume(tmp_path):
    """Tasks 0 and 1 finish; tasks 2 and 3 checkpoint, then wait at round 6,000 for as long as
    the file ``hold`` exists, so the driver is killed while they run, however the tasks are
    timed. Killed, the workers stop their runs as interrupted; --resume finishes 2 and 3 from
    their own checkpoints and leaves 0 and 1 untouched."""
    hold = tmp_path / "hold"
    hold.touch()
    spec = write_spec(tmp_path / "k.toml", horizon=12_000, agents=faulty(hold=f'"{hold}"'),
                      grid='"agents.bad.kwargs.hold_at" = [0, 6000]\nseed = [0, 1]',
                      extra="checkpoint_seconds = 0.3")
    out = tmp_path / "s"
    driver = subprocess.Popen([sys.executable, "-m", "olearn.cli", "sweep", str(spec),
                               "--out", str(out), "--workers", "2", "-q"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tasks = [out / f"task-{i:04d}" for i in range(4)]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:   # one task finished and a held one checkpointed
        done = [t for t in tasks if sweepdir.task_status(t) == "complete"]
        ckpt = [t for t in tasks[2:] if any((t / "checkpoints").glob("*.pt"))]
        if done and ckpt:
            break
        assert driver.poll() is None, driver.stderr.read().decode()
        time.sleep(0.05)
    else:
        pytest.fail("the sweep made no progress")
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    deadline = time.monotonic() + 30   # the workers follow their driver
    while any(rundir.holder(t) is not None for t in tasks if t.exists()):
        assert time.monotonic() < deadline, "workers outlived the driver"
        time.sleep(0.1)
    states = [sweepdir.task_status(t) for t in tasks]
    assert "complete" in states[:2] and "interrupted" in states[2:], states
    finished = {t.name: _mtimes(t) for t in tasks if sweepdir.task_status(t) == "complete"}
    first_parts = {p: p.stat().st_mtime_ns for t in tasks[2:]   # written before a checkpoint
                   for p in (t / "trace").glob("agent=*/part-00000.parquet")
                   if (t / "checkpoints").is_dir() and any((t / "checkpoints").glob("*.pt"))}
    assert first_parts
    hold.unlink()
    res = CliRunner().invoke(main, ["sweep", str(spec), "--out", str(out), "-q", "--resume"])
    assert res.exit_code == 0, res.output
    assert {n: _mtimes(out / n) for n in finished} == finished
    # resumed from their own checkpoints: the trace written before them was kept, not redone
    assert {p: p.stat().st_mtime_ns for p in first_parts} == first_parts
    _same_as_plain_runs(spec, out, tmp_path)


def test_a_task_killed_while_its_directory_was_set_up_runs_again(spec, tmp_path):
    """SIGTERM before the runner's handler is in place leaves the marker and spec.toml but no
    meta.json: --resume starts that task over instead of refusing its directory."""
    res = CliRunner().invoke(main, ["sweep", str(spec), "--out", "s", "-q", "--workers", "1"])
    assert res.exit_code == 0, res.output
    task = tmp_path / "s" / "task-0003"
    (task / "meta.json").unlink()
    for sub in ("trace", "agents"):
        import shutil

        shutil.rmtree(task / sub, ignore_errors=True)
    res = CliRunner().invoke(main, ["sweep", str(spec), "--out", "s", "-q", "--resume"])
    assert res.exit_code == 0, res.output
    assert sweepdir.task_status(task) == "complete"


def test_sweeps_started_from_threads_leave_main_in_place():
    """Starting workers swaps ``__main__`` out for a moment; two threads doing it at once must
    not leave the placeholder behind (a later spawn pool then cannot pickle the caller's
    functions: docs/neural_cb_tune.py hit it)."""
    import threading

    from olearn.sweep.backends import _without_main

    main = sys.modules["__main__"]

    def start():
        with _without_main():
            time.sleep(0.05)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sys.modules["__main__"] is main


def test_the_fork_server_preloads_only_olearns_own_modules():
    from olearn.sweep.backends import task_modules

    specs = [{"env": {"id": "olearn/ContextualBandit-v0"},
              "agents": [{"id": "olearn/LinUCB-v0"}, {"id": "plug.py:Agent"}, {"id": "nope-v9"}]}]
    assert task_modules(specs) == ["olearn.agents.bandits.linear",
                                   "olearn.envs.bandits.contextual"]


def test_the_fork_server_builds_numbas_registries_without_starting_its_threads():
    """numba_warm must do its work (else every worker pays ~1 s again, silently) and must not
    start numba's thread pool, which would make forking from the server unsafe."""
    import subprocess
    import sys

    code = ("import olearn.sweep.numba_warm as w, numba.np.ufunc.parallel as p\n"
            "from numba.core.registry import cpu_target as c\n"
            "assert w.warm(), 'numba internals moved'\n"
            "assert c.target_context._registries, 'registries not built'\n"
            "assert not p._is_initialized, 'numba thread pool started'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
