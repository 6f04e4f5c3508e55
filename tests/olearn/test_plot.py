"""olearn.plot: drawing into a given axes, overlays, bands, normalisation, agent filters;
parameter figures (error bars against a parameter) and reference lines."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

import olearn
from olearn.cli import main
from olearn.errors import UsageError
from olearn.plot import add_line, parameter_figure, regret_figure


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plot")
    base = olearn.RunSpec.from_dict({
        "name": "p", "horizon": 400, "replicates": 3, "record": {"every": 4},
        "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 4, "dim": 5}},
        "agents": [{"label": "ucb", "id": "olearn/LinUCB-v0"},
                   {"label": "eps", "id": "olearn/EpsilonGreedy-v0"},
                   {"label": "ts", "id": "olearn/LinTS-v0"}]})
    a = olearn.simulate(base, out=tmp / "a", quiet=True).out
    b = olearn.simulate(base.with_("env.kwargs.noise=0.5"), out=tmp / "b", quiet=True).out
    return a, b


def _lines(fig):
    return {line.get_label(): line for line in fig.axes[0].get_lines()}


def test_draws_into_the_given_axes(runs):
    from matplotlib.figure import Figure

    fig = Figure()
    ax1, ax2 = fig.subplots(1, 2)
    assert regret_figure([runs[0]], ax=ax2) is fig
    assert not ax1.get_lines() and len(ax2.get_lines()) == 3


def test_overlay_one_colour_per_agent_one_style_per_run(runs):
    lines = _lines(regret_figure(list(runs)))
    assert list(lines) == [f"{a} · {r}" for r in ("a", "b (noise=0.5)")
                           for a in ("ucb", "eps", "ts")]
    for agent in ("ucb", "eps", "ts"):
        mine = [v for k, v in lines.items() if k.startswith(agent + " ")]
        assert len({m.get_color() for m in mine}) == 1
        assert len({m.get_linestyle() for m in mine}) == 2
    fig = regret_figure(list(runs))
    assert "noise" not in fig.axes[0].get_title() and "T = 400, R = 3" in fig.axes[0].get_title()


def test_normalize_divides_the_mean(runs):
    raw = _lines(regret_figure([runs[0]], include=["ucb"]))["ucb"]
    per_t = _lines(regret_figure([runs[0]], include=["ucb"], normalize="t"))["ucb"]
    np.testing.assert_allclose(per_t.get_ydata(), raw.get_ydata() / raw.get_xdata())
    log = _lines(regret_figure([runs[0]], include=["ucb"], normalize="log"))["ucb"]
    assert log.get_xdata().min() >= 2


def test_filters_slopes_and_unknown_agents(runs):
    labels = list(_lines(regret_figure([runs[0]], exclude=["eps"], slopes=True)))
    assert [lab.split(" (slope")[0] for lab in labels] == ["ucb", "ts"]
    assert all(" (slope " in lab for lab in labels)
    with pytest.raises(UsageError, match="no agent 'zz'.*ucb"):
        regret_figure([runs[0]], include=["zz"])


def test_per_round_columns_are_rolling_means_inside_their_range(runs):
    fig = regret_figure([runs[0]], column="propensity", band="sd", window=5)
    assert set(_lines(fig)) == {"ucb", "eps"}   # LinTS reports no propensity: not listed
    for band in fig.axes[0].collections:
        ys = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
        assert ys.min() >= 0.0 and ys.max() <= 1.0
    assert "rolling mean" in fig.axes[0].get_ylabel()


@pytest.mark.parametrize("band", ["sd", "quantiles", "none"])
def test_every_band_is_named(runs, band):
    texts = [t.get_text() for t in regret_figure([runs[0]], band=band).axes[0].get_legend()
             .get_texts()]
    assert any(t.startswith("band: ") for t in texts) == (band != "none")


def test_cli_options(runs, tmp_path):
    res = CliRunner().invoke(main, ["plot", str(runs[0]), str(runs[1]), "-o",
                                    str(tmp_path / "x.svg"), "--normalize", "sqrt",
                                    "--exclude", "eps,ts", "--slopes", "--band", "quantiles"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "x.svg").stat().st_size > 0
    bad = CliRunner().invoke(main, ["plot", str(runs[0]), "--include", "nobody"])
    assert bad.exit_code == 2 and "no agent 'nobody'" in bad.output


@pytest.fixture
def table():
    return pl.DataFrame({"agent": ["a"] * 3 + ["b"] * 3, "eta": [0.01, 0.1, 1.0] * 2,
                         "mean": [3.0, 2.0, 1.5, 4.0, 1.0, 0.5],
                         "ci95": [0.3, 0.2, None, 0.4, 0.1, 0.05]})


def _bars(ax):
    """Per errorbar container: its (x, y) and the half widths of its bars."""
    out = []
    for c in ax.containers:
        line, _, (bars,) = c.lines
        halves = [abs(seg[1, 1] - seg[0, 1]) / 2 for seg in bars.get_segments()]
        out.append((np.asarray(line.get_xdata(), float), line.get_ydata(), halves))
    return out


def test_parameter_figure_draws_into_the_given_axes(table):
    from matplotlib.figure import Figure

    fig = Figure()
    ax1, ax2 = fig.subplots(1, 2)
    assert parameter_figure(table, "eta", ax=ax2) is fig
    assert not ax1.containers and len(ax2.containers) == 2
    assert [t.get_text() for t in ax2.get_legend().get_texts()] == ["a", "b"]
    assert ax2.get_legend().get_title().get_text() == "error bars: 95% t-interval of the mean"


def test_parameter_figure_error_bars_are_the_half_widths(table):
    ax = parameter_figure(table, "eta").axes[0]
    (xa, ya, ha), (xb, yb, hb) = _bars(ax)
    np.testing.assert_allclose(xa, [0.01, 0.1, 1.0])
    np.testing.assert_allclose(ya, [3.0, 2.0, 1.5])
    np.testing.assert_allclose(ha, [0.3, 0.2, 0.0])     # one replicate: no interval, no bar
    np.testing.assert_allclose(hb, [0.4, 0.1, 0.05])


def test_parameter_figure_log_x_for_a_geometric_grid(table):
    assert parameter_figure(table, "eta").axes[0].get_xscale() == "log"
    even = table.with_columns(pl.Series("eta", [1.0, 2.0, 3.0] * 2))
    assert parameter_figure(even, "eta").axes[0].get_xscale() == "linear"
    assert parameter_figure(even, "eta", log_x=True).axes[0].get_xscale() == "log"


def test_parameter_figure_groups_markers_scatter_and_categories(table):
    kinds = table.with_columns(kind=pl.Series(["x", "y", "y", "x", "x", "y"]))
    ax = parameter_figure(kinds, "eta", marker_by="kind", line=False).axes[0]
    lines = {c.get_label(): c.lines[0] for c in ax.containers}
    assert list(lines) == ["a (x)", "a (y)", "b (x)", "b (y)"]
    assert lines["a (x)"].get_color() == lines["a (y)"].get_color() != lines["b (x)"].get_color()
    assert lines["a (x)"].get_marker() == lines["b (x)"].get_marker() != lines["a (y)"].get_marker()
    assert all(line.get_linestyle() == "None" for line in lines.values())
    cat = parameter_figure(table.with_columns(pl.col("eta").cast(pl.String)), "eta").axes[0]
    assert [t.get_text() for t in cat.get_xticklabels()] == ["0.01", "0.1", "1.0"]


def test_parameter_figure_missing_column_is_one_line(table):
    with pytest.raises(UsageError, match=r"^the table has no column 'gamma' to plot; its "
                       r"columns: agent, eta, mean, ci95$"):
        parameter_figure(table, "gamma")
    with pytest.raises(UsageError, match="no column 'lo'"):
        parameter_figure(table, "eta", half="lo")


def test_add_line_keeps_the_legend(runs, table):
    ax = regret_figure([runs[0]], include=["ucb"]).axes[0]
    add_line(ax, [1, 400], [1, 20], label="√t")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "ucb", "band: 95% t-interval of the mean", "√t"]
    ax = parameter_figure(table, "eta").axes[0]
    add_line(ax, [0.01, 1], [1, 2], label="ref")
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["a", "b", "ref"]
    assert legend.get_title().get_text().startswith("error bars: ")


def test_traces_floor_and_slope_range(runs):
    from_dir = _lines(regret_figure([runs[0]]))
    loaded = _lines(regret_figure([olearn.load(runs[0])]))
    assert sorted(loaded) == sorted(from_dir)
    np.testing.assert_allclose(loaded["ucb"].get_ydata(), from_dir["ucb"].get_ydata())
    floored = regret_figure([runs[0]], floor=5.0, log_y=True).axes[0]
    assert min(line.get_ydata().min() for line in floored.get_lines()) == 5.0
    assert all(p.vertices[:, 1].min() >= 5.0 for b in floored.collections for p in b.get_paths())
    t = np.arange(1.0, 101.0)
    lf = pl.LazyFrame({"agent": ["up"] * 200 + ["down"] * 200, "replicate": [0, 1] * 200,
                       "t": np.repeat(np.concatenate([t, t]), 2),
                       "regret": np.repeat(np.concatenate([t ** 0.5, 60 - t]), 2)})
    labels = list(_lines(regret_figure([lf], slopes=True, slope_from=10)))
    assert labels == ["down (slope n/a)", "up (slope 0.50)"]
