"""Batched multilayer perceptrons: ``R`` independent networks as stacked weights.

Replicate ``r``'s network is ``params[i][r]`` for every layer tensor ``i``; a forward pass is one
batched matmul per layer over all replicates (never a Python loop over replicates), and the
gradient of a sum of per-replicate losses is, per replicate, that replicate's own gradient.
Weights are float32 by default and initialised per replicate from its own generator (PyTorch's
default ``U(−1/√fan_in, 1/√fan_in)``), so replicate ``r`` starts identical whether it runs
alone or in a batch.

Examples
--------
>>> net = BatchedMLP(in_dim=3, hidden=(8,), out_dim=1)
>>> params = net.init([0, 1], device=torch.device("cpu"))
>>> net.forward(params, torch.ones(2, 5, 3)).shape
torch.Size([2, 5, 1])
>>> net.num_params
41
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from olearn.seeding import generators
from olearn.validation import check_choice

__all__ = ["ACTIVATIONS", "BatchedMLP", "encode_arms", "flatten"]

ACTIVATIONS = ("relu", "tanh", "softplus", "gelu")
_ACT = {"relu": torch.relu, "tanh": torch.tanh,
        "softplus": torch.nn.functional.softplus, "gelu": torch.nn.functional.gelu}


def check_network(cls_name: str, hidden: Sequence[int], activation: str) -> tuple[int, ...]:
    """Validate ``hidden`` widths and ``activation``; returns the widths as a tuple."""
    widths = (hidden,) if isinstance(hidden, int) else tuple(hidden)
    if not all(isinstance(w, int) and w >= 1 for w in widths):
        msg = (f"{cls_name}: hidden must be positive integer layer widths, e.g. [100], "
               f"got {hidden!r}")
        raise ValueError(msg)
    check_choice(f"{cls_name}: activation", activation, ACTIVATIONS)
    return widths


class BatchedMLP:
    """Architecture of a fully connected network ``in_dim → hidden… → out_dim``.

    Parameters
    ----------
    in_dim, out_dim
        Input and output sizes.
    hidden
        Widths of the hidden layers (``(100,)``: one hidden layer of 100).
    activation
        ``"relu"``, ``"tanh"``, ``"softplus"`` or ``"gelu"``.

    The object holds no weights: :meth:`init` returns them as a list of ``(R, ...)`` tensors
    (``W`` of shape ``(R, fan_in, fan_out)``, ``b`` of shape ``(R, fan_out)``).
    """

    def __init__(self, *, in_dim: int, hidden: Sequence[int] = (100,), out_dim: int = 1,
                 activation: Literal["relu", "tanh", "softplus", "gelu"] = "relu") -> None:
        self.sizes = (int(in_dim), *(int(h) for h in hidden), int(out_dim))
        self.activation = activation
        self._act = _ACT[activation]

    @property
    def num_params(self) -> int:
        """Number of parameters of one network."""
        return sum(a * b + b for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True))

    def init(self, seeds: Sequence[int], *, device: torch.device, name: str = "init",
             dtype: torch.dtype = torch.float32) -> list[Tensor]:
        """Per-replicate initial weights (one generator per replicate seed)."""
        layers: list[list[Tensor]] = [[] for _ in range(2 * (len(self.sizes) - 1))]
        for g in generators(seeds, name):
            pairs = zip(self.sizes[:-1], self.sizes[1:], strict=True)
            for i, (fan_in, fan_out) in enumerate(pairs):
                bound = 1.0 / math.sqrt(fan_in)
                w = (torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * bound
                b = (torch.rand(fan_out, generator=g) * 2 - 1) * bound
                layers[2 * i].append(w)
                layers[2 * i + 1].append(b)
        return [torch.stack(t).to(device=device, dtype=dtype) for t in layers]

    def forward(self, params: Sequence[Tensor], x: Tensor) -> Tensor:
        """Outputs ``(..., N, out_dim)`` for inputs ``x`` of shape ``(..., N, in_dim)``.

        The leading ``...`` is the replicate axis for batched params, or empty for the
        params of one network (as inside ``torch.func.vmap``).
        """
        h = x
        last = len(params) // 2 - 1
        for i in range(last + 1):
            h = torch.matmul(h, params[2 * i]) + params[2 * i + 1].unsqueeze(-2)
            if i < last:
                h = self._act(h)
        return h

    def scalar(self, params: Sequence[Tensor], x: Tensor) -> Tensor:
        """Scalar output ``(...)`` of a one-output network for inputs ``x`` of shape
        ``(..., N, in_dim)``."""
        return self.forward(params, x).squeeze(-1)

    def pre_activations(self, params: Sequence[Tensor], x: Tensor) -> list[Tensor]:
        """Each layer's output before its activation, ``(..., N, width)``; the last is the
        network's output (:meth:`forward`'s numbers)."""
        zs, h = [], x
        last = len(params) // 2 - 1
        for i in range(last + 1):
            z = torch.matmul(h, params[2 * i]) + params[2 * i + 1].unsqueeze(-2)
            zs.append(z)
            if i < last:
                h = self._act(z)
        return zs

    def grad_factors(self, params: Sequence[Tensor], x: Tensor, zs: Sequence[Tensor],
                     c: Tensor) -> list[tuple[Tensor, Tensor]]:
        """The gradient of ``L`` with ``∂L/∂f = c`` (R, N) for a one-output network, for each
        parameter tensor as two factors ``(H, D)``, ``(R, N, n_in)`` and ``(R, N, n_out)``:
        ``∂L/∂W[r] = Σ_n H[r, n]ᵀ D[r, n]`` (``H`` the layer's input, ``D`` the gradient at its
        output; a bias has ``H`` = ones, ``n_in = 1``); ``zs``: :meth:`pre_activations` at ``x``.

        The gradient is left unformed: for the first layer it is ``(R, in_dim, width)``, and a
        compiled step that reads it element by element builds it from the factors instead
        (``N`` is small). Backpropagation is by hand through the matmuls, by autograd through
        each activation only (small ``(R, N, width)`` tensors).
        """
        hs, acts = [x.contiguous()], []
        for z in zs[:-1]:
            z = z.detach().requires_grad_(True)
            with torch.enable_grad():
                a = self._act(z)
            acts.append((z, a))
            hs.append(a.detach().contiguous())
        d = c.unsqueeze(-1).contiguous()
        out: list[tuple[Tensor, Tensor]] = []
        for i in range(len(zs) - 1, -1, -1):
            out[:0] = [(hs[i], d), (d.new_ones(*d.shape[:-1], 1), d)]
            if i:
                z, a = acts[i - 1]
                up = torch.matmul(d, params[2 * i].transpose(-1, -2))
                d = torch.autograd.grad(a, z, up)[0].contiguous()
        return out

    def per_sample_grads(self, params: Sequence[Tensor], x: Tensor) -> Tensor:
        """Flattened gradients ``∇_θ f(θ_r; x_{r,n})`` of a scalar network, shape (R, N, p).

        Uses ``torch.func``: ``vmap`` over replicates and samples of ``grad``.
        """
        from torch.func import grad, vmap

        def f(p: tuple[Tensor, ...], xi: Tensor) -> Tensor:
            return self.forward(p, xi.unsqueeze(0)).reshape(())

        per_rep = vmap(vmap(grad(f), in_dims=(None, 0)), in_dims=(0, 0))
        grads = per_rep(tuple(params), x)
        r, n = x.shape[0], x.shape[1]
        return torch.cat([g.reshape(r, n, -1) for g in grads], dim=2)


def flatten(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate per-replicate tensors ``(R, ...)`` into ``(R, p)``."""
    return torch.cat([t.reshape(t.shape[0], -1) for t in tensors], dim=1)


