"""The sweep driver: expand and validate the grid, take the directory, run what is unfinished.

Examples
--------
>>> import tempfile
>>> base = {"name": "doc", "horizon": 50, "replicates": 2,
...         "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 3, "dim": 4}},
...         "agents": [{"label": "ucb", "id": "olearn/LinUCB-v0"}]}
>>> result = run_sweep(base, {"agents.ucb.kwargs.alpha": [0.5, 2.0]},
...                    out=tempfile.mkdtemp() + "/sweep", workers=1, quiet=True)
>>> [row["status"] for row in result.rows]
['complete', 'complete']
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from olearn.errors import UsageError
from olearn.progress import watching
from olearn.sweep import grid as _grid
from olearn.sweep import sweepdir
from olearn.sweep.task import summarize

__all__ = ["SweepResult", "cpu_count", "plan", "run_sweep"]


@dataclass
class SweepResult:
    out: Path
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] == "failed"]


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # not Linux
        return os.cpu_count() or 1


def plan(tasks: int, workers: int | None) -> tuple[int, int]:
    """``(workers, threads per worker)`` with ``workers × threads ≤ cores``.

    >>> plan(36, 2)[0], plan(1, None)[0] >= 1
    (2, True)
    """
    cores = cpu_count()
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be a positive integer, got {workers}")
    n = max(1, min(workers or cores, tasks))
    return n, max(1, cores // n)


def run_sweep(base: dict[str, Any], grid: dict[str, list[Any]], *, out: str | Path,
              backend: str = "local", address: str | None = None, workers: int | None = None,
              resume: bool = False, force: bool = False, quiet: bool = False) -> SweepResult:
    """Run every unfinished task of ``grid`` over the run spec ``base`` into ``out``.

    Every task is validated before any starts. Complete tasks are never rewritten; with
    ``resume`` the others run again (interrupted ones from their checkpoints, failed ones from
    the start of the failed agent). Returns the rows of the index.
    """
    if backend not in ("local", "ray"):
        raise UsageError(f"--backend must be 'local' or 'ray', got {backend!r}")
    if address is not None and backend != "ray":
        raise UsageError("--address is for --backend ray; add --backend ray")
    plan(1, workers)   # a bad --workers fails before anything is written
    if backend == "ray":
        from olearn.sweep.backends import ray_module

        ray_module()
    grid = _grid.check_grid(grid)
    tasks = _grid.expand(base, grid)
    if backend == "local":   # the pool's fork server imports while the grid is validated
        from olearn.sweep.backends import start_local, task_modules

        cpu = any(not str(t.spec.get("device", "auto")).startswith("cuda") for t in tasks)
        start_local(task_modules(t.spec for t in tasks), kernels=cpu)
    _grid.validate(tasks)
    out = Path(out)
    definition = {"digest": _grid.digest(base, grid), "base": base,
                  "grid": [[k, v] for k, v in grid.items()],
                  "tasks": [{"task": t.name, "values": t.values} for t in tasks],
                  "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
    lock = sweepdir.prepare(out, definition, force=force, resume=resume)
    rows: dict[str, dict[str, Any]] = {
        t.name: {"task": t.name, "values": t.values, "status": "pending", "error": None,
                 "seconds": None, "summary": None} for t in tasks}
    keys = list(grid)
    result = SweepResult(out, list(rows.values()))
    try:
        for t in tasks:
            if sweepdir.task_status(out / t.name) == "complete":
                rows[t.name].update(status="complete", summary=summarize(out / t.name))
        todo = sorted((t for t in tasks if rows[t.name]["status"] != "complete"),
                      key=lambda t: -t.cost())
        sweepdir.write_index(out, result.rows, keys)
        n, threads = plan(len(todo), workers)
        here = out.resolve()   # workers (Ray's included) may run in another directory
        payloads = [{"out": str(here / t.name), "log": str(here / "logs" / f"{t.name}.log"),
                     "spec": t.spec, "threads": threads} for t in todo]
        progress = _Progress(len(tasks), len(tasks) - len(todo), enabled=not quiet)

        def on_start(p: dict[str, Any]) -> None:
            rows[Path(p["out"]).name]["status"] = "running"
            progress.update(rows)

        def on_done(p: dict[str, Any], r: dict[str, Any]) -> None:
            rows[r["task"]].update({k: r[k] for k in ("status", "error", "seconds", "summary")})
            sweepdir.write_index(out, result.rows, keys)
            progress.finished(r, rows)

        try:
            if not todo:
                pass
            elif backend == "local":
                from olearn.sweep.backends import run_local

                run_local(payloads, workers=n, threads=threads, on_start=on_start,
                          on_done=on_done)
            else:
                from olearn.sweep.backends import run_ray

                run_ray(payloads, address=address, workers=n, threads=threads,
                        on_start=on_start, on_done=on_done)
        finally:
            progress.stop()
            for row in result.rows:   # a task still running here was interrupted
                if row["status"] == "running":
                    row["status"] = "pending"
            sweepdir.write_index(out, result.rows, keys)
    finally:
        lock.release()
    return result


class _Progress:
    """One bar for the sweep on a terminal (done, running, failed, ETA); on a pipe one line per
    finished task; nothing when quiet."""

    def __init__(self, total: int, done: int, *, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.task: Any = None
        if enabled and watching():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.description}"), TimeRemainingColumn(),
                                transient=True)
            self.bar.start()
            self.task = self.bar.add_task("", total=total, completed=done)

    def update(self, rows: dict[str, dict[str, Any]]) -> None:
        if self.bar is not None:
            states = [r["status"] for r in rows.values()]
            done = sum(s in ("complete", "failed") for s in states)
            self.bar.update(self.task, completed=done,
                            description=f"running {states.count('running')}, "
                                        f"failed {states.count('failed')}")

    def finished(self, result: dict[str, Any], rows: dict[str, dict[str, Any]]) -> None:
        self.update(rows)
        if self.enabled and self.bar is None:
            secs = f" in {result['seconds']:.1f} s" if result.get("seconds") is not None else ""
            err = f": {result['error']}" if result.get("error") else ""
            print(f"{result['task']} {result['status']}{secs}{err}", file=sys.stderr)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
