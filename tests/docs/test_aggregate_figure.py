"""docs/aggregate_figure.py's study 3 summary: the table and the paired comparison (issue 15).

Synthetic per-replicate MSEs only (no run): the best interior ρ is the lowest mean strictly
between 0 and 1, k = 1 is left out of the comparison, and the paired intervals are Student-t
over the per-replicate differences.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats


@pytest.fixture(scope="module")
def script(doc_script):
    return doc_script("aggregate_figure")


def test_best_interior_rho_is_paired_against_both_pure_losses(script):
    rng = np.random.default_rng(0)
    reps, rhos = 7, [0.0, 0.1, 0.5, 1.0]
    base = rng.normal(0.8, 0.2, reps)              # shared per replicate: pairing removes it
    shift = {0.0: 0.05, 0.1: 0.0, 0.5: 0.02, 1.0: 0.2}
    rows = [("fixed", k, r, i, base[i] + shift[r] + 0.01 * rng.normal())
            for k in (1, 4) for r in rhos for i in range(reps)]
    df = pl.DataFrame(rows, schema=["bags", "k", "rho", "replicate", "mse"], orient="row")
    table, pairs = script.study3_tables(df)
    assert table.height == 8 and set(table["replicates"]) == {reps}
    assert pairs["k"].to_list() == [4] and pairs["best_rho"].to_list() == [0.1]
    one = df.filter(pl.col("k") == 4)
    for col, other in (("0", 0.0), ("1", 1.0)):
        d = (one.filter(pl.col("rho") == 0.1).sort("replicate")["mse"].to_numpy()
             - one.filter(pl.col("rho") == other).sort("replicate")["mse"].to_numpy())
        half = stats.t.ppf(0.975, reps - 1) * d.std(ddof=1) / np.sqrt(reps)
        assert pairs[f"d{col}"][0] == pytest.approx(d.mean())
        assert pairs[f"h{col}"][0] == pytest.approx(half)
    assert pairs["h0"][0] < 0.05                   # the shared replicate effect cancels
    widen = stats.t.ppf(1 - 0.025 / 2, reps - 1) / stats.t.ppf(0.975, reps - 1)
    assert pairs["candidates"][0] == 2
    assert pairs["h1_bonf"][0] == pytest.approx(pairs["h1"][0] * widen)
