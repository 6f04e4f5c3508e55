"""The common base of the online convex optimization agents, and an index of their pieces.

An optimistic method is a composition of small pieces with explicit state (frozen objects
holding hyperparameters; NamedTuple states; pure ``init``/``update``/``value`` functions, in
the manner of Optax), not one class per combination:

* hints ``M_t`` (:mod:`olearn.agents.oco.hints`): :class:`LastGradient`, :class:`ZeroHint`,
  :class:`MeanGradient`;
* step-size schedules ``η_t`` (:mod:`olearn.agents.oco.schedules`): :class:`Constant`,
  :class:`InvSqrt`, :class:`InvLambdaT`, :class:`AdaptiveOOMD`, :class:`SachsFTRL`;
* regularizer schedules ``ψ_t`` (:mod:`olearn.agents.oco.regularizers`): a mirror map scaled
  by a schedule (:class:`ScaledMirror`), the online-Newton metric (:class:`OnlineNewton`),
  strongly convex surrogates (:class:`SurrogateLeader`).

Delayed feedback: everything an update needs from the round it belongs to travels in that
round's ``act_info`` (``eta``, and the hint under the private key ``"_m"``), so a gradient
that arrives ``d`` rounds late is paired with its own round's hint and step size, never with
those of the latest ``act``. Keys starting with ``"_"`` are not trace columns and are not
declared in ``info_keys``.

Examples
--------
>>> import torch
>>> sched = AdaptiveOOMD(D=2.0, G=1.0, delta=0.0)
>>> state = sched.init(1, 1, torch.device("cpu"))
>>> float(sched.value(state, 1)[0])
1.0
>>> state = sched.update(state, torch.tensor([[0.0]]), torch.tensor([[0.0]]), None)
>>> float(sched.value(state, 2)[0])
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import torch
from torch import Tensor

from olearn.agent import BatchedAgent
from olearn.agents.oco.hints import HINTS, Hint, LastGradient, MeanGradient, ZeroHint, make_hint
from olearn.agents.oco.regularizers import OnlineNewton, Regularizer, ScaledMirror, SurrogateLeader
from olearn.agents.oco.schedules import (
    AdaptiveOOMD,
    Constant,
    InvLambdaT,
    InvSqrt,
    SachsFTRL,
    Schedule,
)
from olearn.spaces import domain_of
from olearn.types import Step

__all__ = ["DELAYED_STEPS", "HINTS", "AdaptiveOOMD", "Constant", "Hint", "InvLambdaT", "InvSqrt",
           "LastGradient", "MeanGradient", "OCOAgent", "OnlineNewton", "Regularizer",
           "SachsFTRL", "ScaledMirror", "Schedule", "SurrogateLeader", "ZeroHint", "make_hint"]

#: which step size a delayed gradient step uses: its own round's or the latest act's
DELAYED_STEPS = ("own", "current")


class OCOAgent(BatchedAgent):
    """Common part of the online convex optimization agents: domain and constants ``D``, ``G``.

    The decision set comes from the action space (:func:`olearn.spaces.domain_of`);
    observations are ignored; feedback must carry ``grad`` (R, d).
    """

    test_env: ClassVar[tuple[str, dict[str, Any]]] = ("olearn/SEA-v0", {"dim": 3, "sigma": 0.1})
    info_keys: ClassVar[tuple[str, ...]] = ("eta",)

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        super().__init__(observation_space, action_space)
        self._domain = domain_of(action_space, type(self).__name__)
        self.dim = self._domain.dim

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        self._t = 0

    def _grad(self, step: Step) -> Tensor:
        g = step.feedback.get("grad") if isinstance(step.feedback, dict) else None
        if g is None:
            msg = (f"{type(self).__name__} needs the gradient in info['feedback']['grad']; "
                   "use an online convex optimization env such as olearn/SEA-v0")
            raise ValueError(msg)
        return torch.as_tensor(g, device=self.device).to(torch.float64)

    def _own(self, step: Step, key: str) -> Tensor:
        """``step.act_info[key]``: what the step's own round acted with."""
        info = step.act_info if isinstance(step.act_info, dict) else {}
        if key not in info:
            msg = (f"{type(self).__name__}.update needs act_info[{key!r}] of the step's own "
                   "round; hand update the act_info that act returned for that round")
            raise ValueError(msg)
        return info[key]
