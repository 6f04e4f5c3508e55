"""Contract tests over every registered olearn environment."""

from __future__ import annotations

import gymnasium as gym
import pytest

import olearn.envs  # noqa: F401  (registers)
from olearn.checks import check_env
from olearn.registry import load_object


def _env_params():
    for env_id, spec in sorted(gym.registry.items()):
        if env_id.startswith("olearn/"):
            cls = load_object(spec.vector_entry_point)
            for kwargs in getattr(cls, "_unit_test_kwargs", lambda: [{}])():
                yield pytest.param(env_id, kwargs, id=f"{env_id}-{kwargs}")


@pytest.mark.parametrize(("env_id", "kwargs"), list(_env_params()))
def test_env_contract(env_id, kwargs):
    assert check_env(env_id, kwargs) == []
