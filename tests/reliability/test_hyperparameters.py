"""Every real hyperparameter of every built-in agent refuses inf and NaN (issue 13, item 8)."""

from __future__ import annotations

import inspect
import math

import pytest

from olearn.errors import SpecError
from olearn.registry import agent_registry, make_agent, make_env

DEFAULT_ENV = ("olearn/ContextualBandit-v0", {"arms": 3, "dim": 4})


def _cases():
    for agent_id, spec in sorted(agent_registry.items()):
        if not agent_id.startswith("olearn/"):
            continue
        cls = spec.load()
        for name, p in inspect.signature(cls.__init__).parameters.items():
            if isinstance(p.default, float) and not isinstance(p.default, bool):
                yield pytest.param(agent_id, cls, name, id=f"{agent_id}-{name}")


@pytest.mark.parametrize("value", [math.inf, math.nan])
@pytest.mark.parametrize(("agent_id", "cls", "name"), list(_cases()))
def test_real_hyperparameters_refuse_inf_and_nan(agent_id, cls, name, value):
    env_id, env_kwargs = getattr(cls, "test_env", DEFAULT_ENV)
    env = make_env(env_id, num_envs=1, kwargs=env_kwargs)
    with pytest.raises(SpecError, match=name):
        make_agent(agent_id, env.single_observation_space, env.single_action_space,
                   **{name: value})
