"""The compiled CPU backend of :class:`~olearn.agents.bandits.ridge.BatchedRidge`.

The state is numpy arrays: ``A⁻¹`` packed (upper triangles, ``P = d(d+1)/2`` numbers a model)
and ``θ``. A round is one call of a compiled kernel
(:mod:`olearn.agents.bandits.ridge_kernels`): :meth:`CompiledRidge.update` checks its input
and defers the learning to the next scoring call, which learns and then scores in one pass;
any other read of the state (``theta``, ``a_inv``, a pickle) applies a pending update first.
Methods take and return torch tensors; the returned ones view the state or fresh arrays.

The backend owns its thread policy: the kernels split replicates over numba's threads, up to
the calling thread's numba thread count (the user's cap, which the runner sets from a spec's
``threads``), and below :data:`SERIAL_BELOW` replicates on one thread only.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from olearn.agents.bandits import ridge_kernels

__all__ = ["SERIAL_BELOW", "CompiledRidge", "kernel_threads"]

SERIAL_BELOW = 64
"""Below this many replicates the kernels run on one thread: waking another costs more than
the share of a round it would take over."""


def kernel_threads(replicates: int) -> int:
    """The most threads the kernels use for ``replicates``; 0: as many as the cap allows.

    Examples
    --------
    >>> kernel_threads(8), kernel_threads(256)
    (1, 0)
    """
    return 1 if replicates < SERIAL_BELOW else 0


class CompiledRidge:
    """Ridge models on numpy state, learned and scored by compiled kernels; CPU only.

    Parameters
    ----------
    replicates, models, dim
        Shapes: ``R`` replicates × ``M`` models × ``d`` features, ``1 <= d <= 4096``.
    reg
        Ridge strength λ > 0.

    Examples
    --------
    >>> ridge = CompiledRidge(replicates=1, models=2, dim=3, reg=1.0)
    >>> x = torch.tensor([[1.0, 2.0, 2.0]])
    >>> ridge.update(torch.tensor([1]), x, torch.tensor([9.0]))   # applied by the next call
    >>> ridge.mean(x).tolist(), ridge.best(x, 1.0).tolist()
    ([[0.0, 8.1]], [1])
    """

    def __init__(self, *, replicates: int, models: int, dim: int, reg: float) -> None:
        r, m, d = replicates, models, dim
        self.shape = (r, m, d)
        self.threads = kernel_threads(r)
        self._kernels = ridge_kernels.compiled(d)
        ridge_kernels.warm(d)   # compile (or load) now, not in the first round
        self._a_inv = ridge_kernels.packed_identity(r, m, d, reg)      # (R, M, P) packed
        self._theta = np.zeros((r, m, d))
        self._ones = np.ones((r, 0))   # per-arm unit scales, sized on first use
        self._no_update = (np.empty(0, np.int64), np.empty((0, d)), np.empty(0))
        self._last: tuple[Tensor, int, np.ndarray] | None = None
        self._pending: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __getstate__(self) -> dict:
        self._settle()
        state = self.__dict__.copy()
        state["_last"] = None
        del state["_kernels"]   # compiled functions: looked up again on unpickling
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._kernels = ridge_kernels.compiled(self.shape[2])

    def _x(self, t: Tensor) -> np.ndarray:
        """Features as a C-contiguous float64 array.

        The last conversion is remembered (keyed by the tensor and its in-place version
        counter): an agent that acts on a context and then learns from it converts it once.
        """
        key = (t, t._version)
        if self._last is not None and key[0] is self._last[0] and key[1] == self._last[1]:
            return self._last[2]
        out = np.ascontiguousarray(t.numpy(), np.float64)
        self._last = (*key, out)
        return out

    def _settle(self) -> None:
        """Apply a deferred update now (before the state is read other than by scoring)."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._kernels.update(self._a_inv, self._theta, *pending, self.threads)

    def _scores(self, x: Tensor, scale: float | Tensor, widths: bool = True) -> tuple:
        """Means, squared widths, scores and best arms: one kernel call (after a pending update)."""
        xs = self._x(x)
        r, k = xs.shape[0], self.shape[1] if xs.ndim == 2 else xs.shape[1]
        if not (r == self.shape[0] and xs.shape[-1] == self.shape[2] and xs.ndim in (2, 3)
                and (xs.ndim == 2 or self.shape[1] in (1, k))):
            msg = (f"BatchedRidge: contexts must be (R, d) or (R, K, d) with R = {self.shape[0]}, "
                   f"d = {self.shape[2]} and K = {self.shape[1]} models or one; "
                   f"got {tuple(xs.shape)}")
            raise ValueError(msg)
        if isinstance(scale, Tensor):
            c, s = 1.0, np.ascontiguousarray(scale.numpy(), np.float64).reshape(r, k)
        else:
            if self._ones.shape != (r, k):
                self._ones = np.ones((r, k))
            c, s = float(scale), self._ones
        out = (np.empty((r, k)), np.empty((r, k)), np.empty((r, k)), np.empty(r, np.int64))
        pending, self._pending = self._pending or self._no_update, None
        self._kernels.scores(self._a_inv, self._theta, *pending, xs, c, s, *out, widths,
                             self.threads)
        return out

    @property
    def theta(self) -> Tensor:
        """Estimates ``θ_m``, (R, M, d): a tensor view of the state."""
        self._settle()
        return torch.from_numpy(self._theta)

    @property
    def a_inv(self) -> Tensor:
        """Inverse Gram matrices ``A_m⁻¹``, (R, M, d, d): unpacked, a copy."""
        self._settle()
        return torch.from_numpy(ridge_kernels.unpack(self._a_inv, self.shape[2]))

    def mean(self, x: Tensor) -> Tensor:
        """Predictions ``θ_{m(a)}ᵀ x_a`` (R, K)."""
        return torch.from_numpy(self._scores(x, 0.0, widths=False)[0])

    def width2(self, x: Tensor) -> Tensor:
        """Squared widths ``x_aᵀ A_{m(a)}⁻¹ x_a`` (R, K)."""
        return torch.from_numpy(self._scores(x, 0.0)[1])

    def bound(self, x: Tensor, scale: float | Tensor) -> Tensor:
        """``θᵀx_a + scale·√(x_aᵀA⁻¹x_a)`` (R, K)."""
        return torch.from_numpy(self._scores(x, scale)[2])

    def best(self, x: Tensor, scale: float | Tensor) -> Tensor:
        """The arm of the largest :meth:`bound` per replicate (the first of ties), (R,) int64."""
        return torch.from_numpy(self._scores(x, scale)[3])

    def update(self, model: Tensor, x: Tensor, y: Tensor) -> None:
        """Check and own one observation per replicate; the next scoring call learns it."""
        xs, ys = self._x(x), y.numpy().astype(np.float64).reshape(-1)
        if xs.shape != (self.shape[0], self.shape[2]) or ys.shape != (self.shape[0],):
            msg = (f"BatchedRidge.update: x must be (R, d) = {self.shape[::2]} and y (R,), "
                   f"got {tuple(xs.shape)} and {tuple(y.shape)}")
            raise ValueError(msg)
        # the kernels have no bounds checks: the indices are checked (and owned) now
        m = np.array(model.numpy(), np.int64)
        if m.shape != (self.shape[0],) or self._kernels.first_bad(m, self.shape[1]) >= 0:
            msg = (f"BatchedRidge.update: model must hold {self.shape[0]} indices in "
                   f"[0, {self.shape[1]}), got {model.tolist()}")
            raise IndexError(msg)
        self._settle()
        # applied by the next scoring kernel, in the same pass (or by _settle first)
        self._pending = (m, xs if xs.flags.owndata else xs.copy(), ys)
