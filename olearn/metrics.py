"""Regret summaries as Polars expressions over a trace (see :func:`olearn.load`)."""

from __future__ import annotations

import polars as pl

__all__ = ["curve", "final", "mean_ci"]

Z95 = 1.959963984540054


def mean_ci(column: str = "regret") -> list[pl.Expr]:
    """Mean, 95% normal-approximation half width and replicate count of ``column``."""
    c = pl.col(column)
    return [c.mean().alias("mean"),
            (Z95 * c.std().fill_null(0.0) / c.count().sqrt()).alias("ci95"),
            c.count().alias("replicates")]


def curve(trace: pl.LazyFrame, column: str = "regret") -> pl.LazyFrame:
    """Per agent and recorded round: mean of ``column`` over replicates with a 95% band.

    >>> lf = pl.LazyFrame({"agent": ["a"] * 4, "replicate": [0, 1, 0, 1], "t": [1, 1, 2, 2],
    ...                    "regret": [0.0, 2.0, 1.0, 3.0]})
    >>> curve(lf).collect()["mean"].to_list()
    [1.0, 2.0]
    """
    return trace.group_by("agent", "t").agg(mean_ci(column)).sort("agent", "t")


def final(trace: pl.LazyFrame, column: str = "regret") -> pl.LazyFrame:
    """Per agent: ``column`` at each replicate's last recorded round, averaged with a 95% CI."""
    last = trace.filter(pl.col("t") == pl.col("t").max().over("agent", "replicate"))
    return last.group_by("agent").agg(pl.col("t").max().alias("t"), *mean_ci(column)).sort("agent")
