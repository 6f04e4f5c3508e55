"""Regularizer schedules ``ψ_t``: the geometry-and-step piece of optimistic OMD and FTRL.

Optimistic OMD and FTRL differ from one curvature to the next only in ``ψ_t``; each choice is
one frozen object with explicit state (a NamedTuple), composed by the agents:

* :class:`ScaledMirror` — ``ψ_t = ψ/η_t``: a mirror map (:mod:`olearn.agents.common.mirror_maps`)
  times a step-size schedule (:mod:`olearn.agents.oco.schedules`). Convex and strongly convex
  OMD, OGD, adaptive FTRL.
* :class:`OnlineNewton` — ``ψ_t = ½‖x‖²_{U_t}`` with a learned metric ``U_t`` (exp-concave
  OMD); the metric takes the place of the step size.
* :class:`SurrogateLeader` — ``ψ_t(x) = (λ/2) Σ_s ‖x − x_s‖²`` over the played points of the
  received rounds: optimistic FTL on strongly convex surrogates (Sachs et al., Theorem 7).

Interface (each a pure function of the state):

* ``init(replicates, dim, device) -> state``;
* ``eta(state, t) -> (R,)`` — the step size of round ``t`` (what ``act_info["eta"]`` logs);
* ``step(state, x̂, v, eta) = argmin_{x∈X} ⟨v, x⟩ + B_{ψ_t}(x, x̂)`` (mirror-descent step);
* ``leader(state, G, m, eta) = argmin_{x∈X} ⟨G + m, x⟩ + ψ_t(x)`` (FTRL);
* ``update(state, g, m, eta, played) -> state`` — learn from one round: gradient ``g``, the
  hint ``m`` and step ``eta`` that round acted with, and its played point.

Examples
--------
>>> import torch
>>> from olearn.agents.common.mirror_maps import Euclidean
>>> from olearn.agents.oco.schedules import InvSqrt
>>> from olearn.spaces import Domain
>>> reg = ScaledMirror(Euclidean(Domain("ball", dim=2, radius=1.0)), InvSqrt(1.0))
>>> state = reg.init(1, 2, torch.device("cpu"))
>>> eta = reg.eta(state, 4)
>>> reg.step(state, torch.zeros(1, 2, dtype=torch.float64), torch.tensor([[1.0, 0.0]]), eta)
tensor([[-0.5000,  0.0000]], dtype=torch.float64)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor

from olearn.agents.common.mirror_maps import MirrorMap, newton_step
from olearn.agents.oco.schedules import Schedule
from olearn.spaces import Domain

__all__ = ["MetricState", "OnlineNewton", "Regularizer", "ScaledMirror", "SurrogateLeader",
           "SurrogateState"]


@dataclass(frozen=True)
class Regularizer:
    """Base class; see the module docstring for the interface."""

    def init(self, replicates: int, dim: int, device: torch.device) -> Any:
        """State before any feedback."""
        raise NotImplementedError

    def eta(self, state: Any, t: int) -> Tensor:
        """Step size ``η_t`` of round ``t``, shape ``(R,)``."""
        raise NotImplementedError

    def step(self, state: Any, x_hat: Tensor, v: Tensor, eta: Tensor) -> Tensor:
        """``argmin_{x∈X} ⟨v, x⟩ + B_{ψ_t}(x, x̂)``."""
        msg = f"{type(self).__name__} has no mirror-descent step; use it with FTRL"
        raise ValueError(msg)

    def leader(self, state: Any, g_sum: Tensor, m: Tensor, eta: Tensor) -> Tensor:
        """``argmin_{x∈X} ⟨G + m, x⟩ + ψ_t(x)``."""
        msg = f"{type(self).__name__} has no FTRL step; use it with mirror descent"
        raise ValueError(msg)

    def update(self, state: Any, g: Tensor, m: Tensor, eta: Tensor, played: Tensor) -> Any:
        """Learn from one round (out of place)."""
        raise NotImplementedError


@dataclass(frozen=True)
class ScaledMirror(Regularizer):
    """``ψ_t = ψ/η_t``: a mirror map scaled by a step-size schedule; the state is the schedule's.

    ``update`` feeds the schedule the round's gradient, its own hint and its own ``η``.
    """

    mirror: MirrorMap
    schedule: Schedule

    def init(self, replicates: int, dim: int, device: torch.device) -> Any:
        return self.schedule.init(replicates, dim, device)

    def eta(self, state: Any, t: int) -> Tensor:
        return self.schedule.value(state, t)

    def step(self, state: Any, x_hat: Tensor, v: Tensor, eta: Tensor) -> Tensor:
        return self.mirror.step(x_hat, v, eta)

    def leader(self, state: Any, g_sum: Tensor, m: Tensor, eta: Tensor) -> Tensor:
        return self.mirror.ftrl(g_sum + m, eta)

    def update(self, state: Any, g: Tensor, m: Tensor, eta: Tensor, played: Tensor) -> Any:
        return self.schedule.update(state, g, m, eta)


class MetricState(NamedTuple):
    """The online-Newton metric ``U`` (R, d, d)."""

    u: Tensor


@dataclass(frozen=True)
class OnlineNewton(Regularizer):
    """``ψ_t = ½‖x‖²_{U_t}`` on a ball, ``U_1 = δI``, ``U ← U + (β/2) v vᵀ`` per round.

    ``v = g − M`` with the round's own hint (``metric="variation"``) or ``v = g``
    (``"gradient"``). Steps are exact generalized projections
    (:func:`olearn.agents.common.mirror_maps.newton_step`) and ignore ``eta``: the metric is
    the step size. :meth:`eta` reports ``d / tr U_t``.

    Examples
    --------
    >>> reg = OnlineNewton(radius=1.0, beta=2.0, delta=1.0)
    >>> state = reg.init(1, 2, torch.device("cpu"))
    >>> g = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    >>> state = reg.update(state, g, torch.zeros_like(g), reg.eta(state, 1), g)
    >>> state.u[0].tolist(), float(reg.eta(state, 2)[0])
    ([[2.0, 0.0], [0.0, 1.0]], 0.6666666666666666)
    """

    radius: float
    beta: float
    delta: float = 1.0
    metric: Literal["variation", "gradient"] = "variation"

    def init(self, replicates: int, dim: int, device: torch.device) -> MetricState:
        eye = torch.eye(dim, dtype=torch.float64, device=device)
        return MetricState((self.delta * eye).expand(replicates, -1, -1).clone())

    def eta(self, state: MetricState, t: int) -> Tensor:
        return state.u.shape[-1] / state.u.diagonal(dim1=-2, dim2=-1).sum(-1)

    def step(self, state: MetricState, x_hat: Tensor, v: Tensor, eta: Tensor) -> Tensor:
        return newton_step(x_hat, v, state.u, self.radius)

    def update(self, state: MetricState, g: Tensor, m: Tensor, eta: Tensor,
               played: Tensor) -> MetricState:
        v = g - m if self.metric == "variation" else g
        return MetricState(state.u + (0.5 * self.beta) * v.unsqueeze(-1) * v.unsqueeze(-2))


class SurrogateState(NamedTuple):
    """Sum of the played points ``x_sum`` (R, d) of the ``n`` received rounds; ``center``."""

    x_sum: Tensor
    n: int
    center: Tensor


@dataclass(frozen=True)
class SurrogateLeader(Regularizer):
    """``ψ_t(x) = (λ/2) Σ_s ‖x − x_s‖²`` over the ``n`` received rounds (strongly convex FTL).

    ``leader`` is ``Π_X((λ Σ_s x_s − G − M_t) / (λn))`` (the centre while ``n = 0``), exact
    because the objective is an isotropic quadratic; ``x_s`` is the point *played* in round
    ``s``. :meth:`eta` reports ``1/(λ max(n, 1))``.
    """

    lam: float
    domain: Domain

    def init(self, replicates: int, dim: int, device: torch.device) -> SurrogateState:
        center = self.domain.center(replicates, device)
        return SurrogateState(torch.zeros_like(center), 0, center)

    def eta(self, state: SurrogateState, t: int) -> Tensor:
        r = state.x_sum.shape[0]
        return torch.full((r,), 1.0 / (self.lam * max(state.n, 1)), dtype=torch.float64,
                          device=state.x_sum.device)

    def leader(self, state: SurrogateState, g_sum: Tensor, m: Tensor, eta: Tensor) -> Tensor:
        if state.n == 0:
            return state.center.clone()
        return self.domain.project((self.lam * state.x_sum - g_sum - m) / (self.lam * state.n))

    def update(self, state: SurrogateState, g: Tensor, m: Tensor, eta: Tensor,
               played: Tensor) -> SurrogateState:
        return SurrogateState(state.x_sum + played.to(torch.float64), state.n + 1, state.center)
