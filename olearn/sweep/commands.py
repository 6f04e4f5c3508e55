"""What ``olearn sweep``, ``olearn show SWEEP`` and ``olearn plot SWEEP --x KEY`` do (the click
wrappers live in :mod:`olearn.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from olearn.errors import RunFailedError
from olearn.sweep import grid as _grid

__all__ = ["plot", "show", "sweep"]


def sweep(spec: str, *, out: str | None, backend: str, address: str | None,
          workers: int | None, resume: bool, force: bool, dry_run: bool, quiet: bool,
          sets: tuple[str, ...], grids: tuple[str, ...]) -> None:
    from olearn.sweep.driver import plan, run_sweep

    base, grid = _grid.read_sweep(spec, sets=sets, grids=grids)
    if out is None:
        name = base.get("name", "run")
        out = str(Path("runs") / "out" / f"sweep-{name}-{_grid.digest(base, grid)[:8]}")
    if dry_run:
        tasks = _grid.expand(base, _grid.check_grid(grid))
        _grid.validate(tasks)
        n, threads = plan(len(tasks), workers)
        for t in tasks:
            s = t.spec
            click.echo(f"{t.name}  {t.describe()}  (T = {s['horizon']:,}, "
                       f"R = {s.get('replicates', 1)}, agents: "
                       f"{', '.join(a.get('label', a['id']) for a in s['agents'])})")
        where = "Ray" if backend == "ray" else f"{n} worker(s) × {threads} thread(s)"
        click.echo(f"{len(tasks)} tasks into {out} on {where}; nothing was run (--dry-run)")
        return
    result = run_sweep(base, grid, out=out, backend=backend, address=address, workers=workers,
                       resume=resume, force=force, quiet=quiet)
    if not quiet:
        show(result.out, statuses=False)
    click.echo(f"sweep: {result.out}")
    click.echo(f"index: {result.out / 'index.parquet'}")
    if result.failed:
        first = result.failed[0]
        raise RunFailedError(f"{len(result.failed)} of {len(result.rows)} tasks failed "
                             f"({first['task']}: {first['error']}); see olearn show "
                             f"{result.out}; rerun with --resume to retry them")


def show(out: str | Path, *, statuses: bool = True) -> None:
    """The task status table and the best configuration per agent."""
    import shutil

    from rich.console import Console
    from rich.table import Table

    from olearn.sweep import report

    console = Console(width=max(80, shutil.get_terminal_size((100, 24)).columns))
    index = report.statuses(out)
    keys = [c for c in index.columns if c not in ("task", "status", "error", "seconds",
                                                    "summary")]
    counts = index["status"].value_counts(sort=True)
    click.echo(f"{out}: {len(index)} tasks; " + ", ".join(
        f"{n} {s}" for s, n in counts.iter_rows()))
    if statuses:
        table = Table(title="tasks", title_justify="left")
        for col in ("task", *keys, "status", "seconds", "error"):
            table.add_column(col.rsplit(".", 1)[-1] if col in keys else col)
        for row in index.iter_rows(named=True):
            secs = f"{row['seconds']:.1f}" if row["seconds"] is not None else "-"
            table.add_row(row["task"], *(_fmt(row[k]) for k in keys), row["status"], secs,
                          row["error"] or "")
        console.print(table)
    if not (index["status"] == "complete").any():
        return
    top = report.best(out)
    table = Table(title="best configuration per agent (lowest mean final regret, seeds pooled)",
                  title_justify="left")
    config = [c for c in top.columns if c not in ("agent", "t", "mean", "ci95", "replicates")]
    for col in ("agent", *config, "T", "regret (mean ± 95% t-CI)", "replicates"):
        table.add_column(col)
    for row in top.iter_rows(named=True):
        ci = "n/a" if row["ci95"] is None else f"{row['ci95']:.2f}"
        table.add_row(row["agent"], *(_fmt(row[k]) for k in config), f"{row['t']:,}",
                      f"{row['mean']:.2f} ± {ci}", str(row["replicates"]))
    console.print(table)


def show_json(out: str | Path) -> None:
    """The index (live statuses) and the best configuration per agent, as JSON."""
    import json
    import math

    from olearn.sweep import report

    def plain(v: Any) -> Any:
        return None if isinstance(v, float) and not math.isfinite(v) else v

    index = report.statuses(out)
    tasks = [{k: plain(v) for k, v in row.items()} for row in index.iter_rows(named=True)]
    best = ([{k: plain(v) for k, v in row.items()} for row in report.best(out).iter_rows(
        named=True)] if (index["status"] == "complete").any() else [])
    click.echo(json.dumps({"sweep": str(out), "tasks": tasks, "best": best}, indent=2,
                          default=str))


def plot(out: str | Path, x: str, output: str | Path | None, *, at: int | None,
         column: str, log_y: bool) -> Path:
    from olearn.sweep.report import plot_sweep

    return plot_sweep(out, x, output or Path(out) / "sweep.png", at=at, column=column,
                      log_y=log_y)


def _fmt(v: Any) -> str:
    if v is None:
        return "(any)"
    return f"{v:g}" if isinstance(v, float) else str(v)
