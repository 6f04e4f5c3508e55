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
