"""Composable pieces of optimistic online learners: hints and step-size schedules.

An optimistic method is (mirror map) × (hint ``M_t``) × (step size ``η_t``); the agents in
``ogd.py``, ``omd.py``, ``ftrl.py`` and ``omd_ensemble.py`` compose these instead of one class
per combination. Pieces hold batched state (leading dimension ``R``) built by ``reset``; a
round reads ``hint()``/``eta(t)`` before acting and feeds ``observe(...)`` after the gradient.

Hints: :class:`LastGradient` (``M_t = g_{t−1}``), :class:`ZeroHint`, :class:`MeanGradient`
(running mean of past gradients; oracle free). Schedules: :class:`Constant`,
:class:`InvSqrt` (``c/√t``), :class:`InvLambdaT` (``c/(λt)``), :class:`AdaptiveOOMD`
(Chen et al., ``D/√(δ + 4G² + Σ_{s<t}‖g_s − M_s‖²)``) and :class:`SachsFTRL`
(``D²/(ν + Σ_{s<t} η_s‖g_s − M_s‖²)``).

Examples
--------
>>> import torch
>>> sched = AdaptiveOOMD(D=2.0, G=1.0, delta=0.0)
>>> sched.reset(1, torch.device("cpu"))
>>> float(sched.eta(1)[0])
1.0
>>> sched.observe(1, torch.tensor([[0.0]]), torch.tensor([[0.0]]), sched.eta(1))
>>> float(sched.eta(2)[0])
1.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

import gymnasium as gym
import torch
from torch import Tensor

from olearn.agent import BatchedAgent
from olearn.spaces import domain_of
from olearn.types import Step
from olearn.validation import check_choice

__all__ = ["AdaptiveOOMD", "Constant", "Hint", "InvLambdaT", "InvSqrt", "LastGradient",
           "MeanGradient", "OCOAgent", "SachsFTRL", "Schedule", "ZeroHint", "make_hint"]

HINTS = ("last_gradient", "zero", "mean_gradient")


def _sq(v: Tensor) -> Tensor:
    return (v * v).sum(-1)


class Hint:
    """Prediction ``M_t`` of the next gradient; ``observe(g_t)`` after each round."""

    def reset(self, replicates: int, dim: int, device: torch.device) -> None:
        self._m = torch.zeros(replicates, dim, dtype=torch.float64, device=device)

    def hint(self) -> Tensor:
        """``M_t``, shape ``(R, d)``."""
        return self._m

    def observe(self, g: Tensor) -> None:
        """Learn from the gradient ``g_t`` at the played point."""


class ZeroHint(Hint):
    """``M_t = 0``: optimistic methods reduce to their plain (adaptive) versions."""


class LastGradient(Hint):
    """``M_t = g_{t−1}``, ``M_1 = 0`` (the default of Chen et al. and Sachs et al.)."""

    def observe(self, g: Tensor) -> None:
        self._m = g.to(torch.float64).clone()


class MeanGradient(Hint):
    """``M_t = (1/(t−1)) Σ_{s<t} g_s``: tracks the mean gradient of a stationary stream."""

    def reset(self, replicates: int, dim: int, device: torch.device) -> None:
        super().reset(replicates, dim, device)
        self._n = 0

    def observe(self, g: Tensor) -> None:
        self._n += 1
        self._m = self._m + (g.to(torch.float64) - self._m) / self._n


def make_hint(name: str) -> Hint:
    """A hint by name: ``"last_gradient"``, ``"zero"`` or ``"mean_gradient"``."""
    table: dict[str, Callable[[], Hint]] = {"last_gradient": LastGradient, "zero": ZeroHint,
                                             "mean_gradient": MeanGradient}
    check_choice("hint", name, HINTS)
    return table[name]()


class Schedule:
    """Step size ``η_t`` per replicate; ``observe`` the gradient and hint of round ``t``."""

    def reset(self, replicates: int, device: torch.device) -> None:
        self._ones = torch.ones(replicates, dtype=torch.float64, device=device)

    def eta(self, t: int) -> Tensor:
        """``η_t`` for round ``t`` (1-based), shape ``(R,)``."""
        raise NotImplementedError

    def observe(self, t: int, g: Tensor, m: Tensor, eta: Tensor) -> None:
        """Account for round ``t``: gradient ``g``, hint ``m`` and the ``η`` that was used."""


class Constant(Schedule):
    """``η_t = eta``."""

    def __init__(self, eta: float) -> None:
        self.value = float(eta)

    def eta(self, t: int) -> Tensor:
        return self._ones * self.value


class InvSqrt(Schedule):
    """``η_t = c/√t`` (OGD's convex rate with ``c = D/G``)."""

    def __init__(self, c: float) -> None:
        self.c = float(c)

    def eta(self, t: int) -> Tensor:
        return self._ones * (self.c / math.sqrt(t))


class InvLambdaT(Schedule):
    """``η_t = c/(λt)``: the strongly convex rate (papers §1.3; ``c = 2`` reconstruction)."""

    def __init__(self, lam: float, c: float = 1.0) -> None:
        self.lam, self.c = float(lam), float(c)

    def eta(self, t: int) -> Tensor:
        return self._ones * (self.c / (self.lam * t))


class AdaptiveOOMD(Schedule):
    """``η_t = D/√(δ + 4G² + Σ_{s<t}‖g_s − M_s‖²)`` (Chen et al.'s convex step, papers §1.3).

    ``norm2`` is the squared dual norm of the geometry (Euclidean by default).
    """

    def __init__(self, D: float, G: float, delta: float = 1.0,  # noqa: N803
                 norm2: Callable[[Tensor], Tensor] = _sq) -> None:
        self.D, self.G, self.delta, self.norm2 = float(D), float(G), float(delta), norm2

    def reset(self, replicates: int, device: torch.device) -> None:
        super().reset(replicates, device)
        self._v = self._ones * (self.delta + 4.0 * self.G ** 2)

    def eta(self, t: int) -> Tensor:
        return self.D / self._v.sqrt()

    def observe(self, t: int, g: Tensor, m: Tensor, eta: Tensor) -> None:
        self._v = self._v + self.norm2(g.to(torch.float64) - m)


class SachsFTRL(Schedule):
    """``η_t = D²/(ν + Σ_{s<t} η_s‖g_s − M_s‖²)`` (Sachs et al. 2022, Theorem 5's OFTRL)."""

    def __init__(self, D: float, nu: float, norm2: Callable[[Tensor], Tensor] = _sq) -> None:  # noqa: N803
        self.D, self.nu, self.norm2 = float(D), float(nu), norm2

    def reset(self, replicates: int, device: torch.device) -> None:
        super().reset(replicates, device)
        self._s = self._ones * self.nu

    def eta(self, t: int) -> Tensor:
        return self.D ** 2 / self._s

    def observe(self, t: int, g: Tensor, m: Tensor, eta: Tensor) -> None:
        self._s = self._s + eta * self.norm2(g.to(torch.float64) - m)


Curvature = Literal["convex", "strongly_convex", "exp_concave"]


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
