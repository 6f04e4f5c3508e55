"""Growth laws of papers §1.5 on SEA-v0, through the engine (``olearn.simulate``), fixed seeds."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

import olearn

pytestmark = pytest.mark.slow
_RUNS = itertools.count()


def _curves(env: dict, agents: dict, horizon: int, replicates: int = 8, seed: int = 0,
            column: str = "regret") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Mean ``column`` over replicates at log-spaced rounds, per agent label."""
    spec = {"name": "sea-test", "horizon": horizon, "replicates": replicates, "seed": seed,
            "record": {"log": 40}, "env": {"id": "olearn/SEA-v0", "kwargs": env},
            "agents": [{"label": k, "id": i, "kwargs": kw} for k, (i, kw) in agents.items()]}
    result = olearn.simulate(spec, out=f"run-{next(_RUNS)}", quiet=True)
    df = (result.load().group_by("agent", "t").agg(pl.col(column).mean()).sort("t").collect())
    out = {}
    for label in agents:
        part = df.filter(pl.col("agent") == label)
        out[label] = (part["t"].to_numpy(), part[column].to_numpy())
    return out


def _at(curve: tuple[np.ndarray, np.ndarray], t: int) -> float:
    ts, vs = curve
    return float(vs[np.searchsorted(ts, t)])


def _slope(curve: tuple[np.ndarray, np.ndarray], lo: int) -> float:
    ts, vs = curve
    keep = ts >= lo
    return float(np.polyfit(np.log(ts[keep]), np.log(vs[keep]), 1)[0])


OOMD = ("olearn/OptimisticOMD-v0", {"G": 2.5})


def test_static_convex_regret_is_flat():
    c = _curves({"dim": 5, "sigma": 0.0}, {"oomd": OOMD, "oftrl": ("olearn/OptimisticFTRL-v0", {})},
                4000, replicates=4)
    for label in ("oomd", "oftrl"):
        assert _at(c[label], 4000) == pytest.approx(_at(c[label], 100), abs=1e-9)
        assert 0.5 < _at(c[label], 4000) < 2.0


@pytest.mark.parametrize(("env", "seed"), [
    ({"dim": 5, "sigma": 0.1}, 0),
    ({"dim": 5, "sigma": 0.4}, 0),
    ({"dim": 5, "sigma": 0.0, "regime": "adversarial"}, 1),
])
def test_sqrt_t_growth_iid_and_adversarial(env, seed):
    c = _curves(env, {"oomd": OOMD}, 8000, replicates=16, seed=seed)
    assert 0.35 <= _slope(c["oomd"], 250) <= 0.65


def test_regret_scales_with_sigma_at_fixed_t():
    low = _curves({"dim": 5, "sigma": 0.1}, {"oomd": OOMD}, 2000)["oomd"]
    high = _curves({"dim": 5, "sigma": 0.4}, {"oomd": OOMD}, 2000)["oomd"]
    assert 2.5 < _at(high, 2000) / _at(low, 2000) < 5.0          # ×4 σ ⇒ ×3–4 regret


def test_strongly_convex_regret_is_logarithmic():
    agents = {"oomd": ("olearn/OptimisticOMD-v0", {"curvature": "strongly_convex"}),
              "oftl": ("olearn/OptimisticFTRL-v0", {"curvature": "strongly_convex"}),
              "ogd": ("olearn/OGD-v0", {"schedule": "inv_lambda_t"})}
    c = _curves({"dim": 5, "loss": "quadratic", "sigma": 0.5}, agents, 8000)
    for label in agents:
        assert _at(c[label], 8000) / _at(c[label], 500) < 2.0
        assert _at(c[label], 8000) > _at(c[label], 500)            # still learning, not frozen


def test_exp_concave_regret_is_logarithmic_and_bounded_without_noise():
    agent = {"ons": ("olearn/OptimisticOMD-v0", {"curvature": "exp_concave", "beta": 0.5})}
    env = {"dim": 4, "loss": "squared", "items": 40, "scale": 0.5}
    noisy = _curves({**env, "sigma": 0.1}, agent, 8000, replicates=16)["ons"]
    steps = [_at(noisy, 8000) - _at(noisy, 2000), _at(noisy, 2000) - _at(noisy, 500)]
    assert 0.5 < steps[0] / steps[1] < 1.5                          # equal increments per ×4
    # noise-free and realizable (θ inside the ball): every f_t is minimized at θ, so regret stops
    quiet = _curves({**env, "sigma": 0.0}, agent, 2000, replicates=4)["ons"]
    assert _at(quiet, 2000) - _at(quiet, 500) < 0.05 * _at(quiet, 500)


def test_ensemble_tracks_a_drifting_comparator():
    env = {"dim": 3, "sigma": 0.0, "regime": "drift", "drift_speed": 0.003, "track_dynamic": True}
    agents = {"ens": ("olearn/OptimisticOMDEnsemble-v0", {"horizon": 8000}),
              "ogd": ("olearn/OGD-v0", {})}
    c = _curves(env, agents, 8000, replicates=4, column="dynamic_regret")
    assert _at(c["ens"], 8000) < 0.5 * _at(c["ogd"], 8000)
    assert _slope(c["ens"], 500) < 0.8                              # sublinear in T
