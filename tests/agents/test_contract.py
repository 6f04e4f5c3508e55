"""Contract tests over every registered agent and its unit-test parameters."""

from __future__ import annotations

import pytest

import olearn.agents  # noqa: F401  (registers)
from olearn.checks import check_agent
from olearn.registry import agent_registry

DEFAULT_ENV = ("olearn/ContextualBandit-v0", {"arms": 3, "dim": 4})


def _agent_params():
    for agent_id, spec in sorted(agent_registry.items()):
        if not agent_id.startswith("olearn/"):
            continue
        cls = spec.load()
        env_id, env_kwargs = getattr(cls, "test_env", DEFAULT_ENV)
        for kwargs in cls._unit_test_params():
            yield pytest.param(agent_id, kwargs, env_id, env_kwargs, id=f"{agent_id}-{kwargs}")


@pytest.mark.parametrize(("agent_id", "kwargs", "env_id", "env_kwargs"), list(_agent_params()))
def test_agent_contract(agent_id, kwargs, env_id, env_kwargs):
    assert check_agent(agent_id, env_id, env_kwargs=env_kwargs, kwargs=kwargs) == []


def _oco_agents() -> list[str]:
    """Agents whose test environment has points of a set (not arms) as actions."""
    return [agent_id for agent_id, spec in sorted(agent_registry.items())
            if agent_id.startswith("olearn/")
            and getattr(spec.load(), "test_env", DEFAULT_ENV)[0] == "olearn/SEA-v0"]


@pytest.mark.parametrize("env_kwargs", [
    {"dim": 3, "domain": "simplex"},
    {"dim": 2, "radius": 2.0, "loss": "quadratic", "regime": "adversarial"},
], ids=["simplex", "ball-radius-2"])
@pytest.mark.parametrize("agent_id", _oco_agents())
def test_oco_agents_play_points_of_every_domain(agent_id, env_kwargs):
    """Actions are checked with the env's single action space (a BallSpace or SimplexSpace)."""
    assert check_agent(agent_id, "olearn/SEA-v0", env_kwargs=env_kwargs) == []


def test_oco_agents_are_found():
    assert "olearn/OGD-v0" in _oco_agents() and len(_oco_agents()) >= 3
