"""Simulator access: an environment may lend agents a generative model of its dynamics.

Some learners (policy optimization in adversarial MDPs with a simulator, papers §2.2) may
draw trajectories of *any* policy from the true dynamics at no regret cost, besides the one
episode they play per round. The contract is small and general, not tied to one family:

* an environment that offers one defines ``simulator()`` returning an object with
  ``rollouts(policy, noise) -> dict[str, Tensor]`` (trajectories of ``policy`` for all
  replicates at once: states and actions only, never losses or anything the oracle knows) and
  ``noise_shape(n) -> tuple[int, ...]``, the shape of the caller's uniform noise for ``n``
  trajectories per replicate. The simulator is a pure function of its inputs: the randomness
  is the *caller's* (drawn from the agent's own per-replicate streams), so a seeded agent
  replays exactly and ``reset`` restores it;
* an agent that needs one sets the class attribute ``needs_simulator = True`` and defines
  ``attach_simulator(sim)``; the engine calls it once, after building the agent and before
  ``reset`` (:func:`attach_simulators`, used by :func:`olearn.runner.build` and
  :func:`olearn.checks.check_agent`). Agents count their own calls and trajectories and
  report them per replicate in ``act_info`` (a trace column);
* an agent that needs a simulator on an environment without one fails before round 1 with a
  one-line :class:`olearn.errors.SpecError` (exit code 2); agents that need none get no handle.

Examples
--------
>>> class Env:
...     def simulator(self):
...         return "sim"
>>> class Agent:
...     needs_simulator = True
...     def attach_simulator(self, sim):
...         self.sim = sim
>>> a = Agent()
>>> attach_simulators(Env(), [a, object()])
>>> a.sim
'sim'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from olearn.errors import SpecError

__all__ = ["Simulator", "attach_simulators", "needs_simulator"]


@runtime_checkable
class Simulator(Protocol):
    """What ``env.simulator()`` returns."""

    def noise_shape(self, n: int) -> tuple[int, ...]:
        """Shape of the uniform ``[0, 1)`` noise :meth:`rollouts` needs for ``n`` trajectories."""

    def rollouts(self, policy: Any, noise: Any) -> dict[str, Any]:
        """Trajectories of ``policy`` (one per replicate) driven by ``noise``."""


def needs_simulator(agent: Any) -> bool:
    """Whether ``agent`` (or the single-replicate agent an adapter wraps) asks for a simulator."""
    inner = getattr(agent, "inner", agent)
    return bool(getattr(inner, "needs_simulator", False))


def attach_simulators(env: Any, agents: Iterable[Any]) -> None:
    """Hand ``env.simulator()`` to every agent that declares ``needs_simulator = True``."""
    sim = None
    for agent in agents:
        if not needs_simulator(agent):
            continue
        if sim is None:
            make = getattr(env, "simulator", None)
            if make is None:
                msg = (f"{type(getattr(agent, 'inner', agent)).__name__} needs a simulator, but "
                       f"the environment {type(env).__name__} offers none (no simulator() "
                       "method); use a simulator-free agent")
                raise SpecError(msg)
            sim = make()
        getattr(agent, "inner", agent).attach_simulator(sim)
