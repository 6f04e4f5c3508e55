"""One trace schema per run: any Parquet reader reads every column of every agent, no options."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import torch

import olearn
from olearn.errors import AgentError, EnvError, SpecError
from olearn.registry import register_agent
from olearn.trace import TraceSchema, schedule

duckdb = pytest.importorskip("duckdb")

K = 4
CB = {"name": "cb", "horizon": 90, "replicates": 3, "seed": 7, "record": {"every": 1, "chunk": 40},
      "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": K, "dim": 5}},
      "agents": [{"label": "linucb", "id": "olearn/LinUCB-v0"},
                 {"label": "squarecb", "id": "olearn/SquareCB-v0"},
                 {"label": "uniform", "id": "olearn/Uniform-v0"}]}
OCO = {"name": "oco", "horizon": 70, "replicates": 2, "seed": 3,
       "record": {"every": 2, "chunk": 15},
       "env": {"id": "olearn/SEA-v0", "kwargs": {"dim": 3}},
       "agents": [{"label": "ogd", "id": "olearn/OGD-v0"},
                  {"label": "ensemble", "id": "olearn/OptimisticOMDEnsemble-v0"}]}


def _sorted(df: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    df = df.with_columns(pl.col("agent").cast(pl.String)).select(columns)
    return df.sort("agent", "replicate", "t")


READERS = {
    "polars": lambda out, glob: pl.scan_parquet(glob, hive_partitioning=True).collect(),
    "duckdb": lambda out, glob: duckdb.sql(
        f"select * from read_parquet('{glob}', hive_partitioning=true)").pl(),
    "pyarrow.dataset": lambda out, glob: pl.from_arrow(
        ds.dataset(out / "trace", partitioning="hive").to_table()),
    "pyarrow.parquet": lambda out, glob: pl.from_arrow(pq.read_table(out / "trace")),
}
"""The whole trace as each reader sees it, with no options beyond hive partitioning."""



@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("readers")
    return {spec["name"]: olearn.simulate(spec, out=root / spec["name"], quiet=True).out
            for spec in (CB, OCO)}


@pytest.mark.parametrize("spec", [CB, OCO], ids=["bandit", "oco"])
def test_every_part_has_the_run_schema(runs, spec):
    out = runs[spec["name"]]
    ref = olearn.load(out).collect()
    schema = json.loads((out / "meta.json").read_text())["trace_schema"]
    assert ref.columns == ["agent", *schema["columns"]]
    keys = schema["act_info"]
    assert len({tuple(v) for v in keys.values()}) == 2, "the agents must report different keys"
    parts = sorted((out / "trace").rglob("*.parquet"))
    assert len(parts) >= 3 * len(spec["agents"])
    assert len({str(pq.read_schema(p)) for p in parts}) == 1   # same columns, order, dtypes
    assert pq.read_schema(parts[0]).names == list(schema["columns"])
    rounds = len(schedule(spec["horizon"], every=spec["record"]["every"]))
    assert ref.height == len(spec["agents"]) * spec["replicates"] * rounds
    # an agent's own keys have values; the other agents' keys are null for it
    for label, mine in keys.items():
        rows = ref.filter(pl.col("agent") == label)
        for col in {k for v in keys.values() for k in v}:
            assert rows[col].null_count() == (0 if col in mine else rows.height), (label, col)


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("spec", [CB, OCO], ids=["bandit", "oco"])
def test_every_reader_sees_every_column_with_no_options(runs, spec, reader):
    out = runs[spec["name"]]
    ref = olearn.load(out).collect()
    df = READERS[reader](out, str(out / "trace" / "**" / "*.parquet"))
    assert sorted(df.columns) == sorted(ref.columns)
    got, expected = _sorted(df, ref.columns), _sorted(ref, ref.columns)
    assert got.schema == expected.schema
    assert got.equals(expected)


def test_action_and_propensity_are_logged_bandit_feedback():
    df = olearn.simulate(CB, out="run", quiet=True).load().collect().sort("agent", "replicate", "t")
    assert df.schema["action"] == pl.Int64 and df.schema["propensity"] == pl.Float64
    assert df["action"].null_count() == 0 and df["action"].is_between(0, K - 1).all()
    uniform = df.filter(pl.col("agent") == "uniform")
    assert uniform["propensity"].to_numpy() == pytest.approx(1 / K, rel=1e-6)
    assert (df.filter(pl.col("agent") == "linucb")["propensity"] == 1.0).all()
    square = df.filter(pl.col("agent") == "squarecb")["propensity"]
    assert square.null_count() == 0 and ((square > 0) & (square <= 1)).all()
    # the action column is the arm played: regret grows exactly when it is not the best arm
    increment = pl.col("regret").diff().over("agent", "replicate").fill_null(pl.col("regret"))
    played_best = df.select(increment.alias("inc"),
                            (pl.col("action") == pl.col("best_arm")).alias("b"))
    assert (played_best.filter(pl.col("b"))["inc"] == 0).all()
    assert (played_best.filter(~pl.col("b"))["inc"] > 0).all()
    # the uniform agent's arms are spread over all K arms
    assert sorted(uniform["action"].unique().to_list()) == list(range(K))


def test_oco_actions_get_no_action_column():
    df = olearn.simulate(OCO, out="run", quiet=True).load().collect()
    assert "action" not in df.columns and "propensity" not in df.columns
    assert {"eta", "meta_lr", "loss", "comparator_cum_loss"} <= set(df.columns)


class LateKey:
    """Batched agent: arm 0; reports ``late`` from round 10 on (declared, or not)."""

    vectorized = True
    info_keys: tuple[str, ...] | None = ("propensity", "late")

    def __init__(self, observation_space, action_space):
        self.t = 0

    def reset(self, *, seeds, device):
        self.r, self.t = len(seeds), 0

    def act(self, obs):
        self.t += 1
        info = {"propensity": torch.ones(self.r)}
        if self.t >= 10:
            info["late"] = torch.full((self.r,), float(self.t))
        return torch.zeros(self.r, dtype=torch.long), info

    def update(self, step):
        pass


class LateUndeclared(LateKey):
    info_keys = None


def test_a_declared_key_that_shows_up_later_is_a_column():
    register_agent("test/LateKey-v0", LateKey)
    spec = {**CB, "agents": [{"label": "ucb", "id": "olearn/LinUCB-v0"},
                             {"label": "late", "id": "test/LateKey-v0"}]}
    df = olearn.simulate(spec, out="run", quiet=True).load().collect()
    df = df.sort("agent", "replicate", "t")
    late = df.filter(pl.col("agent") == "late")
    assert late.filter(pl.col("t") < 10)["late"].null_count() == 3 * 9
    assert late.filter(pl.col("t") >= 10)["late"].to_list() == [float(t) for t in range(10, 91)] * 3
    assert df.filter(pl.col("agent") == "ucb")["late"].null_count() == 3 * 90


def test_an_undeclared_key_that_shows_up_later_stops_the_run_naming_it():
    register_agent("test/LateUndeclared-v0", LateUndeclared)
    spec = {**CB, "agents": [{"label": "late", "id": "test/LateUndeclared-v0"}]}
    with pytest.raises(AgentError, match=r"round 10: agent 'late'.*act_info\['late'\].*info_keys"):
        olearn.simulate(spec, out="run", quiet=True)


class PlainArms(gym.Env):
    """A plain gymnasium env (no declarations); ``gap`` joins the oracle from round 5."""

    def __init__(self):
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.ones(1, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        oracle = {"regret": 0.5 * (1 - action), "best_arm": 1}
        if self.t >= 5:
            oracle["gap"] = 0.5
        return np.ones(1, dtype=np.float32), float(action), False, False, {"oracle": oracle}


class PlainArmsDeclared(PlainArms):
    oracle_keys = {"regret": "float64", "best_arm": "int64", "gap": "float64"}


class SingleAgent:
    """A single-replicate agent (numpy), no declarations: alternates arms."""

    def __init__(self, observation_space, action_space):
        self.n = 0

    def act(self, obs):
        self.n += 1
        return self.n % 2, {"propensity": 0.5, "parity": self.n % 2}

    def update(self, step):
        pass


def test_undeclared_plugins_are_probed_and_a_later_oracle_key_is_refused():
    register_agent("test/SingleAgent-v0", SingleAgent)
    spec = {**CB, "horizon": 20, "env": {"id": f"{__name__}:PlainArmsDeclared"},
            "agents": [{"label": "single", "id": "test/SingleAgent-v0"},
                       {"label": "uniform", "id": "olearn/Uniform-v0"}]}
    df = olearn.simulate(spec, out="declared", quiet=True).load().collect()
    assert df.schema["best_arm"] == pl.Int64 and df.schema["parity"] == pl.Int64  # probed
    single = df.filter(pl.col("agent") == "single").sort("replicate", "t")
    assert single["action"].to_list() == [t % 2 for t in range(1, 21)] * 3
    assert single["propensity"].to_list() == [0.5] * 60
    assert single.filter(pl.col("t") < 5)["gap"].null_count() == 12
    assert df.filter(pl.col("agent") == "uniform")["parity"].null_count() == 60
    with pytest.raises(EnvError, match=r"round 5: info\['oracle'\]\['gap'\].*oracle_keys"):
        olearn.simulate({**spec, "env": {"id": f"{__name__}:PlainArms"}}, out="plain", quiet=True)


def test_a_resumed_run_keeps_the_stored_schema():
    out = olearn.simulate(CB, out="run", quiet=True).out
    meta = json.loads((out / "meta.json").read_text())
    meta["trace_schema"]["columns"]["extra"] = "float64"   # as if the first agents had it
    meta["agents"].pop("uniform")
    meta["status"] = "running"
    (out / "meta.json").write_text(json.dumps(meta))
    for p in (out / "trace" / "agent=uniform").iterdir():
        p.unlink()
    olearn.simulate(CB, out="run", quiet=True, resume=True)
    part = pq.read_schema(next((out / "trace" / "agent=uniform").glob("*.parquet")))
    assert part.names[-1] == "extra" and part.names == list(meta["trace_schema"]["columns"])


def test_column_names_that_differ_only_in_case_are_refused():
    with pytest.raises(SpecError, match="differ only in case"):
        TraceSchema.build({"sigma2_cum": "float64", "Sigma2_cum": "float64"}, {}, discrete=False)
