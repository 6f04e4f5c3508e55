"""olearn evaluate: saved agents play without learning; an ordinary run comes out."""

from __future__ import annotations

import json

import polars as pl
import torch
from click.testing import CliRunner

import olearn
from olearn.cli import main

SPEC = {"name": "tr", "horizon": 600, "replicates": 3, "seed": 4,
        "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 4, "dim": 5}},
        "agents": [{"label": "ucb", "id": "olearn/LinUCB-v0"},
                   {"label": "uniform", "id": "olearn/Uniform-v0"}]}


def _regret_at(out, t):
    df = olearn.load(out).filter(pl.col("t") == t).group_by("agent").agg(
        pl.col("regret").mean()).collect()
    return dict(df.iter_rows())


def test_frozen_trained_agents_beat_their_own_start_and_do_not_change(tmp_path):
    train = olearn.simulate(SPEC, out=tmp_path / "train", quiet=True)
    res = CliRunner().invoke(main, ["evaluate", str(train.out), "--out", "ev", "--horizon",
                                    "200", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["horizon"] == 200 and data["status"] == "complete"
    learning, frozen = _regret_at(train.out, 200), _regret_at(tmp_path / "ev", 200)
    assert frozen["ucb"] < 0.5 * learning["ucb"]   # what it learned, on the same stream
    assert frozen["uniform"] > 5 * frozen["ucb"]
    # learn = false: the evaluated agent is the saved one, unchanged
    probe = torch.randn(3, 5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(olearn.load_agent(train.out, "ucb").act(probe)[0],
                       olearn.load_agent(tmp_path / "ev", "ucb").act(probe)[0])


def test_bad_input_is_one_line(tmp_path):
    train = olearn.simulate(SPEC, out=tmp_path / "train", quiet=True)
    res = CliRunner().invoke(main, ["evaluate", str(train.out), "--agent", "ts", "--out", "e"])
    assert res.exit_code == 2 and "no saved agent 'ts'; saved agents: ucb, uniform" in res.output
    res = CliRunner().invoke(main, ["evaluate", str(train.out), "--env-kw", "dim=3",
                                    "--out", "e"])
    assert res.exit_code == 2 and "observation space" in res.output
    assert not (tmp_path / "e").exists()
