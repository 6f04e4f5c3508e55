"""Step-size schedules ``η_t`` as transformations with explicit state.

A schedule is a frozen (hyperparameters only) object with three pure functions:

* ``init(replicates, dim, device) -> state`` — a NamedTuple of batched tensors;
* ``update(state, g, m, eta) -> state`` — account for one round: its gradient ``g`` (R, d),
  the hint ``m`` (R, d) the round acted with and the step ``eta`` (R,) it used;
* ``value(state, t) -> Tensor`` — ``η_t`` for round ``t`` (1-based), shape ``(R,)``.

With delayed feedback an update always receives the hint and step size of the gradient's own
round (the variation ``‖g_s − M_s‖²`` is only meaningful for the hint ``g_s`` was predicted
by), whatever step the agent then takes with it.

:class:`Constant` (``η``), :class:`InvSqrt` (``c/√t``), :class:`InvLambdaT` (``c/(λt)``),
:class:`AdaptiveOOMD` (Chen et al., ``D/√(δ + 4G² + Σ_s‖g_s − M_s‖²)``) and
:class:`SachsFTRL` (``D²/(ν + Σ_s η_s‖g_s − M_s‖²)``); the sums run over the rounds whose
gradient has been received.

Examples
--------
>>> import torch
>>> sched = AdaptiveOOMD(D=2.0, G=1.0, delta=0.0)
>>> state = sched.init(1, 3, torch.device("cpu"))
>>> float(sched.value(state, 1)[0])
1.0
>>> state = sched.update(state, torch.full((1, 3), 2.0), torch.zeros(1, 3), None)
>>> float(sched.value(state, 2)[0])
0.5
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = ["AdaptiveOOMD", "Constant", "InvLambdaT", "InvSqrt", "SachsFTRL", "Schedule",
           "SumState"]


def squared_norm(v: Tensor) -> Tensor:
    """``‖v‖²`` of each row (the Euclidean dual norm)."""
    return (v * v).sum(-1)


class SumState(NamedTuple):
    """``ones`` (R,) and the running sum ``s`` (R,) an adaptive schedule reads."""

    ones: Tensor
    s: Tensor


def _ones(replicates: int, device: torch.device) -> Tensor:
    return torch.ones(replicates, dtype=torch.float64, device=device)


@dataclass(frozen=True)
class Schedule:
    """Base: a step size that depends on ``t`` only (the state is a vector of ones)."""

    def init(self, replicates: int, dim: int, device: torch.device) -> Any:
        """State before any feedback."""
        return SumState(_ones(replicates, device), _ones(replicates, device))

    def update(self, state: Any, g: Tensor, m: Tensor, eta: Tensor | None) -> Any:
        """Account for one round's gradient ``g``, hint ``m`` and step ``eta`` (out of place)."""
        return state

    def value(self, state: Any, t: int) -> Tensor:
        """``η_t``, shape ``(R,)``."""
        return state.ones * self._at(t)

    def _at(self, t: int) -> float:
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(Schedule):
    """``η_t = eta``."""

    eta: float

    def _at(self, t: int) -> float:
        return float(self.eta)


@dataclass(frozen=True)
class InvSqrt(Schedule):
    """``η_t = c/√t`` (OGD's convex rate with ``c = D/G``); ``t`` counts the rounds acted."""

    c: float

    def _at(self, t: int) -> float:
        return float(self.c) / math.sqrt(t)


@dataclass(frozen=True)
class InvLambdaT(Schedule):
    """``η_t = c/(λt)``: the strongly convex rate (papers §1.3; ``c = 2`` reconstruction)."""

    lam: float
    c: float = 1.0

    def _at(self, t: int) -> float:
        return float(self.c) / (float(self.lam) * t)


@dataclass(frozen=True)
class AdaptiveOOMD(Schedule):
    """``η_t = D/√(δ + 4G² + Σ_s‖g_s − M_s‖²_*)`` (Chen et al.'s convex step, papers §1.3).

    ``norm2`` is the squared dual norm of the geometry (Euclidean by default); the sum runs
    over the gradients received before round ``t`` acts, each against its own round's hint.
    """

    D: float  # noqa: N815
    G: float  # noqa: N815
    delta: float = 1.0
    norm2: Callable[[Tensor], Tensor] = field(default=squared_norm, compare=False)

    def init(self, replicates: int, dim: int, device: torch.device) -> SumState:
        ones = _ones(replicates, device)
        return SumState(ones, ones * (float(self.delta) + 4.0 * float(self.G) ** 2))

    def update(self, state: SumState, g: Tensor, m: Tensor, eta: Tensor | None) -> SumState:
        return SumState(state.ones, state.s + self.norm2(g.to(torch.float64) - m))

    def value(self, state: SumState, t: int) -> Tensor:
        return float(self.D) / state.s.sqrt()


@dataclass(frozen=True)
class SachsFTRL(Schedule):
    """``η_t = D²/(ν + Σ_s η_s‖g_s − M_s‖²_*)`` (Sachs et al. 2022, Theorem 5's OFTRL).

    Each received round adds its own ``η_s`` times its own variation.
    """

    D: float  # noqa: N815
    nu: float
    norm2: Callable[[Tensor], Tensor] = field(default=squared_norm, compare=False)

    def init(self, replicates: int, dim: int, device: torch.device) -> SumState:
        ones = _ones(replicates, device)
        return SumState(ones, ones * float(self.nu))

    def update(self, state: SumState, g: Tensor, m: Tensor, eta: Tensor | None) -> SumState:
        if eta is None:
            msg = "SachsFTRL.update needs the step size eta of the gradient's own round"
            raise ValueError(msg)
        return SumState(state.ones, state.s + eta * self.norm2(g.to(torch.float64) - m))

    def value(self, state: SumState, t: int) -> Tensor:
        return float(self.D) ** 2 / state.s
