"""Mirror maps (geometries) of online mirror descent and FTRL, batched over replicates.

Each map ``ψ`` offers the two operations every optimistic method needs, on all rows at once:

* ``step(x̂, g, η) = argmin_{x∈X} ⟨g, x⟩ + B_ψ(x, x̂)/η`` (one mirror-descent step);
* ``ftrl(L, η) = argmin_{x∈X} ⟨L, x⟩ + ψ(x)/η`` (follow the regularized leader);

plus ``to_dual`` (``∇ψ``), ``to_primal`` (``∇ψ*`` restricted to ``X``) and ``bregman``.

* :class:`Euclidean` ``ψ = ½‖x‖²`` on a ball, simplex or box (projection).
* :class:`NegativeEntropy` ``ψ = Σ xᵢ log xᵢ`` on the simplex (exponential weights).
* :class:`LogBarrier` ``ψ = −Σ log xᵢ`` on the simplex; both steps reduce to
  :func:`log_barrier_simplex`, the shared exact normalizer solve that the adversarial-MDP
  policy updates reuse per state.

:func:`newton_step` is the online-Newton geometry ``ψ = ½‖x‖²_U`` of the exp-concave case
(generalized projection onto a ball, exact). Numerics in float64.

Examples
--------
>>> import torch
>>> lb = LogBarrier()
>>> x = lb.ftrl(torch.tensor([[-1e9, 0.0, 5.0]], dtype=torch.float64), 1.0)
>>> round(float(x.sum()), 12), bool((x > 0).all())
(1.0, True)
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from olearn.spaces import Domain, ball_quadratic_min

__all__ = ["Euclidean", "LogBarrier", "MirrorMap", "NegativeEntropy", "log_barrier_simplex",
           "make_mirror_map", "newton_step"]


def _eta(eta: float | Tensor, like: Tensor) -> Tensor | float:
    """Broadcast a scalar or per-row ``η`` (shape ``like.shape[:-1]``) against rows of ``like``."""
    if isinstance(eta, Tensor):
        return eta.to(like.dtype).unsqueeze(-1)
    return float(eta)


def log_barrier_simplex(loss: Tensor, eta: float | Tensor, *, iters: int = 100,
                        tol: float = 1e-13) -> Tensor:
    """Exact ``argmin_{x∈Δ} ⟨L, x⟩ − (1/η) Σᵢ log xᵢ`` over the last dimension.

    The minimizer is ``xᵢ = 1/(η(Lᵢ + λ))`` with the normalizer ``λ`` making ``Σ xᵢ = 1``.
    Losses are shifted by their row minimum first (``L' = L − min L ≥ 0``), so arbitrarily
    negative (or large) cumulative losses cost nothing in accuracy; the root ``λ'`` then lies
    in ``[1/η, K/η]``, and Newton's method started at ``1/η`` on the convex decreasing
    ``φ(λ) = Σ 1/(η(L'ᵢ + λ)) − 1`` increases monotonically to it (quadratic convergence).

    Parameters
    ----------
    loss
        Cumulative (or shifted) losses, any leading shape ``(..., K)``.
    eta
        Positive step size: a float or a tensor of shape ``(...)`` (one per row).
    iters, tol
        Newton iteration cap and relative stopping tolerance on the step in ``λ``.

    Returns
    -------
    Tensor
        Points of the simplex, same shape as ``loss``; every entry is strictly positive.

    Examples
    --------
    >>> x = log_barrier_simplex(torch.tensor([[0.0, 0.0], [-1e300, 1.0]], dtype=torch.float64), 2.0)
    >>> x[0].tolist(), round(float(x[1, 0]), 6)
    ([0.5, 0.5], 1.0)
    """
    if isinstance(eta, Tensor):
        if not bool((eta > 0).all()):
            msg = "eta must be positive in every row"
            raise ValueError(msg)
    elif not eta > 0:
        msg = f"eta must be positive, got {eta!r}"
        raise ValueError(msg)
    e = _eta(eta, loss)
    shifted = loss - loss.amin(-1, keepdim=True)
    lam = torch.ones_like(loss[..., :1]) / e      # (..., 1): phi(1/eta) >= 0
    for _ in range(iters):
        inv = 1.0 / (e * (shifted + lam))
        phi = inv.sum(-1, keepdim=True) - 1.0
        dphi = -(e * inv * inv).sum(-1, keepdim=True)
        step = phi / dphi
        lam = lam - step
        if bool((step.abs() <= tol * lam).all()):
            break
    x = 1.0 / (e * (shifted + lam))
    return x / x.sum(-1, keepdim=True)


class MirrorMap:
    """Base class. ``radius`` is ``√(2·range of ψ)`` on the set, the ``D`` of step-size rules."""

    name = "mirror"
    radius: float = 1.0

    def to_dual(self, x: Tensor) -> Tensor:
        """``∇ψ(x)``."""
        raise NotImplementedError

    def to_primal(self, theta: Tensor) -> Tensor:
        """``argmin_{x∈X} ψ(x) − ⟨θ, x⟩``."""
        raise NotImplementedError

    def bregman(self, x: Tensor, y: Tensor) -> Tensor:
        """``B_ψ(x, y) = ψ(x) − ψ(y) − ⟨∇ψ(y), x − y⟩`` per row."""
        raise NotImplementedError

    def dual_norm2(self, v: Tensor) -> Tensor:
        """Squared dual norm of each row (what adaptive step sizes accumulate)."""
        return (v * v).sum(-1)

    def step(self, x_hat: Tensor, g: Tensor, eta: float | Tensor) -> Tensor:
        """``argmin_{x∈X} ⟨g, x⟩ + B_ψ(x, x̂)/η``."""
        return self.to_primal(self.to_dual(x_hat) - _eta(eta, g) * g)

    def ftrl(self, loss: Tensor, eta: float | Tensor) -> Tensor:
        """``argmin_{x∈X} ⟨L, x⟩ + ψ(x)/η``."""
        return self.to_primal(-_eta(eta, loss) * loss)


class Euclidean(MirrorMap):
    """``ψ = ½‖x‖²``: steps are Euclidean projections onto the domain.

    Examples
    --------
    >>> m = Euclidean(Domain("ball", dim=2, radius=1.0))
    >>> m.step(torch.zeros(1, 2, dtype=torch.float64), torch.tensor([[0.0, -5.0]]), 1.0).tolist()
    [[0.0, 1.0]]
    """

    name = "euclidean"

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.radius = domain.diameter

    def to_dual(self, x: Tensor) -> Tensor:
        return x

    def to_primal(self, theta: Tensor) -> Tensor:
        return self.domain.project(theta)

    def bregman(self, x: Tensor, y: Tensor) -> Tensor:
        return 0.5 * ((x - y) ** 2).sum(-1)


class NegativeEntropy(MirrorMap):
    """``ψ = Σ xᵢ log xᵢ`` on the simplex: exponential weights (stable log-sum-exp).

    Examples
    --------
    >>> m = NegativeEntropy(3)
    >>> m.ftrl(torch.tensor([[0.0, 0.0, 1e6]], dtype=torch.float64), 1.0).tolist()
    [[0.5, 0.5, 0.0]]
    """

    name = "entropy"

    def __init__(self, dim: int) -> None:
        self.radius = math.sqrt(2.0 * math.log(max(dim, 2)))

    def to_dual(self, x: Tensor) -> Tensor:
        return 1.0 + torch.log(x)

    def to_primal(self, theta: Tensor) -> Tensor:
        return torch.softmax(theta, dim=-1)

    def bregman(self, x: Tensor, y: Tensor) -> Tensor:
        xlogx = torch.where(x > 0, x * torch.log(x / y), torch.zeros_like(x))
        return (xlogx - x + y).sum(-1)

    def dual_norm2(self, v: Tensor) -> Tensor:
        return v.abs().amax(-1) ** 2


class LogBarrier(MirrorMap):
    """``ψ = −Σ log xᵢ`` on the simplex; both steps are one :func:`log_barrier_simplex` call.

    ``radius`` defaults to ``√(2·dim)``: the barrier is unbounded on the simplex, so this
    scale is a reconstruction (the range of ``ψ`` over points with ``xᵢ ≥ 1/(e·dim)``, up to
    a constant); pass ``D`` to the step-size rule to override it.
    """

    name = "log_barrier"

    def __init__(self, dim: int = 2) -> None:
        self.radius = math.sqrt(2.0 * dim)

    def to_dual(self, x: Tensor) -> Tensor:
        return -1.0 / x

    def to_primal(self, theta: Tensor) -> Tensor:
        # argmin -sum log x - <theta, x>: x_i = 1/(lam - theta_i), i.e. losses L = -theta, eta = 1
        return log_barrier_simplex(-theta, 1.0)

    def bregman(self, x: Tensor, y: Tensor) -> Tensor:
        r = x / y
        return (r - torch.log(r) - 1.0).sum(-1)

    def dual_norm2(self, v: Tensor) -> Tensor:
        return v.abs().amax(-1) ** 2

    def step(self, x_hat: Tensor, g: Tensor, eta: float | Tensor) -> Tensor:
        # 1/x_i = 1/x_hat_i + eta (g_i + lam): losses 1/(eta x_hat) + g at step size eta
        e = _eta(eta, g)
        return log_barrier_simplex(1.0 / (e * x_hat) + g, eta)

    def ftrl(self, loss: Tensor, eta: float | Tensor) -> Tensor:
        return log_barrier_simplex(loss, eta)


def make_mirror_map(name: Literal["euclidean", "entropy", "log_barrier"], domain: Domain,
                    who: str = "agent") -> MirrorMap:
    """Build a mirror map by name for a domain, with an actionable error on a mismatch."""
    if name == "euclidean":
        return Euclidean(domain)
    if name in ("entropy", "log_barrier"):
        if domain.kind != "simplex":
            msg = (f"{who}: mirror={name!r} needs the simplex domain, got a {domain.kind}; "
                   "use mirror='euclidean' or an env with domain='simplex'")
            raise ValueError(msg)
        return NegativeEntropy(domain.dim) if name == "entropy" else LogBarrier(domain.dim)
    msg = f"mirror must be 'euclidean', 'entropy' or 'log_barrier', got {name!r}"
    raise ValueError(msg)


def newton_step(x_hat: Tensor, g: Tensor, u: Tensor, radius: float) -> Tensor:
    """``argmin_{‖x‖≤radius} ⟨g, x⟩ + ½‖x − x̂‖²_U`` exactly (online-Newton geometry).

    Examples
    --------
    >>> u = 2.0 * torch.eye(2, dtype=torch.float64)[None]
    >>> newton_step(torch.zeros(1, 2, dtype=torch.float64), torch.tensor([[-1.0, 0.0]]), u, 1.0)
    tensor([[0.5000, 0.0000]], dtype=torch.float64)
    """
    b = (u @ x_hat.unsqueeze(-1)).squeeze(-1) - g.to(x_hat.dtype)
    return ball_quadratic_min(u, b, radius)[0]
