"""Student-t 95% intervals of the mean: the quantile, the Polars expressions, the plot band and
the summary table (one replicate: no interval)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

import olearn
from olearn.cli import main
from olearn.metrics import final, mean_ci, t975

stats = pytest.importorskip("scipy.stats")


def test_t975_matches_scipy():
    dfs = [*range(1, 400), 500, 1000, 10_000, 10**6]
    err = max(abs(t975(df) - float(stats.t.ppf(0.975, df))) for df in dfs)
    assert err < 1e-6   # table to 30, Cornish-Fisher beyond (worst at df = 31)


def test_t975_edges():
    assert math.isnan(t975(0)) and t975(float("inf")) == pytest.approx(1.959964, abs=1e-6)
    assert t975(3) == pytest.approx(3.1824, abs=1e-4)        # the R = 4 case of issue #17


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8, 30, 31, 32, 40, 100, 1000])
def test_mean_ci_is_the_t_interval(n):
    x = np.random.default_rng(n).normal(size=n)
    out = pl.DataFrame({"g": [0] * n, "x": x}).group_by("g").agg(mean_ci("x"))
    half = stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n)
    assert out["ci95"][0] == pytest.approx(half, rel=1e-6)
    assert out["mean"][0] == pytest.approx(x.mean()) and out["replicates"][0] == n


def test_one_replicate_has_no_interval():
    lf = pl.LazyFrame({"agent": ["a", "a", "b"], "replicate": [0, 1, 0], "t": [5, 5, 5],
                       "regret": [1.0, 3.0, 2.0]})
    out = final(lf).collect()
    assert out["ci95"].to_list()[1] is None
    assert out["ci95"][0] == pytest.approx(stats.t.ppf(0.975, 1), rel=1e-9)  # sd/√2 = 1


SPEC = """
name = "ci"
horizon = 60
replicates = {r}
[env]
id = "olearn/ContextualBandit-v0"
kwargs = {{ arms = 3, dim = 4 }}
[[agents]]
label = "uniform"
id = "olearn/Uniform-v0"
"""


def _simulate(tmp_path, replicates: int):
    spec = tmp_path / f"spec{replicates}.toml"
    spec.write_text(SPEC.format(r=replicates))
    out = tmp_path / f"r{replicates}"
    res = CliRunner().invoke(main, ["simulate", str(spec), "--out", str(out), "--no-plot"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return out, res.output


@pytest.mark.parametrize("replicates", [1, 4])
def test_summary_prints_t_interval_or_na(tmp_path, replicates):
    out, text = _simulate(tmp_path, replicates)
    assert "95% t-CI" in text
    if replicates == 1:
        assert "n/a" in text and "± 0.00" not in text
    else:
        row = final(olearn.load(out)).collect()
        assert f"± {row['ci95'][0]:.2f}" in text and "n/a" not in text


@pytest.mark.parametrize("replicates", [1, 4])
def test_plot_band_is_labelled_and_absent_for_one_replicate(tmp_path, replicates):
    from olearn.plot import BAND_LABEL, regret_figure

    out, _ = _simulate(tmp_path, replicates)
    (ax,) = regret_figure([out]).axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    bands = [c for c in ax.collections if c.get_paths()]
    if replicates == 1:
        assert labels == ["uniform"] and not bands
    else:
        assert labels == ["uniform", BAND_LABEL] and len(bands) == 1
