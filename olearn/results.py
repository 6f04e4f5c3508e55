"""``olearn.load``: the trace of a run directory or of a whole sweep as one LazyFrame."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import polars as pl

__all__ = ["load", "run_summary"]


def load(out: str | Path) -> pl.LazyFrame:
    """A run directory's trace (:func:`olearn.trace.load`), or for a sweep directory every
    task's trace with a ``task`` column and a column per grid key
    (:func:`olearn.sweep.report.load_sweep`)."""
    from olearn.sweep.sweepdir import is_sweep

    if is_sweep(out):
        from olearn.sweep.report import load_sweep

        return load_sweep(out)
    from olearn.trace import load as load_run

    return load_run(out)


def run_summary(out: str | Path) -> dict[str, Any]:
    """A run's summary as plain data (``olearn show --json``): status, the final regret of
    each agent with its Student-t 95% half width (``null`` for one replicate) and rounds/s,
    and where the files are."""
    import warnings

    from olearn import rundir
    from olearn.plot import summary
    from olearn.trace import IncompleteRunWarning

    out = Path(out)
    meta = rundir.read_meta(out) or {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteRunWarning)
        df = summary(out)
    plot = out / "regret.png"
    return {"run": str(out), "name": meta.get("name"), "status": rundir.status(out, meta),
            "note": rundir.incomplete_note(out, meta), "device": meta.get("device"),
            "seed": meta.get("seed"), "replicates": len(meta.get("replicates", [])),
            "horizon": rundir.horizon(out),
            "agents": [{k: _plain(v) for k, v in row.items()} for row in df.iter_rows(named=True)],
            "trace": str(out / "trace"), "plot": str(plot) if plot.is_file() else None}


def _plain(v: Any) -> Any:
    """JSON-safe: NaN and infinities become null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
