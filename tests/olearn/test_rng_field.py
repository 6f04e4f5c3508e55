"""The spec's rng reaches the components: fast and portable give other numbers on a CPU,
each reproducibly."""

from __future__ import annotations

import olearn

SPEC = {"name": "k", "horizon": 50, "replicates": 2, "record": {"every": 1},
        "env": {"id": "olearn/SEA-v0", "kwargs": {"dim": 3, "sigma": 0.5}},
        "agents": [{"label": "omd", "id": "olearn/OptimisticOMD-v0"}]}


def _regret(rng, tmp_path, name):
    spec = olearn.RunSpec.from_dict({**SPEC, "rng": rng})
    out = olearn.simulate(spec, out=tmp_path / name, quiet=True).out
    return olearn.load(out).sort("replicate", "t").collect()["regret"].to_list()


def test_spec_rng_is_used_by_the_run(tmp_path):
    portable, auto = _regret("portable", tmp_path, "p"), _regret("auto", tmp_path, "a")
    fast, again = _regret("fast", tmp_path, "f"), _regret("fast", tmp_path, "g")
    assert portable == auto          # auto is portable on a CPU
    assert fast == again and fast != portable
