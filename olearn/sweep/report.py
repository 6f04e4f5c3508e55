"""Reading a sweep: one LazyFrame of every task, the status and best-configuration tables, and
final regret against a grid parameter."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import polars as pl

from olearn.errors import OlearnError, UsageError
from olearn.metrics import mean_ci
from olearn.sweep import sweepdir
from olearn.trace import IncompleteRunWarning
from olearn.trace import load as load_run

__all__ = ["best", "final_by_config", "load_sweep", "plot_sweep", "statuses"]


def _definition(out: str | Path) -> tuple[list[str], list[dict[str, Any]]]:
    d = sweepdir.read_definition(out)
    return [k for k, _ in d["grid"]], d["tasks"]


def load_sweep(out: str | Path, *, complete: bool = False) -> pl.LazyFrame:
    """Every task's trace as one LazyFrame, with ``task`` and a column per grid key.

    Tasks not run yet are absent; tasks not complete load what they wrote, with one
    :class:`~olearn.trace.IncompleteRunWarning` naming them (or, with ``complete``, are left
    out: summaries compare configurations at the same round).
    """
    keys, tasks = _definition(out)
    frames, incomplete = [], []
    for t in tasks:
        d = Path(out) / t["task"]
        if not any((d / "trace").glob("agent=*/part-*.parquet")):
            continue
        if complete and sweepdir.task_status(d) != "complete":
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", IncompleteRunWarning)
            frame = load_run(d)
        if caught:
            incomplete.append(t["task"])
        lits = [pl.lit(_scalar(t["values"][k])).alias(k) for k in keys]
        frames.append(frame.with_columns(pl.lit(t["task"]).alias("task"), *lits))
    if not frames:
        raise OlearnError(f"sweep {out} has no {'complete ' if complete else ''}task with a "
                          "trace yet; run it with "
                          f"olearn sweep SPEC --out {out} --resume")
    if incomplete:
        warnings.warn(f"sweep {out}: {len(incomplete)} task(s) not complete "
                      f"({', '.join(incomplete[:5])}); see olearn show {out}",
                      IncompleteRunWarning, stacklevel=2)
    lf = pl.concat(frames, how="diagonal_relaxed")
    return lf.select("task", *keys, pl.exclude("task", *keys))


def _scalar(v: Any) -> Any:
    return v if isinstance(v, (int, float, str, bool)) else json.dumps(v)


def statuses(out: str | Path) -> pl.DataFrame:
    """The index with each task's live status (read from its run directory)."""
    path = Path(out) / sweepdir.INDEX
    if not path.is_file():
        raise OlearnError(f"{out} has no {sweepdir.INDEX}; is it a sweep directory?")
    index = pl.read_parquet(path)
    live = []
    for row in index.iter_rows(named=True):
        st = sweepdir.task_status(Path(out) / row["task"])
        if row["status"] == "failed" and st not in ("complete", "running"):
            st = "failed"   # the driver saw it fail (e.g. its worker died): keep its error line
        live.append(st)
    return index.with_columns(pl.Series("status", live, dtype=pl.String))


def final_by_config(out: str | Path, *, at: int | None = None, pool: tuple[str, ...] = ("seed",),
                    fix: tuple[str, ...] = (), column: str = "regret",
                    lf: pl.LazyFrame | None = None) -> tuple[pl.DataFrame, list[str]]:
    """Mean and 95% interval of ``column`` at round ``at`` (default: each task's last recorded
    round) per agent and configuration, pooling replicates over the ``pool`` keys (seeds).

    Keys in ``fix`` are held at their first grid value (keys that cannot change the agent:
    pooling them would count the same replicates twice). Returns the table and the grid keys
    that define a configuration. ``lf``: the complete tasks' traces, if already loaded.
    """
    keys, _ = _definition(out)
    lf = load_sweep(out, complete=True) if lf is None else lf
    first = dict(sweepdir.read_definition(out)["grid"])
    for k in fix:
        lf = lf.filter(pl.col(k) == _scalar(first[k][0]))
    if column not in lf.collect_schema().names():
        raise UsageError(f"the sweep's traces have no column {column!r}")
    if at is None:
        rows = lf.filter(pl.col("t") == pl.col("t").max().over("task", "agent", "replicate"))
    else:
        rows = lf.filter(pl.col("t") == at)
        if rows.select(pl.len()).collect().item() == 0:
            ts = lf.select(pl.col("t").unique().sort()).collect()["t"]
            near = ts.filter(ts <= at).tail(1).to_list() + ts.filter(ts > at).head(1).to_list()
            raise UsageError(f"--at {at} is not a recorded round of the sweep; nearest recorded: "
                             f"{', '.join(map(str, near))} (record it with record.every or "
                             "record.log)")
    config = [k for k in keys if k not in pool and k not in fix]
    table = (rows.group_by("agent", *config).agg(pl.col("t").max(), *mean_ci(column))
             .sort("agent", *config).collect())
    return table, config


