"""olearn: online learning and bandits, replicates batched on one torch device.

Public surface: :func:`simulate`, :func:`load`, :class:`RunSpec`, :func:`register_agent`,
:func:`make_agent`, :func:`make_env`.
"""

from __future__ import annotations

__version__ = "0.1.0"

from olearn.adapters import make_env
from olearn.registry import make_agent, register_agent
from olearn.runner import RunResult, simulate
from olearn.spec import RunSpec
from olearn.trace import load

__all__ = ["RunResult", "RunSpec", "load", "make_agent", "make_env", "register_agent", "simulate"]
