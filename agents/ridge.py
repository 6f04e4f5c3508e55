"""Batched online ridge regression with rank-one (Sherman–Morrison) updates.

The linear model behind LinUCB, LinTS, ε-greedy and the linear SquareCB/FastCB oracles: one
ridge model per arm (``M = K``, disjoint) or one model shared by all arms (``M = 1``), for all
``R`` replicates at once. Numerics in float64. Contexts come either shared, ``(R, d)``, or per
arm, ``(R, K, d)``; a shared context is never expanded to ``K`` copies.

The arithmetic is written with what numpy arrays and torch tensors share (``@``, broadcasting,
slicing, ``reshape``) plus four one-line helpers where their spellings differ, so one
implementation runs on both: on a CPU the state lives in numpy arrays, whose per-call cost at
these sizes is a quarter of torch's (it is what makes one replicate fast); on a GPU it lives in
torch tensors. Methods take and return torch tensors either way. ``θ_m`` is kept up to date by
recursive least squares, from the same rank-one step as ``A_m⁻¹``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor

from olearn.cuda_graphs import CaptureError, Replay


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
        Keep the state in numpy arrays (default: on a CPU) rather than torch tensors.
    graphs
        On CUDA, run :meth:`update` and :meth:`best` as captured CUDA graphs (default: on
        for CUDA devices): one launch instead of a few dozen per call.

    Examples
    --------
    >>> ridge = BatchedRidge(replicates=1, models=1, dim=2, reg=1.0, device=torch.device("cpu"))
    >>> x = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    >>> for _ in range(99):
    ...     ridge.update(torch.zeros(1, dtype=torch.long), x, torch.tensor([2.0]))
    >>> round(float(ridge.theta[0, 0, 0]), 2), round(float(ridge.width2(x)[0, 0]), 4)
    (1.98, 0.01)
    """

    def __init__(self, *, replicates: int, models: int, dim: int, reg: float,
                 device: torch.device, host: bool | None = None,
                 graphs: bool | None = None) -> None:
        r, m, d = replicates, models, dim
        self.shape = (r, m, d)
        self.host = device.type == "cpu" if host is None else host
        if self.host and device.type != "cpu":
            msg = f"host=True keeps the state in numpy arrays, which needs device='cpu', not {device}"
            raise ValueError(msg)
        a_inv = (torch.eye(d, dtype=torch.float64) / reg).expand(r, m, d, d).contiguous()
        self._a_inv = self._array(a_inv.to(device))
        self._theta = self._array(torch.zeros(r, m, d, dtype=torch.float64, device=device))
        self._offsets = self._array(torch.arange(r, device=device) * m)
        self._last: tuple[Tensor, int, Any] | None = None
        self.graphs = device.type == "cuda" if graphs is None else graphs
        if self.graphs and device.type != "cuda":
            msg = f"graphs=True replays CUDA graphs, which needs a CUDA device, not {device}"
            raise ValueError(msg)
        self._replays: dict[Any, Replay] = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_replays"], state["_last"] = {}, None   # graphs are captured again on demand
        return state

    def _replayed(self, key: Any, fn: Any, *inputs: Tensor) -> Tensor | None:
        """``fn(*inputs)`` through a CUDA graph; ``None`` (graphs off from now on) if capture fails."""
        if key not in self._replays:
            self._replays[key] = Replay(fn, protect=(self._a_inv, self._theta))
        try:
            return self._replays[key](*inputs)
        except CaptureError as e:
            warnings.warn(f"{e}; BatchedRidge runs without CUDA graphs", RuntimeWarning, stacklevel=3)
            self.graphs, self._replays = False, {}
            return None

    def _array(self, t: Tensor) -> Any:
        """``t`` as the state's array kind: a numpy view on a CPU, the tensor itself elsewhere."""
        return t.numpy() if self.host else t

    def _x(self, t: Tensor) -> Any:
        """Features as float64 arrays of the state's kind.

        The last conversion is remembered (keyed by the tensor and its in-place version
        counter): an agent that acts on a context and then learns from it converts it once.
        """
        key = (t, t._version)
        if self._last is not None and key[0] is self._last[0] and key[1] == self._last[1]:
            return self._last[2]
        out = t.numpy().astype(np.float64) if self.host else t.to(torch.float64)
        self._last = (*key, out)
        return out

    def _out(self, a: Any) -> Tensor:
        return torch.from_numpy(a) if self.host else a

    # The calls whose numpy and torch spellings differ: the torch ones avoid advanced indexing
    # (its per-call overhead dominates small rounds on a GPU), the numpy ones call the ufuncs
    # directly (``ndarray.sum`` and ``np.einsum`` add Python wrappers that cost more than the
    # arithmetic at R = 1). Each pair computes bitwise the same numbers.
    def _dot(self, a: Any, b: Any) -> Any:
        """Σ over the last axis of ``a * b``."""
        return np.add.reduce(a * b, -1) if self.host else (a * b).sum(-1)

    def _rows(self, a: Any, idx: Any) -> Any:
        return a.take(idx, axis=0) if self.host else a.index_select(0, idx)

    def _set_rows(self, a: Any, idx: Any, v: Any) -> None:
        if self.host:
            a[idx] = v
        else:
            a.index_copy_(0, idx, v)

    def _outer(self, u: Any, v: Any) -> Any:
        if self.host and len(u) < 64:
            return u[:, :, None] * v[:, None, :]
        return (np if self.host else torch).einsum("ri,rj->rij", u, v)

    @property
    def theta(self) -> Tensor:
        """Estimates ``θ_m``, (R, M, d); on a CPU a tensor view of the state."""
        return self._out(self._theta)

    @property
    def a_inv(self) -> Tensor:
        """Inverse Gram matrices ``A_m⁻¹``, (R, M, d, d); on a CPU a tensor view of the state."""
        return self._out(self._a_inv)

    def _mean(self, x: Any) -> Any:
        r, m, d = self.shape
        if x.ndim == 2:                                    # shared context, one model per arm
            return (self._theta @ x[:, :, None])[..., 0]
        if m == 1:                                         # per-arm contexts, one shared model
            return (x @ self._theta[:, 0, :, None])[..., 0]
        return self._dot(self._theta, x)

    def _width2(self, x: Any) -> Any:
        r, m, d = self.shape
        if x.ndim == 2:
            v = (self._a_inv.reshape(r, m * d, d) @ x[:, :, None]).reshape(r, m, d)
            w2 = (v @ x[:, :, None])[..., 0]
        elif m == 1:
            w2 = self._dot(x @ self._a_inv[:, 0], x)       # A⁻¹ is symmetric
        else:
            w2 = (x[:, :, None, :] @ self._a_inv @ x[..., None])[..., 0, 0]
        return abs(w2)   # ≥ 0 but for rounding; abs is the cheapest guard in both libraries

    def mean(self, x: Tensor) -> Tensor:
        """Predictions ``θ_{m(a)}ᵀ x_a`` (R, K) for shared ``(R, d)`` or per-arm ``(R, K, d)`` x."""
        return self._out(self._mean(self._x(x)))

    def width2(self, x: Tensor) -> Tensor:
        """Squared widths ``x_aᵀ A_{m(a)}⁻¹ x_a`` (R, K), same layouts as :meth:`mean`."""
        return self._out(self._width2(self._x(x)))

    def bound(self, x: Tensor, scale: float | Tensor) -> Tensor:
        """``θᵀx_a + scale·√(x_aᵀA⁻¹x_a)`` (R, K): upper confidence scores, or posterior
        samples when ``scale`` is a (R, K) tensor of ``v·z``."""
        return self._out(self._bound(x, scale))

    def best(self, x: Tensor, scale: float | Tensor) -> Tensor:
        """The arm of the largest :meth:`bound` per replicate, (R,) int64."""
        if self.graphs:
            f64 = torch.float64
            if isinstance(scale, Tensor):
                out = self._replayed("best", lambda x, s: self._bound_arrays(
                    x.to(f64), s.to(f64)).argmax(1), x, scale)
            else:
                out = self._replayed(("best", scale), lambda x: self._bound_arrays(
                    x.to(f64), scale).argmax(1), x)
            if out is not None:
                return out
        return self._out(self._bound(x, scale).argmax(1))

    def _bound(self, x: Tensor, scale: float | Tensor) -> Any:
        return self._bound_arrays(self._x(x), self._x(scale) if isinstance(scale, Tensor) else scale)

    def _bound_arrays(self, x: Any, scale: Any) -> Any:
        return self._mean(x) + scale * self._width2(x) ** 0.5

    def update(self, model: Tensor, x: Tensor, y: Tensor) -> None:
        """Add one observation per replicate: features ``x`` (R, d), target ``y`` (R,) to ``model`` (R,)."""
        if self.graphs:
            f64 = torch.float64
            fn = lambda m, x, y: self._update(m, x.to(f64), y.to(f64))   # noqa: E731
            self._replayed("update", fn, model, x, y)
            if self.graphs:
                return
        self._update(model, self._x(x), self._x(y))

    def _update(self, model: Any, x: Any, y: Any) -> None:
        r, m, d = self.shape
        idx = self._offsets + (model.numpy() if self.host else model)   # flat (replicate, model)
        a_flat, theta_flat = self._a_inv.reshape(r * m, d, d), self._theta.reshape(r * m, d)
        a_inv = self._rows(a_flat, idx)                               # (R, d, d), a copy
        u = (a_inv @ x[:, :, None])[..., 0]                            # A⁻¹x
        v = u / (1.0 + self._dot(u, x))[:, None]                       # A⁻¹x / (1 + xᵀA⁻¹x)
        a_inv -= self._outer(u, v)                                     # Sherman–Morrison
        self._set_rows(a_flat, idx, a_inv)
        # recursive least squares: θ ← A⁻¹_new (b + y x) = θ + v (y − θᵀx)
        theta = self._rows(theta_flat, idx)
        theta += v * (y - self._dot(theta, x))[:, None]
        self._set_rows(theta_flat, idx, theta)
