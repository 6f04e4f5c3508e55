"""Batched online ridge regression with rank-one (Sherman–Morrison) updates.

The linear model behind LinUCB, LinTS, ε-greedy and the linear SquareCB/FastCB oracles: one
ridge model per arm (``M = K``, disjoint) or one model shared by all arms (``M = 1``), for all
``R`` replicates at once. Numerics in float64. Contexts come either shared, ``(R, d)``, or per
arm, ``(R, K, d)``; a shared context is never expanded to ``K`` copies.

Two backends compute the same quantities (equal up to rounding; tested to 1e-12). On a CPU
the state is numpy arrays with ``A⁻¹`` stored packed, and a round is one call of a compiled
kernel (:mod:`olearn.agents.bandits.ridge_kernels`): :meth:`BatchedRidge.update` checks its input and
defers the learning to the next scoring call, which learns and then scores in one pass (or to
the next read of the state). A CPU round is memory-bound at many replicates and per-call
overhead dominates one replicate, and the kernels address both. On a GPU the state is torch
tensors with full ``A⁻¹``, and a round is a few dozen batched tensor operations, replayed as
CUDA graphs. Methods take and return torch tensors
either way. ``θ_m`` is kept up to date by recursive least squares, from the same rank-one step
as ``A_m⁻¹``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor

from olearn.cuda_graphs import CaptureError, Replay


_HOST_MAX_DIM = 4096   # ridge_kernels.MAX_DIM, without importing numba (a test keeps them equal)


def _kernels() -> Any:
    """The compiled CPU kernels, imported on first use (a GPU run never needs numba)."""
    from olearn.agents.bandits import ridge_kernels

    return ridge_kernels


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
        Use the compiled CPU kernels on numpy state (default: on a CPU, for ``d`` up to
        ``4096``) rather than torch operations on tensors.
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
        if host is None:
            host = device.type == "cpu" and d <= _HOST_MAX_DIM
        self.host = host
        if self.host and device.type != "cpu":
            msg = f"host=True keeps the state in numpy arrays, which needs device='cpu', not {device}"
            raise ValueError(msg)
        self.graphs = device.type == "cuda" if graphs is None else graphs
        if self.graphs and device.type != "cuda":
            msg = f"graphs=True replays CUDA graphs, which needs a CUDA device, not {device}"
            raise ValueError(msg)
        if self.host:
            _kernels().warm(d)   # compile (or load) now, not in the first round
            self._a_inv: Any = _kernels().packed_identity(r, m, d, reg)      # (R, M, P) packed
            self._theta: Any = np.zeros((r, m, d))
            self._ones = np.ones((r, 0))   # per-arm unit scales, sized on first use
            self._no_update = (np.empty(0, np.int64), np.empty((0, d)), np.empty(0))
        else:
            eye = torch.eye(d, dtype=torch.float64, device=device) / reg
            self._a_inv = eye.expand(r, m, d, d).contiguous()
            self._theta = torch.zeros(r, m, d, dtype=torch.float64, device=device)
            self._offsets = torch.arange(r, device=device) * m
        self._last: tuple[Tensor, int, Any] | None = None
        self._pending: tuple[Any, Any, Any] | None = None   # host: an update not yet applied
        self._replays: dict[Any, Replay] = {}

    def __getstate__(self) -> dict:
        self._settle()
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

    def _x(self, t: Tensor) -> Any:
        """Features as float64 (C-contiguous numpy arrays on the host backend).

        The last conversion is remembered (keyed by the tensor and its in-place version
        counter): an agent that acts on a context and then learns from it converts it once.
        """
        key = (t, t._version)
        if self._last is not None and key[0] is self._last[0] and key[1] == self._last[1]:
            return self._last[2]
        out = np.ascontiguousarray(t.numpy(), np.float64) if self.host else t.to(torch.float64)
        self._last = (*key, out)
        return out

    @property
    def theta(self) -> Tensor:
        """Estimates ``θ_m``, (R, M, d); on a CPU a tensor view of the state."""
        self._settle()
        return torch.from_numpy(self._theta) if self.host else self._theta

    @property
    def a_inv(self) -> Tensor:
        """Inverse Gram matrices ``A_m⁻¹``, (R, M, d, d); on a CPU unpacked, a copy."""
        if self.host:
            self._settle()
            return torch.from_numpy(_kernels().unpack(self._a_inv, self.shape[2]))
        return self._a_inv

    # ---- host backend: one kernel call computes means, widths, scores and the argmax
    def _host_scores(self, x: Tensor, scale: float | Tensor, widths: bool = True) -> tuple:
        xs = self._x(x)
        r, k = xs.shape[0], self.shape[1] if xs.ndim == 2 else xs.shape[1]
        if not (r == self.shape[0] and xs.shape[-1] == self.shape[2] and xs.ndim in (2, 3)
                and (xs.ndim == 2 or self.shape[1] in (1, k))):
            msg = (f"BatchedRidge: contexts must be (R, d) or (R, K, d) with R = {self.shape[0]}, "
                   f"d = {self.shape[2]} and K = {self.shape[1]} models or one; got {tuple(xs.shape)}")
            raise ValueError(msg)
        if isinstance(scale, Tensor):
            c, s = 1.0, np.ascontiguousarray(scale.numpy(), np.float64).reshape(r, k)
        else:
            if self._ones.shape != (r, k):
                self._ones = np.ones((r, k))
            c, s = float(scale), self._ones
        out = (np.empty((r, k)), np.empty((r, k)), np.empty((r, k)), np.empty(r, np.int64))
        pending, self._pending = self._pending or self._no_update, None
        _kernels().compiled(self.shape[2]).scores(self._a_inv, self._theta, *pending, xs, c, s,
                                                  *out, widths)
        return out

    def _settle(self) -> None:
        """Apply a deferred update now (before the state is read other than by scoring)."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            _kernels().compiled(self.shape[2]).update(self._a_inv, self._theta, *pending)

    # ---- torch backend
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
        """Predictions ``θ_{m(a)}ᵀ x_a`` (R, K) for shared ``(R, d)`` or per-arm ``(R, K, d)`` x."""
        if self.host:
            return torch.from_numpy(self._host_scores(x, 0.0, widths=False)[0])
        return self._mean(self._x(x))

    def width2(self, x: Tensor) -> Tensor:
        """Squared widths ``x_aᵀ A_{m(a)}⁻¹ x_a`` (R, K), same layouts as :meth:`mean`."""
        if self.host:
            return torch.from_numpy(self._host_scores(x, 0.0)[1])
        return self._width2(self._x(x))

    def bound(self, x: Tensor, scale: float | Tensor) -> Tensor:
        """``θᵀx_a + scale·√(x_aᵀA⁻¹x_a)`` (R, K): upper confidence scores, or posterior
        samples when ``scale`` is a (R, K) tensor of ``v·z``."""
        if self.host:
            return torch.from_numpy(self._host_scores(x, scale)[2])
        return self._bound(self._x(x), self._x(scale) if isinstance(scale, Tensor) else scale)

    def best(self, x: Tensor, scale: float | Tensor) -> Tensor:
        """The arm of the largest :meth:`bound` per replicate (the first of ties), (R,) int64."""
        if self.host:
            return torch.from_numpy(self._host_scores(x, scale)[3])
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
        """Add one observation per replicate: features ``x`` (R, d), target ``y`` (R,) to ``model`` (R,)."""
        if self.host:
            xs, ys = self._x(x), y.numpy().astype(np.float64).reshape(-1)
            if xs.shape != (self.shape[0], self.shape[2]) or ys.shape != (self.shape[0],):
                msg = (f"BatchedRidge.update: x must be (R, d) = {self.shape[::2]} and y (R,), "
                       f"got {tuple(xs.shape)} and {tuple(y.shape)}")
                raise ValueError(msg)
            # the kernels have no bounds checks: the indices are checked (and owned) now
            m = np.array(model.numpy(), np.int64)
            if m.shape != (self.shape[0],) or _kernels().compiled(self.shape[2]).first_bad(
                    m, self.shape[1]) >= 0:
                msg = (f"BatchedRidge.update: model must hold {self.shape[0]} indices in "
                       f"[0, {self.shape[1]}), got {model.tolist()}")
                raise IndexError(msg)
            self._settle()
            # applied by the next scoring kernel, in the same pass (or by _settle first)
            self._pending = (m, xs if xs.flags.owndata else xs.copy(), ys)
            return
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
