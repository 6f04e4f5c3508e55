"""Batched online ridge regression with rank-one (Sherman–Morrison) updates.

The linear model behind LinUCB, LinTS, ε-greedy and the linear SquareCB/FastCB oracles: one
ridge model per arm (``M = K``, disjoint) or one model shared by all arms (``M = 1``), for all
``R`` replicates at once. Numerics in float64. Contexts come either shared, ``(R, d)``, or per
arm, ``(R, K, d)``; a shared context is never expanded to ``K`` copies. ``θ_m`` is kept up to
date by recursive least squares, from the same rank-one step as ``A_m⁻¹``.

:class:`BatchedRidge` is a front that picks one of two backends, each with its own state
layout and thread policy (both follow :class:`RidgeBackend`, equal up to rounding; tested to
1e-12):

* :class:`~olearn.agents.bandits.ridge_compiled.CompiledRidge` on a CPU for ``d`` up to
  4096: numpy state with packed ``A⁻¹``, one compiled kernel call a round, the update deferred
  into the next scoring pass; it picks its kernel threads for ``R`` under numba's thread count.
* :class:`~olearn.agents.bandits.ridge_torch.TorchRidge` elsewhere: torch tensors with full
  ``A⁻¹`` and batched tensor operations, replayed as CUDA graphs on a GPU; torch's threads.

Methods take and return torch tensors either way. The compiled backend is imported only when
picked, so a GPU run never imports numba.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

__all__ = ["BatchedRidge", "RidgeBackend"]

_HOST_MAX_DIM = 4096   # ridge_kernels.MAX_DIM, without importing numba (a test keeps them equal)


@runtime_checkable
class RidgeBackend(Protocol):
    """What a backend of :class:`BatchedRidge` provides (see its methods for the meanings)."""

    shape: tuple[int, int, int]

    @property
    def theta(self) -> Tensor: ...

    @property
    def a_inv(self) -> Tensor: ...

    def mean(self, x: Tensor) -> Tensor: ...

    def width2(self, x: Tensor) -> Tensor: ...

    def bound(self, x: Tensor, scale: float | Tensor) -> Tensor: ...

    def best(self, x: Tensor, scale: float | Tensor) -> Tensor: ...

    def update(self, model: Tensor, x: Tensor, y: Tensor) -> None: ...


class BatchedRidge:
    """Ridge models ``θ_m = A_m⁻¹ b_m`` with ``A_m = λI + Σ x xᵀ`` for ``R`` replicates.

    Parameters
    ----------
    replicates, models, dim
        Shapes: ``R`` replicates × ``M`` models × ``d`` features.
    reg
        Ridge strength λ > 0.
    device
        Where the state lives.
    host
        Use the compiled CPU backend (numpy state; default: on a CPU, for ``d`` up to
        ``4096``) rather than the torch backend.
    graphs
        On CUDA, run :meth:`update` and :meth:`best` as captured CUDA graphs (default: on
        for CUDA devices): one launch instead of a few dozen per call.

    Attributes
    ----------
    backend : RidgeBackend
        The backend that holds the state and computes.
    host : bool
        Whether that is the compiled CPU backend.

    Examples
    --------
    >>> ridge = BatchedRidge(replicates=1, models=1, dim=2, reg=1.0, device=torch.device("cpu"))
    >>> x = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    >>> for _ in range(99):
    ...     ridge.update(torch.zeros(1, dtype=torch.long), x, torch.tensor([2.0]))
    >>> round(float(ridge.theta[0, 0, 0]), 2), round(float(ridge.width2(x)[0, 0]), 4)
    (1.98, 0.01)
    >>> type(ridge.backend).__name__
    'CompiledRidge'
    """

    def __init__(self, *, replicates: int, models: int, dim: int, reg: float,
                 device: torch.device, host: bool | None = None,
                 graphs: bool | None = None) -> None:
        if host is None:
            host = device.type == "cpu" and dim <= _HOST_MAX_DIM
        if host and device.type != "cpu":
            msg = (f"host=True keeps the state in numpy arrays, which needs device='cpu', "
                   f"not {device}")
            raise ValueError(msg)
        graphs = device.type == "cuda" if graphs is None else graphs
        if graphs and device.type != "cuda":
            msg = f"graphs=True replays CUDA graphs, which needs a CUDA device, not {device}"
            raise ValueError(msg)
        shape = {"replicates": replicates, "models": models, "dim": dim, "reg": reg}
        self.host = host
        self.backend: RidgeBackend
        if host:
            from olearn.agents.bandits.ridge_compiled import CompiledRidge

            self.backend = CompiledRidge(**shape)
        else:
            from olearn.agents.bandits.ridge_torch import TorchRidge

            self.backend = TorchRidge(**shape, device=device, graphs=graphs)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(R, M, d)``."""
        return self.backend.shape

    @property
    def graphs(self) -> bool:
        """Whether :meth:`update` and :meth:`best` replay CUDA graphs (off once a capture fails)."""
        return bool(getattr(self.backend, "graphs", False))

    @property
    def theta(self) -> Tensor:
        """Estimates ``θ_m``, (R, M, d); on a CPU a tensor view of the state."""
        return self.backend.theta

    @property
    def a_inv(self) -> Tensor:
        """Inverse Gram matrices ``A_m⁻¹``, (R, M, d, d); on a CPU unpacked, a copy."""
        return self.backend.a_inv

    def mean(self, x: Tensor) -> Tensor:
        """Predictions ``θ_{m(a)}ᵀ x_a`` (R, K) for shared ``(R, d)`` or per-arm ``(R, K, d)`` x."""
        return self.backend.mean(x)

    def width2(self, x: Tensor) -> Tensor:
        """Squared widths ``x_aᵀ A_{m(a)}⁻¹ x_a`` (R, K), same layouts as :meth:`mean`."""
        return self.backend.width2(x)

    def bound(self, x: Tensor, scale: float | Tensor) -> Tensor:
        """``θᵀx_a + scale·√(x_aᵀA⁻¹x_a)`` (R, K): upper confidence scores, or posterior
        samples when ``scale`` is a (R, K) tensor of ``v·z``."""
        return self.backend.bound(x, scale)

    def best(self, x: Tensor, scale: float | Tensor) -> Tensor:
        """The arm of the largest :meth:`bound` per replicate (the first of ties), (R,) int64."""
        return self.backend.best(x, scale)

    def update(self, model: Tensor, x: Tensor, y: Tensor) -> None:
        """Add one observation per replicate: features ``x`` (R, d), target ``y`` (R,) to
        ``model`` (R,)."""
        self.backend.update(model, x, y)
