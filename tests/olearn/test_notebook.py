"""The notebook path: simulate without an output directory, re-run as is, results in memory."""

from __future__ import annotations

import polars as pl

import olearn
from olearn.progress import watching

SPEC = {"name": "nb", "horizon": 120, "replicates": 2,
        "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 3, "dim": 4}},
        "agents": [{"label": "ucb", "id": "olearn/LinUCB-v0"},
                   {"label": "uniform", "id": "olearn/Uniform-v0"}]}


def test_a_cell_runs_again_and_gives_the_same_trace():
    first = olearn.simulate(SPEC)
    again = olearn.simulate(SPEC)   # no RunExistsError: each call gets its own directory
    assert first.out != again.out and first.out.is_dir()
    assert first.trace.sort("agent", "replicate", "t").equals(
        again.trace.sort("agent", "replicate", "t"))
    assert isinstance(first.trace, pl.DataFrame) and first.trace.height == 2 * 2 * 120


def test_summary_and_plot_into_an_axes():
    from matplotlib.figure import Figure

    result = olearn.simulate(olearn.RunSpec.from_dict(SPEC).with_(horizon=60))
    assert result.summary["agent"].to_list() == ["ucb", "uniform"]
    assert result.summary["t"].to_list() == [60, 60]
    fig = Figure()
    ax = fig.subplots()
    assert result.plot(ax=ax, exclude=["uniform"]) is fig
    assert [line.get_label() for line in ax.get_lines()] == ["ucb"]


def test_no_progress_bar_when_nobody_watches():
    assert not watching()   # pytest captures stderr and runs no Jupyter kernel
