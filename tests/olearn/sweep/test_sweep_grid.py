"""Sweep specs: reading, expanding and validating grids before anything runs."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from olearn.cli import main
from olearn.errors import SpecError
from olearn.sweep.grid import _literal, check_grid, expand, parse_grid_flag, read_sweep, validate

BASE = {"horizon": 10, "env": {"id": "olearn/ContextualBandit-v0"},
        "agents": [{"label": "ucb", "id": "olearn/LinUCB-v0"}]}


def test_product_order_and_specs():
    tasks = expand(BASE, {"agents.ucb.kwargs.alpha": [0.1, 1.0], "env.kwargs.arms": [2, 3, 4]})
    assert [t.name for t in tasks] == [f"task-{i:04d}" for i in range(6)]
    assert [t.values["env.kwargs.arms"] for t in tasks] == [2, 3, 4, 2, 3, 4]
    assert tasks[4].spec["agents"][0]["kwargs"] == {"alpha": 1.0}
    assert tasks[4].spec["env"]["kwargs"] == {"arms": 3}
    assert "kwargs" not in BASE["agents"][0]   # the base is not modified


@pytest.mark.parametrize("value", [True, -3, 2.5e-7, "two words", "quote\"d", [1, "a"],
                                   {"k": [1, 2]}, float("inf")])
def test_literal_round_trips_through_set_syntax(value):
    from olearn.spec import _parse_value

    assert _parse_value(_literal(value)) == value


def test_grid_flags():
    assert parse_grid_flag("seed=0,1,2") == ("seed", [0, 1, 2])
    assert parse_grid_flag("env.kwargs.reward=linear,cosine") == (
        "env.kwargs.reward", ["linear", "cosine"])
    with pytest.raises(SpecError, match="KEY=V1,V2"):
        parse_grid_flag("seed")


@pytest.mark.parametrize(("grid", "match"), [
    ({}, "has no grid"),
    ({"seed": 3}, "non-empty list"),
    ({"seed": []}, "non-empty list"),
    ({"seed": [1, 1]}, "twice"),
    ({"bad key!": [1]}, "not a spec path"),
])
def test_bad_grids(grid, match):
    with pytest.raises(SpecError, match=match):
        check_grid(grid)


def test_validation_names_the_task_and_value():
    with pytest.raises(SpecError, match=r"task-0001 \(agents.ucb.kwargs.alpha=-1\).*alpha"):
        validate(expand(BASE, {"agents.ucb.kwargs.alpha": [1.0, -1]}))
    with pytest.raises(SpecError, match="unknown keyword 'alpah'"):
        validate(expand(BASE, {"agents.ucb.kwargs.alpah": [1.0]}))
    with pytest.raises(SpecError, match="horizon must be a positive integer"):
        validate(expand(BASE, {"horizon": [10, 0]}))
    with pytest.raises(SpecError, match="no list entry 'nope'"):
        expand(BASE, {"agents.nope.kwargs.alpha": [1.0]})


def test_command_line_grid_replaces_the_file(spec):
    base, grid = read_sweep(spec, grids=("seed=5,6,7",), sets=("horizon=20",))
    assert grid["seed"] == [5, 6, 7] and base["horizon"] == 20
    assert list(grid) == ["agents.ucb.kwargs.alpha", "seed"]


def test_cli_dry_run_lists_tasks_and_runs_nothing(spec, tmp_path):
    res = CliRunner().invoke(main, ["sweep", str(spec), "--dry-run", "--out", "s"])
    assert res.exit_code == 0, res.output
    assert res.output.count("task-") == 4
    assert "agents.ucb.kwargs.alpha=2.0, seed=1" in res.output
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(("args", "match"), [
    (["--grid", "agents.ucb.kwargs.alpha=-1"], "alpha must be"),
    (["--grid", "agents.ucb.kwargs.alpah=1"], "did you mean 'alpha'"),
    (["--grid", "agents.zz.kwargs.a=1"], "no list entry 'zz'"),
    (["--workers", "0"], "--workers must be a positive integer"),
    (["--address", "x:1"], "--address is for --backend ray"),
])
def test_cli_bad_input_is_one_line_exit_2(spec, tmp_path, args, match):
    res = CliRunner().invoke(main, ["sweep", str(spec), "--out", "s", *args])
    assert res.exit_code == 2, res.output
    assert match in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()