def relevant(key: str, agent: str, labels: list[str]) -> bool:
    """Whether grid key ``key`` can change agent ``agent``'s results: every key does except
    another agent's (``agents.<label or index>.…``).

    >>> relevant("agents.ucb.kwargs.alpha", "ts", ["ucb", "ts"]), relevant("seed", "ts", [])
    (False, True)
    """
    parts = key.split(".")
    if parts[0] != "agents" or len(parts) < 2:
        return True
    who = labels[int(parts[1])] if parts[1].isdigit() and int(parts[1]) < len(labels) else parts[1]
    return who == agent


def best(out: str | Path) -> pl.DataFrame:
    """Per agent, the configuration with the lowest mean final regret (seeds pooled); grid keys
    of other agents are held at their first value (they cannot change this agent) and shown as
    null."""
    keys, _ = _definition(out)
    labels = [a.get("label", "") for a in sweepdir.read_definition(out)["base"]["agents"]]
    config = [k for k in keys if k != "seed"]
    frames = []
    lf = load_sweep(out, complete=True)   # read once for every agent
    for agent in lf.select(pl.col("agent").unique()).collect()["agent"].sort():
        other = tuple(k for k in keys if k != "seed" and not relevant(k, agent, labels))
        mine = lf.filter(pl.col("agent") == agent)
        table, cols = final_by_config(out, pool=("seed",), fix=other, lf=mine)
        row = table.filter(pl.col("agent") == agent).sort("mean").head(1)
        frames.append(row.with_columns(*(pl.lit(None).alias(k) for k in config if k not in cols)))
    return pl.concat([f.select("agent", *config, "t", "mean", "ci95", "replicates")
                      for f in frames], how="vertical_relaxed")


def plot_sweep(out: str | Path, x: str, output: str | Path, *, at: int | None = None,
               column: str = "regret", log_y: bool = False) -> Path:
    """Final ``column`` (mean with 95% interval over replicates and seeds) against grid key
    ``x``, one line per agent (and per value of the other grid keys); log-x when the grid is
    geometric. Drawn by :func:`olearn.plot.parameter_figure`."""
    from olearn.plot import FORMATS, parameter_figure

    keys, _ = _definition(out)
    if x not in keys:
        raise UsageError(f"--x {x!r} is not a grid key of this sweep; its keys: "
                         f"{', '.join(keys)}")
    output = Path(output)
    if output.suffix.lower() not in FORMATS:
        raise UsageError(f"plot output must end in one of {', '.join(FORMATS)}, "
                         f"got {output.name!r}")
    table, config = final_by_config(out, at=at, pool=tuple(k for k in ("seed",) if k != x),
                                     column=column)
    t = int(table["t"].max())  # type: ignore[arg-type]
    fig = parameter_figure(
        table, x, by=("agent", *(k for k in config if k != x)), log_y=log_y,
        ylabel=f"{'cumulative ' if column == 'regret' else ''}{column} at t = {t:,}",
        title=f"{Path(out).name}: mean ± 95% interval over replicates"
        + (" and seeds" if "seed" in keys and x != "seed" else ""))
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    return output
