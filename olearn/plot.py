"""Regret curves with matplotlib (headless): mean over replicates with a 95% band."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from olearn.errors import OlearnError
from olearn.metrics import curve
from olearn.trace import load

__all__ = ["plot_runs"]

FORMATS = (".png", ".svg", ".pdf")


def plot_runs(runs: Sequence[str | Path], output: str | Path, *, log_x: bool = False,
              log_y: bool = False, column: str = "regret", title: str | None = None) -> Path:
    """Plot the mean cumulative ``column`` per agent of one or more run directories.

    Several runs overlay; with more than one run, labels read ``run/agent``. The format follows
    the extension of ``output`` (PNG, SVG or PDF).
    """
    output = Path(output)
    if output.suffix.lower() not in FORMATS:
        msg = f"plot output must end in one of {', '.join(FORMATS)}, got {output.name!r}"
        raise OlearnError(msg)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for run in runs:
        trace = load(run)
        if column not in trace.collect_schema().names():
            msg = f"{run}: the trace has no column {column!r}"
            raise OlearnError(msg)
        df = curve(trace, column).collect()
        for (agent,), part in df.group_by("agent", maintain_order=True):
            label = agent if len(runs) == 1 else f"{Path(run).name}/{agent}"
            t, m, ci = part["t"].to_numpy(), part["mean"].to_numpy(), part["ci95"].to_numpy()
            (line,) = ax.plot(t, m, label=label, lw=1.6)
            ax.fill_between(t, m - ci, m + ci, color=line.get_color(), alpha=0.2, lw=0)
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log", nonpositive="mask")  # rounds with regret <= 0 are not drawn
    ax.set_xlabel("round t")
    ax.set_ylabel(f"cumulative {column}" if column == "regret" else column)
    ax.set_title(title or ", ".join(Path(r).name for r in runs), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    plt.close(fig)
    return output


def summary(run: str | Path) -> pl.DataFrame:
    """Final regret mean ± 95% CI per agent, with rounds/s from ``meta.json``."""
    import json

    from olearn.metrics import final

    df = final(load(run)).collect()
    meta_path = Path(run) / "meta.json"
    agents = json.loads(meta_path.read_text()).get("agents", {}) if meta_path.is_file() else {}
    rates = [agents.get(a, {}).get("rounds_per_s") for a in df["agent"]]
    return df.with_columns(pl.Series("rounds_per_s", rates, dtype=pl.Float64))