def unflatten_like(flat: Tensor, like: Sequence[Tensor]) -> list[Tensor]:
    """Split ``(R, p)`` back into tensors shaped like ``like``."""
    out, i = [], 0
    for t in like:
        n = t[0].numel()
        out.append(flat[:, i:i + n].reshape(t.shape))
        i += n
    return out


def encode_arms(obs: Tensor, arms: int, per_arm: bool,
                dtype: torch.dtype = torch.float32) -> Tensor:
    """Network inputs ``(R, K, D)``: per-arm contexts as they are, or the disjoint encoding.

    A shared context ``x`` (R, d) becomes ``x ⊗ e_a`` (R, K, K·d): ``x`` copied into block ``a``
    and zeros elsewhere, the encoding of the NeuralUCB/NeuralTS classification pipelines.

    >>> encode_arms(torch.tensor([[1.0, 2.0]]), 2, False)[0].tolist()
    [[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 1.0, 2.0]]
    """
    x = obs.to(dtype)
    if per_arm:
        return x
    r, d = x.shape
    eye = torch.eye(arms, dtype=dtype, device=x.device)
    return (eye.view(1, arms, arms, 1) * x.view(r, 1, 1, d)).reshape(r, arms, arms * d)


def input_dim(per_arm: bool, dim: int, arms: int) -> int:
    """Network input size for :func:`encode_arms`."""
    return dim if per_arm else arms * dim
