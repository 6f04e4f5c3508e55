"""olearn: online learning and bandits, replicates batched on one torch device.

Public surface: :func:`simulate`, :func:`load`, :class:`RunSpec`, :func:`register_agent`,
:func:`make_agent`, :func:`make_env`, :class:`BatchedAgent`, :class:`BatchedEnv`.

``import olearn`` registers the built-in environments (with gymnasium, so
``gymnasium.make("olearn/SEA-v0")`` works) and agents, and nothing heavier: the public names
load on first use, so the command line starts without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# the two registration points: id tables only, no env or agent module is imported here
import olearn.agents  # noqa: F401
import olearn.envs  # noqa: F401

if TYPE_CHECKING:
    # re-exports for type checkers; at run time __getattr__ loads them on first use
    from olearn.agent import BatchedAgent as BatchedAgent
    from olearn.registry import make_agent as make_agent
    from olearn.registry import make_env as make_env
    from olearn.registry import register_agent as register_agent
    from olearn.results import load as load
    from olearn.runner import RunResult as RunResult
    from olearn.runner import simulate as simulate
    from olearn.spec import RunSpec as RunSpec
    from olearn.vector import BatchedEnv as BatchedEnv

_LAZY = {
    "BatchedAgent": "olearn.agent",
    "BatchedEnv": "olearn.vector",
    "RunResult": "olearn.runner",
    "RunSpec": "olearn.spec",
    "load": "olearn.results",
    "load_agent": "olearn.saved",
    "make_agent": "olearn.registry",
    "make_env": "olearn.registry",
    "register_agent": "olearn.registry",
    "simulate": "olearn.runner",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'olearn' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
