"""Regret summaries as Polars expressions over a trace (see :func:`olearn.load`).

Intervals are Student-t 95% confidence intervals of the mean over replicates: half width
``t_{0.975, R−1} · sd / √R`` (``sd`` with ``ddof = 1``), null for ``R = 1``. The t-quantile is
computed here without scipy: an exact table for 1–30 degrees of freedom and the
Cornish–Fisher expansion of Abramowitz & Stegun 26.7.5 beyond (error below 1e-6 there).
"""

from __future__ import annotations

import math

import polars as pl

__all__ = ["curve", "final", "mean_ci", "t975"]

Z975 = 1.959963984540054   # Φ⁻¹(0.975)

# t_{0.975, ν} for ν = 1..30 (scipy.stats.t.ppf(0.975, ν), 12 significant digits)
T975_TABLE = (
    12.7062047362, 4.30265272975, 3.18244630528, 2.77644510520, 2.57058183564,
    2.44691185115, 2.36462425159, 2.30600413520, 2.26215716280, 2.22813885199,
    2.20098516009, 2.17881282967, 2.16036865646, 2.14478668792, 2.13144954556,
    2.11990529922, 2.10981557783, 2.10092204024, 2.09302405441, 2.08596344727,
    2.07961384473, 2.07387306790, 2.06865761042, 2.06389856163, 2.05953855275,
    2.05552943864, 2.05183051648, 2.04840714180, 2.04522964213, 2.04227245630,
)


def _cornish_fisher(df: float, z: float = Z975) -> float:
    """Abramowitz & Stegun 26.7.5: ``t_p(ν) ≈ z + g1/ν + g2/ν² + g3/ν³ + g4/ν⁴``."""
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def t975(df: int | float) -> float:
    """The 0.975 quantile of Student's t with ``df`` (whole) degrees of freedom; NaN for df < 1.

    >>> round(t975(3), 4), round(t975(100), 4), round(t975(float("inf")), 4)
    (3.1824, 1.984, 1.96)
    """
    if not df >= 1:
        return math.nan
    if df <= len(T975_TABLE):
        return T975_TABLE[int(df) - 1]
    return _cornish_fisher(df) if math.isfinite(df) else Z975


def _t975_expr(df: pl.Expr) -> pl.Expr:
    """:func:`t975` of an integer expression ``df`` (null where ``df < 1``)."""
    nu = df.cast(pl.Float64)
    z = Z975
    g = [(z**3 + z) / 4, (5 * z**5 + 16 * z**3 + 3 * z) / 96,
         (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
         (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160]
    series = z + g[0] / nu + g[1] / nu**2 + g[2] / nu**3 + g[3] / nu**4
    exact = df.cast(pl.Int64).replace_strict(range(1, len(T975_TABLE) + 1), T975_TABLE,
                                             default=series, return_dtype=pl.Float64)
    return pl.when(df >= 1).then(exact)


def mean_ci(column: str = "regret") -> list[pl.Expr]:
    """Mean, Student-t 95% half width (``ci95``, null for one replicate) and replicate count.

    >>> df = pl.DataFrame({"g": [0, 0, 0, 0, 1], "x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    >>> out = df.group_by("g").agg(mean_ci("x")).sort("g")
    >>> [None if v is None else round(v, 4) for v in out["ci95"]]
    [2.0543, None]
    """
    c = pl.col(column)
    n = c.count()
    return [c.mean().alias("mean"),
            (_t975_expr(n - 1) * c.std() / n.sqrt()).alias("ci95"),
            n.alias("replicates")]


def curve(trace: pl.LazyFrame, column: str = "regret") -> pl.LazyFrame:
    """Per agent and recorded round: mean of ``column`` over replicates with a 95% t band.

    >>> lf = pl.LazyFrame({"agent": ["a"] * 4, "replicate": [0, 1, 0, 1], "t": [1, 1, 2, 2],
    ...                    "regret": [0.0, 2.0, 1.0, 3.0]})
    >>> curve(lf).collect()["mean"].to_list()
    [1.0, 2.0]
    """
    return trace.group_by("agent", "t").agg(mean_ci(column)).sort("agent", "t")


def final(trace: pl.LazyFrame, column: str = "regret") -> pl.LazyFrame:
    """Per agent: ``column`` at each replicate's last recorded round, mean with a 95% t-CI."""
    last = trace.filter(pl.col("t") == pl.col("t").max().over("agent", "replicate"))
    return last.group_by("agent").agg(pl.col("t").max().alias("t"), *mean_ci(column)).sort("agent")
