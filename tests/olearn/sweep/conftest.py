"""Fixtures for the sweep tests: a small sweep spec on the linear contextual bandit."""

from __future__ import annotations

from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "faulty_agent.py"


def write_spec(path: Path, *, horizon: int = 300, grid: str = "", agents: str = "",
               extra: str = "") -> Path:
    """A sweep spec: LinUCB (and ``agents``) on a 3-arm bandit, a grid on alpha and seed."""
    path.write_text(f"""
name = "sw"
horizon = {horizon}
replicates = 2
device = "cpu"
{extra}
[record]
every = 10
[env]
id = "olearn/ContextualBandit-v0"
kwargs = {{ arms = 3, dim = 4 }}
[[agents]]
label = "ucb"
id = "olearn/LinUCB-v0"
{agents}
[sweep]
{grid or '"agents.ucb.kwargs.alpha" = [0.5, 2.0]' + chr(10) + 'seed = [0, 1]'}
""")
    return path


def faulty(label: str = "bad", **kwargs: object) -> str:
    kw = ", ".join(f"{k} = {v}" for k, v in kwargs.items())
    return (f'[[agents]]\nlabel = "{label}"\nid = "{PLUGIN}:FaultyUniform"\n'
            f"kwargs = {{ {kw} }}\n")


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    return write_spec(tmp_path / "sweep.toml")
