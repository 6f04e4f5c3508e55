"""The sweep directory: one ordinary run directory per task, the definition and the index::

    SWEEP/.olearn-sweep     marker: {"format": 1, "olearn": <version>}
    SWEEP/.lock             held by the driver for its whole life (one driver per sweep)
    SWEEP/sweep.json        base spec, grid, digest and the grid values of every task
    SWEEP/index.parquet     one row per task: grid values, status, error, seconds, summary
    SWEEP/task-NNNN/        a run directory (``olearn show`` / ``olearn plot`` work on it)
    SWEEP/logs/task-NNNN.log  what the task printed

Only the driver writes ``sweep.json`` and the index; workers write only their task's run
directory and log, so a sweep directory on a filesystem every node mounts serves a cluster.
Task status comes from the task's own ``meta.json`` (``complete``, ``failed``, ``interrupted``):
the index is a summary a killed driver may leave stale, and is rebuilt from the task
directories on every start.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import polars as pl

from olearn import rundir
from olearn.errors import RunExistsError, SpecError

__all__ = ["INDEX", "MARKER", "is_sweep", "prepare", "read_definition", "task_status",
           "write_index"]

MARKER = ".olearn-sweep"
DEFINITION = "sweep.json"
INDEX = "index.parquet"
_OURS = {MARKER, rundir.LOCK, DEFINITION, INDEX, "logs", "sweep.png"}


def is_sweep(path: str | Path) -> bool:
    return (Path(path) / MARKER).is_file()


def read_definition(out: str | Path) -> dict[str, Any]:
    path = Path(out) / DEFINITION
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"{out} is not a sweep directory (no {DEFINITION})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SpecError(f"{path} is damaged (not valid JSON: {e})") from None
    return data


def prepare(out: Path, definition: dict[str, Any], *, force: bool, resume: bool,
            ) -> rundir.RunLock:
    """Take ``out`` for a sweep and write its definition; returns the driver's lock.

    Refuses to overwrite without ``force``, to resume a different sweep, and to ``--force`` a
    directory holding anything a sweep does not write.
    """
    from olearn import __version__

    if out.exists() and not out.is_dir():
        raise SpecError(f"--out {out} exists and is not a directory; choose a directory path")
    out.mkdir(parents=True, exist_ok=True)
    lock = rundir.RunLock(out)
    try:
        entries = [p for p in out.iterdir() if p.name != rundir.LOCK]
        if entries and resume:
            if not is_sweep(out):
                raise SpecError(f"cannot resume {out}: it is not a sweep directory")
            if read_definition(out).get("digest") != definition["digest"]:
                raise SpecError(f"cannot resume {out}: it was made from a different sweep spec "
                                "or grid; use the same ones, or --force to start over")
            return lock
        if entries:
            if not force:
                raise RunExistsError(f"sweep directory {out} already exists; pass --resume to "
                                     "continue that sweep or --force to overwrite it")
            _clear(out)
        (out / MARKER).write_text(json.dumps({"format": 1, "olearn": __version__}) + "\n")
        _atomic(out / DEFINITION, json.dumps(definition, indent=2, default=str))
        return lock
    except BaseException:
        lock.release()
        raise


def _clear(out: Path) -> None:
    if not is_sweep(out):
        raise SpecError(f"refusing to --force-overwrite {out}: it has no {MARKER} marker, so "
                        "olearn cannot prove it wrote it; remove it yourself or choose another "
                        "--out")
    foreign = [p.name for p in out.iterdir() if p.name.removesuffix(".tmp") not in _OURS
               and not (p.is_dir() and p.name.startswith("task-"))]
    for p in out.glob("task-*"):
        if rundir.holder(p) is not None:
            raise SpecError(f"refusing to --force-overwrite {out}: {p.name} is being run by "
                            f"process {rundir.holder(p)}")
        foreign += [f"{p.name}/{f}" for f in rundir.foreign_entries(p)]
    if foreign:
        raise SpecError(f"refusing to --force-overwrite {out}: it holds files olearn did not "
                        f"write ({', '.join(foreign[:8])}); move them away or choose another "
                        "--out")
    for p in out.iterdir():
        if p.name != rundir.LOCK:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


def task_status(task_dir: Path) -> str:
    """``pending`` (never started), ``complete``, ``failed``, ``interrupted`` or ``running``."""
    if not (task_dir / "meta.json").is_file():
        return "pending"
    return rundir.status(task_dir)


def write_index(out: Path, rows: list[dict[str, Any]], keys: list[str]) -> None:
    """Write ``index.parquet`` atomically: one row per task, a column per grid key."""
    columns: dict[str, pl.Series] = {"task": pl.Series([r["task"] for r in rows], dtype=pl.String)}
    for key in keys:
        values = [r["values"][key] for r in rows]
        try:
            columns[key] = pl.Series(values, strict=False)
        except (TypeError, pl.exceptions.PolarsError):
            columns[key] = pl.Series([json.dumps(v) for v in values])
        if columns[key].dtype == pl.Null or columns[key].null_count() > sum(
                v is None for v in values):
            columns[key] = pl.Series([json.dumps(v) for v in values])
    for col, dtype in (("status", pl.String), ("error", pl.String), ("seconds", pl.Float64)):
        columns[col] = pl.Series([r.get(col) for r in rows], dtype=dtype)
    summary_type = pl.List(pl.Struct({"agent": pl.String, "t": pl.Int64, "mean": pl.Float64,
                                      "ci95": pl.Float64, "replicates": pl.Int64}))
    columns["summary"] = pl.Series([r.get("summary") or [] for r in rows], dtype=summary_type)
    tmp = out / (INDEX + ".tmp")
    pl.DataFrame(columns).write_parquet(tmp)
    os.replace(tmp, out / INDEX)


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
