from __future__ import annotations

import json
import shutil

import numpy as np
import polars as pl
import pytest
import torch

import olearn
from olearn.errors import AgentError, EnvError, OlearnError
from olearn.trace import Recorder, TraceSchema, TraceWriter, schedule


def test_schedule_always_includes_horizon():
    assert schedule(7, every=3).tolist() == [3, 6, 7]
    pts = schedule(100_000, log=50)
    assert pts[0] == 1 and pts[-1] == 100_000 and len(pts) <= 50 and np.all(np.diff(pts) > 0)


@pytest.mark.parametrize("settle", [1, 2, 256])
def test_recorder_round_trip(tmp_path, settle):
    w = TraceWriter(tmp_path / "trace" / "agent=x")
    rec = Recorder(w, [5, 6], rows=2, settle=settle)
    rec.columns(["regret", "reward", "cum_reward", "best_arm"])
    for t in (1, 2, 3):
        rec.record(t, (torch.tensor([t, 10.0 * t], dtype=torch.float64), torch.tensor([0.5, 1.5]),
                       torch.zeros(2), torch.tensor([1, 2])))
        if rec.full:
            rec.flush()
    rec.flush()
    w.close()
    assert sorted(p.name for p in (tmp_path / "trace" / "agent=x").iterdir()) == [
        "part-00000.parquet", "part-00001.parquet"]
    df = olearn.load(tmp_path).collect().sort("replicate", "t")
    assert df["agent"].unique().to_list() == ["x"]
    assert df["replicate"].to_list() == [5, 5, 5, 6, 6, 6]
    assert df["regret"].to_list() == [1, 2, 3, 10, 20, 30]
    assert df["reward"].to_list() == [0.5] * 3 + [1.5] * 3
    assert df.schema["best_arm"] == pl.Int64 and df.schema["reward"] == pl.Float64


def test_recorder_finds_the_first_nonfinite_row(tmp_path):
    rec = Recorder(TraceWriter(tmp_path), [0, 1, 2], rows=10, settle=3)
    rec.columns(["regret", "cum_reward"])
    rec.last_t = 4
    for t, bad in ((10, None), (20, 2), (30, 1)):
        regret = torch.zeros(3, dtype=torch.float64)
        if bad is not None:
            regret[bad] = float("nan")
        rec.record(t, (regret, torch.zeros(3, dtype=torch.float64)))
    assert rec.first_nonfinite(("regret", "cum_reward")) == (10, 20, 2)


def test_truncate_drops_parts_after_checkpoint(tmp_path):
    w = TraceWriter(tmp_path)
    for _ in range(3):
        w.write(pl.DataFrame({"t": [1]}))
    (tmp_path / "part-00003.parquet.tmp").write_text("half written")
    TraceWriter(tmp_path, next_part=1).truncate()
    assert [p.name for p in tmp_path.iterdir()] == ["part-00000.parquet"]


def test_load_explains_a_missing_trace(tmp_path):
    with pytest.raises(OlearnError, match="no trace parts"):
        olearn.load(tmp_path)


def test_background_writes_keep_order_and_report_failures(tmp_path):
    w = TraceWriter(tmp_path / "a", in_flight=1)
    for i in range(5):
        w.submit(pl.DataFrame({"t": [i]}))
    w.wait()
    parts = sorted((tmp_path / "a").glob("part-*.parquet"))
    assert [pl.read_parquet(p)["t"][0] for p in parts] == list(range(5))
    shutil.rmtree(tmp_path / "a")
    w.submit(pl.DataFrame({"t": [9]}))
    with pytest.raises(FileNotFoundError):
        w.close()


SCHEMA = {"replicate": "int64", "t": "int64", "regret": "float64", "late": "float64",
          "flag": "bool", "never": "int64"}


@pytest.mark.parametrize("settle", [1, 2, 256])
def test_recorder_writes_the_schema_with_nulls(tmp_path, settle):
    """Every part has the schema's columns in order; None values and unrecorded columns are null."""
    w = TraceWriter(tmp_path / "trace" / "agent=x")
    rec = Recorder(w, [5, 6], rows=3, settle=settle)
    rec.columns(["regret", "flag", "late"], SCHEMA)
    for t in range(1, 6):
        late = torch.tensor([t, -t], dtype=torch.float32) if t in (3, 5) else None
        rec.record(t, (torch.tensor([t, 10.0 * t], dtype=torch.float64),
                       torch.tensor([t % 2 == 0, True]), late))
        if rec.full:
            rec.flush()
    rec.flush()
    w.close()
    parts = sorted((tmp_path / "trace" / "agent=x").iterdir())
    assert len(parts) == 2
    for p in parts:
        assert pl.read_parquet_schema(p) == {"replicate": pl.Int64, "t": pl.Int64,
                                             "regret": pl.Float64, "late": pl.Float64,
                                             "flag": pl.Boolean, "never": pl.Int64}
    df = olearn.load(tmp_path).collect().sort("replicate", "t")
    assert df["late"].to_list() == [None, None, 3.0, None, 5.0, None, None, -3.0, None, -5.0]
    assert df["never"].null_count() == 10
    assert df["flag"].to_list() == [False, True, False, True, False] + [True] * 5
    assert df["regret"].to_list() == [1, 2, 3, 4, 5, 10, 20, 30, 40, 50]


def test_recorder_refuses_a_column_outside_its_schema(tmp_path):
    rec = Recorder(TraceWriter(tmp_path), [0], rows=1)
    with pytest.raises(OlearnError, match="no column 'other'"):
        rec.columns(["regret", "other"], SCHEMA)


def test_schema_is_the_union_and_round_trips_through_json():
    s = TraceSchema.build({"regret": "float64", "best_arm": "int64", "probs": None},
                          {"a": {"propensity": "float64", "n": "int64"},
                           "b": {"n": "float64", "w": "bool", "vec": None}, "c": {}},
                          discrete=True)
    assert list(s.columns) == ["replicate", "t", "regret", "reward", "cum_reward", "action",
                               "propensity", "best_arm", "n", "w"]
    assert s.columns["n"] == "float64"          # int64 in one agent, float64 in another
    assert s.oracle == ("best_arm",) and s.act_info == {"a": ("propensity", "n"), "b": ("n", "w"),
                                                        "c": ()}
    assert TraceSchema.from_json(json.loads(json.dumps(s.to_json()))) == s
    oco = TraceSchema.build({"loss": "float64"}, {"a": {"eta": "float64"}}, discrete=False)
    assert "action" not in oco.columns and "propensity" not in oco.columns


def test_schema_refuses_clashing_names_and_unknown_dtypes():
    with pytest.raises(AgentError, match="agent 'a' reports act_info\\['best_arm'\\].*oracle"):
        TraceSchema.build({"best_arm": "int64"}, {"a": {"best_arm": "int64"}}, discrete=True)
    with pytest.raises(AgentError, match="'t'.*trace column of the loop; rename"):
        TraceSchema.build({}, {"a": {"t": "int64"}}, discrete=True)
    with pytest.raises(EnvError, match="'reward'.*rename"):
        TraceSchema.build({"reward": "float64"}, {}, discrete=True)
    with pytest.raises(AgentError, match="dtype 'float32'; use one of float64, int64, bool"):
        TraceSchema.build({}, {"a": {"x": "float32"}}, discrete=True)
