"""Regret curves with matplotlib (headless): mean over replicates with a 95% t-interval band."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from olearn.errors import OlearnError
from olearn.metrics import curve
from olearn.trace import load

__all__ = ["plot_runs"]

FORMATS = (".png", ".svg", ".pdf")
BAND_LABEL = "band: 95% t-interval of the mean"


def plot_runs(runs: Sequence[str | Path], output: str | Path, *, log_x: bool = False,
              log_y: bool = False, column: str = "regret", title: str | None = None) -> Path:
    """Plot the mean cumulative ``column`` per agent of one or more run directories.

    Several runs overlay; with more than one run, labels read ``run/agent``. The shaded band
    is the Student-t 95% confidence interval of the mean over replicates
    (:func:`olearn.metrics.mean_ci`), and the legend says so; a run with one replicate has no
    interval and draws no band. The format follows the extension of ``output`` (PNG, SVG or
    PDF).
    """
    output = Path(output)
    if output.suffix.lower() not in FORMATS:
        msg = f"plot output must end in one of {', '.join(FORMATS)}, got {output.name!r}"
        raise OlearnError(msg)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    banded = False
    for run in runs:
        trace = load(run)
        if column not in trace.collect_schema().names():
            msg = f"{run}: the trace has no column {column!r}"
            raise OlearnError(msg)
        df = curve(trace, column).collect()
        for (agent,), part in df.group_by("agent", maintain_order=True):
            label = agent if len(runs) == 1 else f"{Path(run).name}/{agent}"
            t, m = part["t"].to_numpy(), part["mean"].to_numpy()
            ci = part["ci95"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
            (line,) = ax.plot(t, m, label=label, lw=1.6)
            if np.isfinite(ci).any():      # one replicate: no interval, no band
                ax.fill_between(t, m - ci, m + ci, color=line.get_color(), alpha=0.2, lw=0)
                banded = True
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log", nonpositive="mask")  # rounds with regret <= 0 are not drawn
    ax.set_xlabel("round t")
    ax.set_ylabel(f"cumulative {column}" if column == "regret" else column)
    ax.set_title(title or ", ".join(Path(r).name for r in runs), fontsize=10)
    ax.grid(alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    if banded:
        from matplotlib.patches import Patch

        handles.append(Patch(color="0.5", alpha=0.3, lw=0, label=BAND_LABEL))
    ax.legend(handles=handles, fontsize=8)
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    plt.close(fig)
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
