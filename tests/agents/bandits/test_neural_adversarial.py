"""Adversarial-context stress test for the neural IGW agents (issue 17, item 9).

The neural IGW papers (papers §3) prove their regret bounds for contexts chosen by an adversary,
with a fixed reward function the network can represent. Here the contexts come from an oblivious
adversary, ``ContextualBandit-v0`` with ``contexts="switching"``: the context distribution jumps
every ``switch_every = 100`` rounds between the two disjoint half-spheres ``x[0] > 0`` and
``x[0] < 0`` (ten abrupt switches in T = 1,000 rounds, every region revisited after 100 rounds in
the other one: an OGD-trained network must not forget). The reward is fixed and nonlinear,
``cos(3 θ_aᵀx)`` (K = 4, d = 5, noise 0.1), which a width-50 network can fit and a linear model
cannot.

What NeuSquareCB and NeuFastCB (defaults: perturbation c_p = 0.01, S = 4; hidden [50]) must earn
with fixed seeds (root seed 0, R = 4 replicates), against two weaker learners, LinUCB (linear:
misspecified) and uniform play:

* sublinear regret: the late growth exponent ``log2(R(T)/R(T/2))`` (1: linear, 0.5: √T),
  averaged over replicates, below 0.70;
* the weaker learners stay linear on this stream (exponent above 0.90): the test discriminates;
* final regret below 0.70× LinUCB's and 0.65× uniform play's.

Measured (T = 1,000, R = 4; final regret mean, exponent mean / replicate max), root seed 0 (the
one asserted) and, as a robustness check of the thresholds, seeds 1 and 2:

=============  ==================  ==================  ==================
agent          seed 0              seed 1              seed 2
=============  ==================  ==================  ==================
NeuSquareCB    233, 0.46 / 0.55    226, 0.48 / 0.57    219, 0.48 / 0.53
NeuFastCB      232, 0.46 / 0.60    226, 0.57 / 0.64    211, 0.47 / 0.56
LinUCB         449, 1.05 / 1.10    451, 1.02 / 1.08    423, 1.03 / 1.10
uniform        528, 0.98 / 1.03    499, 0.99 / 1.04    503, 1.00 / 1.04
=============  ==================  ==================  ==================

Ratios of final regret: to LinUCB 0.50–0.52, to uniform 0.42–0.45 (same agents frozen at
lr 1e-6, in a trial run: 477–538, exponent 0.93–0.97, no better than uniform). Margins at seed 0:
0.24 on the exponent, 0.18 on the LinUCB ratio, 0.21 on the uniform ratio; the weaker learners'
exponents are ≥ 0.08 above 0.90. For comparison, the same spec with i.i.d. contexts
(``contexts="sphere"``, seed 0): NeuSquareCB 239 (exponent 0.38), NeuFastCB 225 (0.42), LinUCB
465 (1.01), uniform 523 (0.98): the switches leave final regret unchanged and steepen the
neural agents' late curve a little (0.46 vs 0.38–0.42): no forgetting collapse. Cost: about 15 s
of CPU time (imports included); 6–9 s of test time in pytest, 45–75 s of wall time while the
2-core machine also ran the tuning study.
"""

from __future__ import annotations

import math

import polars as pl
import pytest

import olearn

HORIZON, REPLICATES, SWITCH_EVERY = 1000, 4, 100
NEURAL = ("NeuSquareCB", "NeuFastCB")


def _spec() -> dict:
    agents = [{"label": "uniform", "id": "olearn/Uniform-v0"},
              {"label": "LinUCB", "id": "olearn/LinUCB-v0"}]
    agents += [{"label": name, "id": f"olearn/{name}-v0",
                "kwargs": {"reward_range": [-1.0, 1.0], "hidden": [50]}} for name in NEURAL]
    return {"name": "neural-adversarial", "horizon": HORIZON, "replicates": REPLICATES,
            "seed": 0, "device": "cpu", "record": {"at": [HORIZON // 2]},
            "env": {"id": "olearn/ContextualBandit-v0",
                    "kwargs": {"arms": 4, "dim": 5, "reward": "cosine", "noise": 0.1,
                               "contexts": "switching", "switch_every": SWITCH_EVERY}},
            "agents": agents}


@pytest.mark.slow
def test_neural_igw_sublinear_under_switching_contexts(tmp_path):
    res = olearn.simulate(_spec(), out=tmp_path / "run", quiet=True)
    half = HORIZON // 2
    ends = (res.load().filter(pl.col("t").is_in([half, HORIZON]))
            .select("agent", "replicate", "t", "regret").collect()
            .pivot(on="t", index=["agent", "replicate"], values="regret"))
    assert ends.height == 4 * REPLICATES
    per = {r["agent"]: r for r in ends.group_by("agent").agg(
        pl.col(str(HORIZON)).mean().alias("final"),
        (pl.col(str(HORIZON)) / pl.col(str(half))).log(2).mean().alias("exponent"),
    ).iter_rows(named=True)}
    report = {a: (round(r["final"], 1), round(r["exponent"], 3)) for a, r in per.items()}
    for weak in ("LinUCB", "uniform"):   # the stream defeats the weaker learners
        assert per[weak]["exponent"] > 0.90, report
    for name in NEURAL:
        assert math.isfinite(per[name]["final"]), report
        assert per[name]["exponent"] < 0.70, report
        assert per[name]["final"] < 0.70 * per["LinUCB"]["final"], report
        assert per[name]["final"] < 0.65 * per["uniform"]["final"], report
