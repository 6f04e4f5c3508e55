"""Sweeps on a real local Ray instance (started here on loopback, no mocks): the same traces as
the local pool, and failures and crashed workers marked per task."""

from __future__ import annotations

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import faulty, write_spec

import olearn
from olearn.cli import main
from olearn.sweep import sweepdir

ray = pytest.importorskip("ray", reason="the ray backend needs olearn[distributed]")
pytestmark = pytest.mark.xdist_group("ray")   # under pytest -n: one worker, one local Ray


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _trace(path):
    return olearn.load(path).collect().sort("task", "agent", "replicate", "t")


def test_ray_gives_the_local_pools_traces(local_ray, spec, tmp_path):
    runner = CliRunner()
    on_ray = runner.invoke(main, ["sweep", str(spec), "--out", "r", "-q", "--backend", "ray"])
    assert on_ray.exit_code == 0, on_ray.output
    local = runner.invoke(main, ["sweep", str(spec), "--out", "l", "-q", "--workers", "2"])
    assert local.exit_code == 0, local.output
    assert _trace(tmp_path / "r").equals(_trace(tmp_path / "l"))
    index = pl.read_parquet(tmp_path / "r" / sweepdir.INDEX)
    assert index["status"].to_list() == ["complete"] * 4


def test_ray_marks_failed_and_crashed_tasks(local_ray, tmp_path):
    spec = write_spec(tmp_path / "f.toml", agents=faulty(),
                      grid='"agents.bad.kwargs.fail_at" = [0, 40]\n'
                           '"agents.bad.kwargs.crash_at" = [0, 30]')
    res = CliRunner().invoke(main, ["sweep", str(spec), "--out", "s", "-q", "--backend", "ray"])
    assert res.exit_code == 1, res.output
    assert "3 of 4 tasks failed" in res.output
    index = pl.read_parquet(tmp_path / "s" / sweepdir.INDEX).sort("task")
    assert index["status"].to_list() == ["complete", "failed", "failed", "failed"]
    errors = index["error"].to_list()
    assert "WorkerCrashedError" in errors[1] or "died" in errors[1], errors[1]
    assert "deliberate failure at round 40" in errors[2]


@pytest.mark.slow
def test_ray_sigkill_driver_then_resume(tmp_path):
    """The driver starts its own Ray; killed, its tasks die with it; --resume runs only the
    unfinished task. One task is held at round 50 until the test lets it go, so it cannot
    finish before the kill, however slowly Ray reaps a dead driver's tasks."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from olearn import rundir

    hold = tmp_path / "hold"
    hold.touch()
    spec = write_spec(tmp_path / "k.toml", agents=faulty(hold=f'"{hold}"'),
                      grid='"agents.bad.kwargs.hold_at" = [0, 50]')
    out = tmp_path / "s"
    driver = subprocess.Popen([sys.executable, "-m", "olearn.cli", "sweep", str(spec), "--out",
                               str(out), "--backend", "ray", "--workers", "2", "-q"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    free, held = out / "task-0000", out / "task-0001"
    deadline = time.monotonic() + 180
    while not (sweepdir.task_status(free) == "complete" and rundir.holder(held) is not None):
        assert driver.poll() is None and time.monotonic() < deadline, "no progress"
        time.sleep(0.1)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    deadline = time.monotonic() + 60   # Ray kills the tasks of a dead driver
    while rundir.holder(held) is not None:
        assert time.monotonic() < deadline, "Ray tasks outlived their driver"
        time.sleep(0.2)
    assert sweepdir.task_status(held) != "complete"
    finished = free.joinpath("meta.json").stat().st_mtime_ns
    hold.unlink()
    res = CliRunner().invoke(main, ["sweep", str(spec), "--out", str(out), "-q", "--resume",
                                    "--backend", "ray"])
    assert res.exit_code == 0, res.output
    assert free.joinpath("meta.json").stat().st_mtime_ns == finished
    assert sweepdir.task_status(held) == "complete"
    os.killpg(driver.pid, signal.SIGKILL) if _alive(driver.pid) else None


def _alive(pid):
    import os

    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True
