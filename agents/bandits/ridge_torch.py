"""The torch backend of :class:`~olearn.agents.bandits.ridge.BatchedRidge`, for any device.

The state is torch tensors on the device, with full ``A⁻¹`` (R, M, d, d) and ``θ`` (R, M, d);
a round is a few dozen batched tensor operations. On CUDA, :meth:`TorchRidge.update` and
:meth:`TorchRidge.best` are replayed as captured CUDA graphs (:mod:`olearn.cuda_graphs`): one
launch instead of a few dozen per call. If capturing fails the backend warns and continues
without graphs. Threads: whatever torch is set to (the runner sets a spec's ``threads``).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor

from olearn.cuda_graphs import CaptureError, Replay

__all__ = ["TorchRidge"]


class TorchRidge:
    """Ridge models on torch tensors, updated by batched Sherman–Morrison steps.

    Parameters
    ----------
    replicates, models, dim
        Shapes: ``R`` replicates × ``M`` models × ``d`` features.
    reg
        Ridge strength λ > 0.
    device
        Where the state lives.
    graphs
        Run :meth:`update` and :meth:`best` as captured CUDA graphs (needs a CUDA device).

    Examples
    --------
    >>> ridge = TorchRidge(replicates=1, models=2, dim=3, reg=1.0, device=torch.device("cpu"))
    >>> x = torch.tensor([[1.0, 2.0, 2.0]])
    >>> ridge.update(torch.tensor([1]), x, torch.tensor([9.0]))
    >>> ridge.mean(x).tolist(), ridge.best(x, 1.0).tolist()
    ([[0.0, 8.1]], [1])
    """

    def __init__(self, *, replicates: int, models: int, dim: int, reg: float,
                 device: torch.device, graphs: bool = False) -> None:
        r, m, d = replicates, models, dim
        self.shape = (r, m, d)
        self.graphs = graphs
        eye = torch.eye(d, dtype=torch.float64, device=device) / reg
        self._a_inv = eye.expand(r, m, d, d).contiguous()
        self._theta = torch.zeros(r, m, d, dtype=torch.float64, device=device)
        self._offsets = torch.arange(r, device=device) * m
        self._last: tuple[Tensor, int, Tensor] | None = None
        self._replays: dict[Any, Replay] = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_replays"], state["_last"] = {}, None   # graphs are captured again on demand
        return state

    def _replayed(self, key: Any, fn: Any, *inputs: Tensor) -> Tensor | None:
        """``fn(*inputs)`` through a CUDA graph; ``None`` (and graphs off) if capturing fails."""
        if key not in self._replays:
            self._replays[key] = Replay(fn, protect=(self._a_inv, self._theta))
        try:
            return self._replays[key](*inputs)
        except CaptureError as e:
            warnings.warn(f"{e}; BatchedRidge runs without CUDA graphs", RuntimeWarning,
                          stacklevel=4)
            self.graphs, self._replays = False, {}
            return None

    def _x(self, t: Tensor) -> Tensor:
        """Features as float64.

        The last conversion is remembered (keyed by the tensor and its in-place version
        counter): an agent that acts on a context and then learns from it converts it once.
        """
        key = (t, t._version)
        if self._last is not None and key[0] is self._last[0] and key[1] == self._last[1]:
            return self._last[2]
        out = t.to(torch.float64)
        self._last = (*key, out)
        return out

    @property
    def theta(self) -> Tensor:
        """Estimates ``θ_m``, (R, M, d): the state itself."""
        return self._theta

    @property
    def a_inv(self) -> Tensor:
        """Inverse Gram matrices ``A_m⁻¹``, (R, M, d, d): the state itself."""
        return self._a_inv

    def _mean(self, x: Tensor) -> Tensor:
        if x.ndim == 2:                                    # shared context, one model per arm
            return (self._theta @ x[:, :, None])[..., 0]
        if self.shape[1] == 1:                             # per-arm contexts, one shared model
            return (x @ self._theta[:, 0, :, None])[..., 0]
        return (self._theta * x).sum(-1)

    def _width2(self, x: Tensor) -> Tensor:
        r, m, d = self.shape
        if x.ndim == 2:
            v = (self._a_inv.reshape(r, m * d, d) @ x[:, :, None]).reshape(r, m, d)
            w2 = (v @ x[:, :, None])[..., 0]
        elif m == 1:
            w2 = ((x @ self._a_inv[:, 0]) * x).sum(-1)     # A⁻¹ is symmetric
        else:
            w2 = (x[:, :, None, :] @ self._a_inv @ x[..., None])[..., 0, 0]
        return w2.abs()   # ≥ 0 but for rounding

    def _bound(self, x: Tensor, scale: float | Tensor) -> Tensor:
        return self._mean(x) + scale * self._width2(x) ** 0.5

    def mean(self, x: Tensor) -> Tensor:
        """Predictions ``θ_{m(a)}ᵀ x_a`` (R, K)."""
        return self._mean(self._x(x))

    def width2(self, x: Tensor) -> Tensor:
        """Squared widths ``x_aᵀ A_{m(a)}⁻¹ x_a`` (R, K)."""
        return self._width2(self._x(x))

    def bound(self, x: Tensor, scale: float | Tensor) -> Tensor:
        """``θᵀx_a + scale·√(x_aᵀA⁻¹x_a)`` (R, K)."""
        return self._bound(self._x(x), self._x(scale) if isinstance(scale, Tensor) else scale)

    def best(self, x: Tensor, scale: float | Tensor) -> Tensor:
        """The arm of the largest :meth:`bound` per replicate (the first of ties), (R,) int64."""
        if self.graphs:
            f64 = torch.float64
            if isinstance(scale, Tensor):
                out = self._replayed("best", lambda x, s: self._bound(
                    x.to(f64), s.to(f64)).argmax(1), x, scale)
            else:
                out = self._replayed(("best", scale), lambda x: self._bound(
                    x.to(f64), scale).argmax(1), x)
            if out is not None:
                return out
        return self.bound(x, scale).argmax(1)

    def update(self, model: Tensor, x: Tensor, y: Tensor) -> None:
        """Add one observation per replicate: ``x`` (R, d) and ``y`` (R,) to ``model`` (R,)."""
        if self.graphs:
            f64 = torch.float64
            fn = lambda m, x, y: self._update(m, x.to(f64), y.to(f64))   # noqa: E731
            self._replayed("update", fn, model, x, y)
            if self.graphs:
                return
        self._update(model, self._x(x), self._x(y))

    def _update(self, model: Tensor, x: Tensor, y: Tensor) -> None:
        r, m, d = self.shape
        idx = self._offsets + model                                   # flat (replicate, model)
        a_flat, theta_flat = self._a_inv.view(r * m, d, d), self._theta.view(r * m, d)
        a_inv = a_flat.index_select(0, idx)                           # (R, d, d), a copy
        u = (a_inv @ x[:, :, None])[..., 0]                            # A⁻¹x
        v = u / (1.0 + (u * x).sum(-1))[:, None]                       # A⁻¹x / (1 + xᵀA⁻¹x)
        a_inv -= torch.einsum("ri,rj->rij", u, v)                      # Sherman–Morrison
        a_flat.index_copy_(0, idx, a_inv)
        # recursive least squares: θ ← A⁻¹_new (b + y x) = θ + v (y − θᵀx)
        theta = theta_flat.index_select(0, idx)
        theta += v * (y - (theta * x).sum(-1))[:, None]
        theta_flat.index_copy_(0, idx, theta)
