"""Hints ``M_t`` (predictions of the next gradient) as transformations with explicit state.

A hint is a frozen (hyperparameters only) object with three pure functions, like an Optax
transformation:

* ``init(replicates, dim, device) -> state`` — a NamedTuple of batched tensors;
* ``update(state, g, m, eta) -> state`` — learn from the gradient ``g`` (R, d) of one round
  (``m`` and ``eta`` are that round's hint and step size; the hints here ignore them);
* ``value(state, t) -> Tensor`` — the hint ``M_t``, shape ``(R, d)``.

States are never modified in place, so a hint returned by ``value`` may travel in ``act_info``
(delayed feedback pairs a gradient with the hint of its own round).

Examples
--------
>>> import torch
>>> hint = LastGradient()
>>> state = hint.init(2, 3, torch.device("cpu"))
>>> state = hint.update(state, torch.ones(2, 3), state.m, None)
>>> hint.value(state, 2).tolist()
[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor

from olearn.validation import check_choice

__all__ = ["HINTS", "Hint", "HintState", "LastGradient", "MeanGradient", "MeanState", "ZeroHint",
           "make_hint"]

HINTS = ("last_gradient", "zero", "mean_gradient")


class HintState(NamedTuple):
    """The current hint ``m`` (R, d), float64."""

    m: Tensor


class MeanState(NamedTuple):
    """Running mean ``m`` (R, d) of the ``n`` gradients received so far."""

    m: Tensor
    n: int


def _zeros(replicates: int, dim: int, device: torch.device) -> Tensor:
    return torch.zeros(replicates, dim, dtype=torch.float64, device=device)


@dataclass(frozen=True)
class Hint:
    """Base of the hints: ``M_t = 0`` until :meth:`update` says otherwise."""

    def init(self, replicates: int, dim: int, device: torch.device) -> Any:
        """The state before any gradient: ``M_1 = 0``."""
        return HintState(_zeros(replicates, dim, device))

    def update(self, state: Any, g: Tensor, m: Tensor | None, eta: Tensor | None) -> Any:
        """Learn from the gradient ``g_t`` at the played point (out of place)."""
        return state

    def value(self, state: Any, t: int) -> Tensor:
        """``M_t``, shape ``(R, d)``."""
        return state.m


@dataclass(frozen=True)
class ZeroHint(Hint):
    """``M_t = 0``: optimistic methods reduce to their plain (adaptive) versions."""


@dataclass(frozen=True)
class LastGradient(Hint):
    """``M_t = g_{t−1}``, ``M_1 = 0`` (the default of Chen et al. and Sachs et al.).

    With delayed feedback ``g_{t−1}`` is the latest gradient *received*.
    """

    def update(self, state: Any, g: Tensor, m: Tensor | None, eta: Tensor | None) -> Any:
        return HintState(g.to(torch.float64).clone())


@dataclass(frozen=True)
class MeanGradient(Hint):
    """``M_t = (1/n) Σ g_s`` over the ``n`` gradients received so far (oracle free).

    Tracks the mean gradient of a stationary stream.

    Examples
    --------
    >>> hint = MeanGradient()
    >>> state = hint.init(1, 1, torch.device("cpu"))
    >>> for g in (1.0, 3.0):
    ...     state = hint.update(state, torch.tensor([[g]]), None, None)
    >>> float(hint.value(state, 3)[0, 0]), state.n
    (2.0, 2)
    """

    def init(self, replicates: int, dim: int, device: torch.device) -> MeanState:
        return MeanState(_zeros(replicates, dim, device), 0)

    def update(self, state: MeanState, g: Tensor, m: Tensor | None,
               eta: Tensor | None) -> MeanState:
        n = state.n + 1
        return MeanState(state.m + (g.to(torch.float64) - state.m) / n, n)


def make_hint(name: str) -> Hint:
    """A hint by name: ``"last_gradient"``, ``"zero"`` or ``"mean_gradient"``."""
    table: dict[str, Callable[[], Hint]] = {"last_gradient": LastGradient, "zero": ZeroHint,
                                             "mean_gradient": MeanGradient}
    check_choice("hint", name, HINTS)
    return table[name]()
