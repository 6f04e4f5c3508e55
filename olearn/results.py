"""``olearn.load``: the trace of a run directory or of a whole sweep as one LazyFrame."""

from __future__ import annotations

from pathlib import Path

import polars as pl

__all__ = ["load"]


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
