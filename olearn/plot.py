"""Regret curves and parameter studies with matplotlib: one colour per agent, a named band.

:func:`regret_figure` (curves against the round) and :func:`parameter_figure` (a value with
error bars against a parameter) draw into a given ``ax`` (or a new Figure, made without
pyplot, so nothing global changes and a notebook shows the returned Figure) and return the
Figure; :func:`add_line` adds a reference line to either and to its legend; :func:`plot_runs`
saves a regret figure. Cumulative columns (``regret``, ``cum_reward``, ``*_cum``,
``*regret``) are drawn as they are; per-round columns (``propensity``, ``eta``, ``gamma``...)
as a rolling mean over ``window`` recorded rounds per replicate, the band clipped to the range
the column takes.

Examples
--------
>>> import olearn, tempfile
>>> spec = olearn.RunSpec.from_dict({"name": "doc", "horizon": 200, "replicates": 3,
...     "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 3, "dim": 4}},
...     "agents": [{"label": "ucb", "id": "olearn/LinUCB-v0"},
...                {"label": "uniform", "id": "olearn/Uniform-v0"}]})
>>> out = olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True).out
>>> fig = regret_figure([out], normalize="sqrt", exclude=["uniform"], slopes=True)
>>> [t.get_text().split(" (")[0] for t in fig.axes[0].get_legend().get_texts()][:1]
['ucb']
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from olearn.errors import OlearnError, UsageError
from olearn.metrics import mean_ci
from olearn.trace import load

__all__ = ["BANDS", "NORMALIZE", "add_line", "is_geometric", "parameter_figure", "plot_runs",
           "regret_figure", "summary"]

FORMATS = (".png", ".svg", ".pdf")
BANDS = {"ci": "95% t-interval of the mean", "sd": "± 1 standard deviation",
         "quantiles": "10%–90% of replicates", "none": ""}
BAND_LABEL = f"band: {BANDS['ci']}"
NORMALIZE = {"t": "t", "sqrt": "√t", "log": "log t"}
_STYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def is_cumulative(column: str) -> bool:
    """Whether a trace column accumulates over rounds (drawn as is) or is per round."""
    return (column in ("regret", "cum_reward") or column.endswith("_cum")
            or column.endswith("regret") or column.startswith("cum_"))


Run = str | Path | pl.LazyFrame   # a run directory, or traces already loaded (olearn.load)


def _trace(run: Run) -> pl.LazyFrame:
    return run if isinstance(run, pl.LazyFrame) else load(run)


def _frame(run: Run, column: str, band: str, window: int | None) -> pl.DataFrame:
    trace = _trace(run)
    if column not in trace.collect_schema().names():
        where = "the trace" if isinstance(run, pl.LazyFrame) else f"{run}: the trace"
        raise OlearnError(f"{where} has no column {column!r}")
    c = pl.col(column)
    lf = trace.select("agent", "replicate", "t", c.cast(pl.Float64)).drop_nulls(column)
    if not is_cumulative(column):
        lf = lf.sort("agent", "replicate", "t").with_columns(
            c.rolling_mean(window_size=window or 1, min_samples=1).over("agent", "replicate"))
    aggs = {"ci": mean_ci(column),
            "sd": [c.mean().alias("mean"), c.std().alias("ci95"), c.count().alias("replicates")],
            "quantiles": [c.mean().alias("mean"), c.quantile(0.1).alias("lo"),
                          c.quantile(0.9).alias("hi"), c.count().alias("replicates")],
            "none": [c.mean().alias("mean"), c.count().alias("replicates")]}[band]
    df = lf.group_by("agent", "t").agg(aggs).sort("agent", "t").collect()
    if "ci95" in df.columns:
        df = df.with_columns(lo=pl.col("mean") - pl.col("ci95"), hi=pl.col("mean") + pl.col("ci95"))
    if not is_cumulative(column):   # a band never leaves the values the column takes
        lo, hi = lf.select(c.min().alias("lo"), c.max().alias("hi")).collect().row(0)
        if "lo" in df.columns and lo is not None:
            df = df.with_columns(pl.col("lo").clip(lo, hi), pl.col("hi").clip(lo, hi))
    return df


def _spec(run: Run) -> dict[str, Any]:
    if isinstance(run, pl.LazyFrame):
        return {}
    try:
        return tomllib.loads((Path(run) / "spec.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def titles(runs: Sequence[Run]) -> tuple[str, list[str]]:
    """The figure's title (env id, the kwargs and T, R the runs share) and each run's label
    (its directory name and what differs; ``trace <i>`` for a LazyFrame, which has no spec).

    >>> titles([])
    ('', [])
    """
    specs = [_spec(r) for r in runs]
    fields: list[dict[str, Any]] = []
    for spec in specs:
        if not spec:
            fields.append({})
            continue
        env = spec.get("env", {})
        f = {"env": str(env.get("id", "?")).rsplit("/", 1)[-1].rsplit(":", 1)[-1]}
        f |= {k: v for k, v in list(env.get("kwargs", {}).items())[:6]}
        f |= {"T": f"{spec.get('horizon', 0):,}", "R": spec.get("replicates", 1)}
        fields.append(f)
    if not fields:
        return "", []
    shared = {k: v for k, v in fields[0].items() if all(f.get(k) == v for f in fields)}
    kw = ", ".join(f"{k}={v}" for k, v in shared.items() if k not in ("env", "T", "R"))
    title = shared.get("env", "") + (f"({kw})" if kw else "")
    title += "".join(f", {k} = {shared[k]}" for k in ("T", "R") if k in shared)
    labels = []
    for i, (run, f) in enumerate(zip(runs, fields, strict=True)):
        diff = ", ".join(f"{k}={v}" for k, v in f.items() if k not in shared)
        name = f"trace {i + 1}" if isinstance(run, pl.LazyFrame) else Path(run).name
        labels.append(name + (f" ({diff})" if diff else ""))
    return title, labels


def _slope(t: np.ndarray, m: np.ndarray, start: float | None = None) -> float:
    """Least-squares slope of log m against log t over the rounds from ``start`` (default: the
    second half of the rounds); NaN unless m > 0 at every round of the fit (a curve that goes
    negative, e.g. against a drifting comparator, has no log-log slope)."""
    window = t >= (t.max() / 2 if start is None else start)
    if window.sum() < 2 or not (m[window] > 0).all():
        return math.nan
    return float(np.polyfit(np.log(t[window]), np.log(m[window]), 1)[0])


def regret_figure(runs: Sequence[Run], *, ax: Any = None, column: str = "regret",
                  band: str = "ci", normalize: str | None = None,
                  include: Sequence[str] | None = None, exclude: Sequence[str] = (),
                  log_x: bool = False, log_y: bool = False, slopes: bool = False,
                  slope_from: float | None = None, floor: float | None = None,
                  window: int | None = None, title: str | None = None) -> Any:
    """Mean ``column`` per agent over replicates, for one or more run directories.

    Args:
        runs: run directories (or traces already loaded, e.g. ``olearn.load`` of several
            run directories concatenated); several overlay, one line style each.
        ax: matplotlib axes to draw into (default: a new Figure).
        band: ``ci`` (Student-t 95% interval of the mean), ``sd``, ``quantiles`` (10–90%),
            or ``none``; the legend names it. One replicate has no ``ci`` band.
        normalize: ``t``, ``sqrt`` or ``log``: divide by t, √t or log t (from t = 2), so
            sublinear curves compare by eye.
        include / exclude: agent labels to keep / drop.
        slopes: put each curve's log-log slope over its second half (from round
            ``slope_from`` if given) in the legend; ``n/a`` where the curve is not positive
            over that range.
        floor: draw values below ``floor`` (curves and bands) at ``floor``, e.g. so that a
            log-y axis keeps curves and bands that reach 0.
        window: rolling-mean window (recorded rounds) for per-round columns
            [about a 50th of the rounds].

    Returns:
        The matplotlib Figure.
    """
    if band not in BANDS:
        raise UsageError(f"band must be one of {', '.join(BANDS)}, got {band!r}")
    if normalize is not None and normalize not in NORMALIZE:
        raise UsageError(f"normalize must be one of {', '.join(NORMALIZE)}, got {normalize!r}")
    frames = []
    for run in runs:
        probe = _trace(run).select(pl.col("t").max()).collect().item() or 1
        frames.append(_frame(run, column, band, window or max(1, int(probe) // 50)))
    order = [a.get("label") for r in runs for a in _spec(r).get("agents", [])]
    agents = sorted(dict.fromkeys(a for df in frames for a in df["agent"].unique(
        maintain_order=True)), key=lambda a: order.index(a) if a in order else len(order))
    for who in [*(include or ()), *exclude]:
        if who not in agents:
            raise UsageError(f"no agent {who!r} with {column!r} values in these runs; agents: "
                             f"{', '.join(agents)}")
    agents = [a for a in agents if (include is None or a in include) and a not in exclude]
    fig, ax = _new_axes(ax)
    colors = {a: f"C{i % 10}" for i, a in enumerate(agents)}
    heading, run_labels = titles(runs)
    banded = False
    lowest = -np.inf if floor is None else floor
    for i, df in enumerate(frames):
        style = _STYLES[i % len(_STYLES)]
        for agent in agents:
            part = df.filter(pl.col("agent") == agent)
            if part.is_empty():
                continue
            t = part["t"].to_numpy().astype(float)
            scale = _scale(t, normalize)
            keep = np.isfinite(scale)
            t, scale = t[keep], scale[keep]
            m = np.maximum(part["mean"].to_numpy()[keep] / scale, lowest)
            label = str(agent) if len(runs) == 1 else f"{agent} · {run_labels[i]}"
            if slopes:
                slope = _slope(t, part["mean"].to_numpy()[keep], slope_from)
                label += f" (slope {'n/a' if math.isnan(slope) else f'{slope:.2f}'})"
            ax.plot(t, m, color=colors[agent], ls=style, lw=1.6, label=label)
            if band != "none":
                lo = part["lo"].cast(pl.Float64).fill_null(np.nan).to_numpy()[keep] / scale
                hi = part["hi"].cast(pl.Float64).fill_null(np.nan).to_numpy()[keep] / scale
                if np.isfinite(lo).any():
                    lo, hi = np.maximum(lo, lowest), np.maximum(hi, lowest)
                    ax.fill_between(t, lo, hi, color=colors[agent], alpha=0.18, lw=0)
                    banded = True
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log", nonpositive="mask")  # rounds with values <= 0 are not drawn
    ax.set_xlabel("round t")
    what = f"cumulative {column}" if column == "regret" else column
    if not is_cumulative(column):
        what += " (rolling mean)"
    ax.set_ylabel(what + (f" / {NORMALIZE[normalize]}" if normalize else ""))
    ax.set_title(title or heading, fontsize=9)
    ax.grid(alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    if banded:
        from matplotlib.patches import Patch

        handles.append(Patch(color="0.5", alpha=0.3, lw=0, label=f"band: {BANDS[band]}"))
    ax.legend(handles=handles, fontsize=8)
    fig.tight_layout()
    return fig


def _scale(t: np.ndarray, normalize: str | None) -> np.ndarray:
    if normalize is None:
        return np.ones_like(t)
    if normalize == "t":
        return t
    if normalize == "sqrt":
        return np.sqrt(t)
    return np.where(t >= 2, np.log(np.maximum(t, 2)), np.nan)


def is_geometric(values: Sequence[Any]) -> bool:
    """Positive numbers spanning at least a factor of 10 (drawn on a log axis).

    >>> is_geometric([0.1, 1, 10]), is_geometric([1, 2, 3])
    (True, False)
    """
    nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return (len(nums) == len(values) and len(nums) > 0 and min(nums) > 0
            and math.log10(max(nums) / min(nums)) >= 1)


def _new_axes(ax: Any) -> tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), dpi=120)
    return fig, fig.subplots()


def parameter_figure(table: pl.DataFrame, x: str, *, y: str = "mean", half: str | None = "ci95",
                     by: Sequence[str] = ("agent",), marker_by: str | None = None,
                     ax: Any = None, log_x: bool | None = None, log_y: bool = False,
                     xlabel: str | None = None, ylabel: str | None = None,
                     title: str | None = None, line: bool = True,
                     interval: str = BANDS["ci"]) -> Any:
    """``y`` with error bars (half width ``half``) against ``x``, one line per group of ``by``.

    Args:
        table: one row per point, e.g. ``group_by(...).agg(olearn.metrics.mean_ci(...))``.
        x: the parameter column (numbers; other values are drawn as evenly spaced categories).
        y / half: the value and its error-bar half width (``ci95`` of
            :func:`~olearn.metrics.mean_ci`: Student-t 95%; null, one replicate, draws none);
            ``half=None``: no error bars.
        by: columns whose values make one line each, in the order they first appear in
            ``table``; labelled ``first, key=value, ...`` (the last dotted part of the key).
        marker_by: a column drawn as marker shapes (``label (value)``); the colour then
            follows ``by`` only.
        log_x: log-x (default: when the ``x`` values are positive and span a factor of 10).
        log_y: log-y; error bars reaching 0 or below are cut at the axis.
        line: join the points (``False``: markers and error bars only, a scatter).
        interval: what the error bars are, named in the legend's title.

    Returns:
        The matplotlib Figure.

    Examples:
        >>> t = pl.DataFrame({"agent": ["a", "a", "b", "b"], "eta": [0.1, 1.0, 0.1, 1.0],
        ...                   "mean": [3.0, 2.0, 4.0, 1.0], "ci95": [0.5, 0.4, 0.3, None]})
        >>> ax = parameter_figure(t, "eta").axes[0]
        >>> [bars.get_label() for bars in ax.containers], ax.get_xscale()
        (['a', 'b'], 'log')
    """
    need = [x, y, *by, *(c for c in (half, marker_by) if c is not None)]
    for column in dict.fromkeys(need):
        if column not in table.columns:
            raise UsageError(f"the table has no column {column!r} to plot; its columns: "
                             f"{', '.join(table.columns)}")
    table = table.filter(pl.col(y).is_not_null())
    xs_all = table[x].unique().sort().to_list()
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs_all)
    fig, ax = _new_axes(ax)
    keys = [*by, *([marker_by] if marker_by else [])]
    parts = (table.group_by(keys, maintain_order=True) if keys else [((), table)])
    colors: dict[tuple[Any, ...], str] = {}
    markers: dict[Any, str] = {}
    for group, part in parts:
        group = tuple(group)
        head = group[:len(by)]
        color = colors.setdefault(head, f"C{len(colors) % 10}")
        marker = "o"
        label = ", ".join(str(v) if i == 0 else f"{k.rsplit('.', 1)[-1]}={v}"
                          for i, (k, v) in enumerate(zip(by, head, strict=True)))
        if marker_by:
            marker = markers.setdefault(group[-1], _MARKERS[len(markers) % len(_MARKERS)])
            label = f"{label} ({group[-1]})" if label else str(group[-1])
        part = part.sort(x)
        xs = part[x].to_list() if numeric else [xs_all.index(v) for v in part[x].to_list()]
        err = None if half is None else part[half].cast(pl.Float64).fill_null(0.0).to_numpy()
        ax.errorbar(xs, part[y].to_numpy(), yerr=err, marker=marker, capsize=3, elinewidth=1.2,
                    lw=1.4 if line else 0, ls="-" if line else "none", color=color,
                    label=label or y)
    log_x = is_geometric(xs_all) if log_x is None else log_x
    if log_x:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(range(len(xs_all)), [str(v) for v in xs_all])
    if log_y:
        ax.set_yscale("log", nonpositive="clip")
    ax.set_xlabel(x if xlabel is None else xlabel)
    ax.set_ylabel(y if ylabel is None else ylabel)
    if title is not None:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both" if log_x or log_y else "major")
    ax.legend(fontsize=8, title=f"error bars: {interval}" if half else None, title_fontsize=8)
    fig.tight_layout()
    return fig


def add_line(ax: Any, x: Any, y: Any, *, label: str, fmt: str = "k:",
             legend: dict[str, Any] | None = None, **style: Any) -> Any:
    """Draw a reference line (e.g. √t, slope 1/2) onto a figure of this module and add it
    last to the legend, keeping the legend's other entries (the band patch), title and font
    size; ``legend``: further :meth:`~matplotlib.axes.Axes.legend` keywords (``ncols``,
    ``loc``...); ``style``: further :meth:`~matplotlib.axes.Axes.plot` keywords.

    Returns:
        The Line2D.
    """
    (ref,) = ax.plot(x, y, fmt, lw=style.pop("lw", 1), label=label, **style)
    old = ax.get_legend()
    handles, labels = ax.get_legend_handles_labels()
    if old is None:
        ax.legend(**{"fontsize": 8, **(legend or {})})
        return ref
    texts = old.get_texts()
    mine = dict(zip(labels, handles, strict=True))    # the old entries' artists, in order,
    pairs = [(mine.get(t.get_text(), h), t.get_text())   # or their proxies (the band patch)
             for h, t in zip(old.legend_handles, texts, strict=False) if h is not None]
    handles, labels = [p[0] for p in pairs] + [ref], [p[1] for p in pairs] + [label]
    ax.legend(handles, labels, **{"fontsize": texts[0].get_fontsize() if texts else 8,
                                  "title": old.get_title().get_text() or None,
                                  "title_fontsize": old.get_title().get_fontsize(),
                                  **(legend or {})})
    return ref


def plot_runs(runs: Sequence[Run], output: str | Path, **kwargs: Any) -> Path:
    """Save :func:`regret_figure` of ``runs`` to ``output`` (PNG, SVG or PDF by extension)."""
    output = Path(output)
    if output.suffix.lower() not in FORMATS:
        msg = f"plot output must end in one of {', '.join(FORMATS)}, got {output.name!r}"
        raise OlearnError(msg)
    fig = regret_figure(runs, **kwargs)
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    return output


def summary(run: str | Path) -> pl.DataFrame:
    """Final regret mean ± 95% t-CI (``ci95``, null for one replicate) per agent, with rounds/s
    from ``meta.json``."""
    import json

    from olearn.metrics import final

    df = final(load(run)).collect()
    meta_path = Path(run) / "meta.json"
    agents = json.loads(meta_path.read_text()).get("agents", {}) if meta_path.is_file() else {}
    rates = [agents.get(a, {}).get("rounds_per_s") for a in df["agent"]]
    return df.with_columns(pl.Series("rounds_per_s", rates, dtype=pl.Float64))
