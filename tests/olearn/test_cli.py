from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from olearn.cli import main

SPEC = """
name = "cli"
horizon = 200
replicates = 2
[env]
id = "olearn/ContextualBandit-v0"
kwargs = { arms = 3, dim = 4 }
[[agents]]
label = "linucb"
id = "olearn/LinUCB-v0"
[[agents]]
label = "uniform"
id = "olearn/Uniform-v0"
"""


@pytest.fixture
def spec(tmp_path) -> Path:
    p = tmp_path / "spec.toml"
    p.write_text(SPEC)
    return p


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_simulate_prints_summary_and_paths_then_show_and_plot(spec):
    res = run("simulate", spec, "--out", "o")
    assert res.exit_code == 0, res.output
    assert "linucb" in res.output and "trace: o/trace" in res.output
    assert "plot:  o/regret.png" in res.output
    assert Path("o/regret.png").stat().st_size > 1000
    res = run("show", "o")
    assert res.exit_code == 0 and "status=complete" in res.output and "uniform" in res.output
    res = run("plot", "o", "o", "-o", "both.svg", "--log-x", "--log-y")
    assert res.exit_code == 0 and Path("both.svg").read_text().startswith("<?xml")


def test_flags_and_set_override_the_spec(spec):
    res = run("simulate", spec, "--out", "o", "--horizon", "50", "--replicates", "3", "--seed", "4",
              "--record-log", "5", "--set", "agents.linucb.kwargs.alpha=0.1", "-q", "--no-plot")
    assert res.exit_code == 0, res.output
    text = Path("o/spec.toml").read_text()
    assert "horizon = 50" in text and "alpha = 0.1" in text and "log = 5" in text


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "horizon=0"], "horizon must be a positive integer, got 0"),
    (["--set", "env.id='olearn/ContextualBandt-v0'"], "did you mean 'olearn/ContextualBandit-v0'"),
    (["--set", "agents.linucb.id='olearn/LinUBC-v0'"], "did you mean 'olearn/LinUCB-v0'"),
    (["--set", "agents.linucb.kwargs.alpah=1"],
     "unknown keyword 'alpah' for linucb (olearn/LinUCB-v0); did you mean 'alpha'"),
    (["--set", "agents.linucb.kwargs.alpha=-1"], "alpha must be a finite number >= 0.0, got -1"),
    (["--set", "env.kwargs.arms='many'"], "arms must be an integer >= 2"),
    (["--replicates", "0"], "replicates must be a positive integer"),
    (["--device", "tpu"], "device must be"),
])
def test_bad_input_is_one_line_exit_2(spec, args, message):
    res = run("simulate", spec, "--out", "o", "-q", *args)
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.output
    assert "Traceback" not in res.output
    assert not Path("o").exists()   # nothing left behind: the corrected spec runs without --force


def test_bad_input_keeps_an_empty_directory_the_user_made(spec):
    Path("o").mkdir()
    res = run("simulate", spec, "--out", "o", "-q", "--set", "env.kwargs.reward='cubic'")
    assert res.exit_code == 2 and "reward must be 'linear', 'quadratic' or 'cosine'" in res.output
    assert Path("o").is_dir() and not any(Path("o").iterdir())


def test_malformed_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[env\n")
    for target in (bad, tmp_path / "missing.toml"):
        res = run("simulate", target)
        assert res.exit_code == 2 and res.output.startswith("error: ")
        assert len(res.output.splitlines()) == 1


def test_existing_out_needs_force(spec):
    assert run("simulate", spec, "--out", "o", "-q", "--no-plot").exit_code == 0
    res = run("simulate", spec, "--out", "o", "-q")
    assert res.exit_code == 2 and "--force" in res.output
    assert run("simulate", spec, "--out", "o", "-q", "--force", "--no-plot").exit_code == 0


def test_listing_and_checks():
    res = run("envs")
    assert res.exit_code == 0 and "olearn/ContextualBandit-v0" in res.output
    res = run("agents")
    assert res.exit_code == 0 and "olearn/LinUCB-v0" in res.output and "Thompson" in res.output
    res = run("check", "env", "olearn/ContextualBandit-v0", "--kw", "arms=3")
    assert res.exit_code == 0 and "all checks passed" in res.output
    res = run("check", "agent", "olearn/LinTS-v0", "--env", "olearn/ContextualBandit-v0")
    assert res.exit_code == 0 and "all checks passed" in res.output
    res = run("check", "agent", "olearn/Nope-v0", "--env", "olearn/ContextualBandit-v0")
    assert res.exit_code == 2 and "unknown agent id" in res.output
