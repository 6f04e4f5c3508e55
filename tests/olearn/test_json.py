"""--json: the summaries of simulate and show parse as JSON and agree with the trace."""

from __future__ import annotations

import json

from click.testing import CliRunner

import olearn
from olearn.cli import main
from olearn.metrics import final

SPEC = """
name = "j"
horizon = 200
replicates = {r}
[env]
id = "olearn/ContextualBandit-v0"
kwargs = {{ arms = 3, dim = 4 }}
[[agents]]
label = "ucb"
id = "olearn/LinUCB-v0"
"""


def test_simulate_and_show_json(tmp_path):
    (tmp_path / "s.toml").write_text(SPEC.format(r=3))
    res = CliRunner().invoke(main, ["simulate", "s.toml", "--out", "o", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    row = final(olearn.load(tmp_path / "o")).collect().row(0, named=True)
    (agent,) = data["agents"]
    assert agent["agent"] == "ucb" and agent["mean"] == row["mean"]
    assert agent["ci95"] == row["ci95"] and agent["rounds_per_s"] > 0
    assert data["status"] == "complete" and data["plot"].endswith("regret.png")
    shown = json.loads(CliRunner().invoke(main, ["show", "o", "--json"]).stdout)
    assert shown == data


def test_one_replicate_has_a_null_interval(tmp_path):
    (tmp_path / "s.toml").write_text(SPEC.format(r=1))
    res = CliRunner().invoke(main, ["simulate", "s.toml", "--out", "o", "--json", "--no-plot"])
    (agent,) = json.loads(res.stdout)["agents"]
    assert agent["ci95"] is None and json.loads(res.stdout)["plot"] is None
