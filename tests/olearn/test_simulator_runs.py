"""Simulator agents under olearn.simulate get the simulator of the env that runs (reset), so
per-replicate instances, whose dynamics exist only after reset, work end to end."""

from __future__ import annotations

import polars as pl

import olearn
from olearn.registry import make_env
from olearn.seeding import replicate_seeds

KW = {"H": 3, "states": 3, "actions": 2, "d": 4, "instance": "per_replicate"}
SPEC = {"name": "pr", "horizon": 12, "replicates": 2,
        "env": {"id": "olearn/LinearMDP-v0", "kwargs": KW},
        "agents": [{"label": "lb", "id": "olearn/LogBarrierPO-v0"},
                   {"label": "ew", "id": "olearn/ExpWeightsPO-v0"}]}


def test_simulator_agents_run_on_per_replicate_instances(tmp_path):
    run = olearn.simulate(SPEC, out=tmp_path / "run", quiet=True)
    assert run.meta["status"] == "complete"
    calls = olearn.load(run.out).group_by("agent").agg(pl.col("sim_calls").max()).collect()
    assert (calls["sim_calls"] > 0).all()
    agent = olearn.load_agent(run.out, "lb")   # a saved planner gets its simulator back
    env = make_env("olearn/LinearMDP-v0", num_envs=2, kwargs=KW)
    obs, _ = env.reset(seed=replicate_seeds(0, "env", range(2)))
    policy, _ = agent.act(obs)
    assert tuple(policy.shape) == (2, 3, 3, 2)
