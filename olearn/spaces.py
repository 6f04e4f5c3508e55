"""Decision sets of online convex optimization: ball, simplex and box, batched over replicates.

A domain knows how to project (Euclidean), test membership and report its diameter. The
gymnasium spaces :class:`BallSpace` and :class:`SimplexSpace` are ``Box`` spaces whose
``contains`` and ``sample`` respect the true set, so ``check_env`` and the agent contract tests
see valid points; agents read the geometry back with :func:`domain_of`. Their batch over
replicates (what ``gymnasium.vector.utils.batch_space`` returns for them, so a batched env's
``action_space``) is a :class:`BatchedDomainSpace`: one point of the set per row, sampled and
tested row by row.
:func:`ball_quadratic_min` solves ``min ½yᵀHy − bᵀy`` over a ball exactly (eigendecomposition
plus a safeguarded secular-equation solve); the SEA environment's comparator and the
exp-concave (online-Newton) projection both use it. Numerics in float64.

Examples
--------
>>> import torch
>>> ball = Domain("ball", dim=2, radius=1.0)
>>> ball.project(torch.tensor([[3.0, 4.0]], dtype=torch.float64)).tolist()
[[0.6, 0.8]]
>>> Domain("simplex", dim=3).project(torch.tensor([[2.0, 0.0, 0.0]])).tolist()
[[1.0, 0.0, 0.0]]
"""

from __future__ import annotations

import math
from copy import deepcopy
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector.utils import batch_space
from torch import Tensor

from olearn.validation import check_choice

__all__ = ["BallSpace", "BatchedDomainSpace", "Domain", "SimplexSpace", "ball_quadratic_min",
           "domain_of", "project_simplex"]

TOL = 1e-6


class BallSpace(spaces.Box):
    """Euclidean ball ``{x : ‖x‖ ≤ radius}`` in ``R^dim`` as a gymnasium ``Box`` (float64).

    Examples
    --------
    >>> space = BallSpace(2.0, 3, seed=0)
    >>> bool(np.linalg.norm(space.sample()) <= 2.0), space.contains(np.array([2.0, 0.0, 0.0]))
    (True, True)
    >>> space.contains(np.array([2.0, 2.0, 0.0]))
    False
    """

    domain = "ball"

    def __init__(self, radius: float, dim: int, seed: Any = None) -> None:
        super().__init__(-radius, radius, (dim,), dtype=np.float64, seed=seed)
        self.radius = float(radius)

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        """A uniform point of the ball."""
        z = self.np_random.standard_normal(self.shape[0])
        u = self.np_random.random() ** (1.0 / self.shape[0])
        return self.radius * u * z / max(np.linalg.norm(z), 1e-300)

    def sample_rows(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent uniform points of the ball drawn from ``rng``, shape ``(n, dim)``."""
        d = self.shape[0]
        z = rng.standard_normal((n, d))
        u = rng.random(n) ** (1.0 / d)
        norms = np.maximum(np.linalg.norm(z, axis=1), 1e-300)
        return (self.radius * u / norms)[:, None] * z

    def inside(self, x: np.ndarray) -> np.ndarray:
        """Per row of ``x`` (..., dim): ``‖x‖ ≤ radius·(1 + 1e-6)``."""
        return np.linalg.norm(x, axis=-1) <= self.radius * (1 + TOL) + 1e-12

    def contains(self, x: Any) -> bool:
        """Shape, dtype and ``‖x‖ ≤ radius·(1 + 1e-6)``."""
        x = np.asarray(x)
        return (x.shape == self.shape and np.can_cast(x.dtype, self.dtype)
                and bool(self.inside(x)))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, BallSpace) and other.shape == self.shape
                and other.radius == self.radius)

    def __repr__(self) -> str:
        return f"BallSpace(radius={self.radius}, dim={self.shape[0]})"


class SimplexSpace(spaces.Box):
    """Probability simplex in ``R^dim`` as a gymnasium ``Box`` on ``[0, 1]^dim`` (float64).

    Examples
    --------
    >>> space = SimplexSpace(3, seed=0)
    >>> x = space.sample()
    >>> round(float(x.sum()), 12), space.contains(x), space.contains(np.full(3, 0.5))
    (1.0, True, False)
    """

    domain = "simplex"

    def __init__(self, dim: int, seed: Any = None) -> None:
        super().__init__(0.0, 1.0, (dim,), dtype=np.float64, seed=seed)

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        """A uniform (Dirichlet(1)) point of the simplex."""
        return self.np_random.dirichlet(np.ones(self.shape[0]))

    def sample_rows(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent uniform points of the simplex from ``rng``, shape ``(n, dim)``."""
        return rng.dirichlet(np.ones(self.shape[0]), size=n)

    def inside(self, x: np.ndarray) -> np.ndarray:
        """Per row of ``x`` (..., dim): ``x ≥ −1e-6`` and ``|Σx − 1| ≤ 1e-6``."""
        return (x >= -TOL).all(axis=-1) & (np.abs(x.sum(axis=-1) - 1.0) <= TOL)

    def contains(self, x: Any) -> bool:
        """Shape, dtype, ``x ≥ −1e-6`` and ``|Σx − 1| ≤ 1e-6``."""
        x = np.asarray(x)
        return (x.shape == self.shape and np.can_cast(x.dtype, self.dtype)
                and bool(self.inside(x)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SimplexSpace) and other.shape == self.shape

    def __repr__(self) -> str:
        return f"SimplexSpace(dim={self.shape[0]})"


class BatchedDomainSpace(spaces.Box):
    """``n`` points of a :class:`BallSpace` or :class:`SimplexSpace`, one a row: shape ``(n, dim)``.

    What ``gymnasium.vector.utils.batch_space`` makes of those spaces (registered here), so a
    batched environment's ``action_space.sample()`` holds a point of the set in every row (the
    plain ``Box`` batch would sample the bounding cube) and ``contains`` tests every row with
    the single space's test.

    Examples
    --------
    >>> batched = batch_space(BallSpace(1.0, 3), 4)
    >>> batched
    BatchedDomainSpace(BallSpace(radius=1.0, dim=3), n=4)
    >>> _ = batched.seed(0)
    >>> x = batched.sample()
    >>> x.shape, bool((np.linalg.norm(x, axis=1) <= 1.0).all()), batched.contains(x)
    ((4, 3), True, True)
    >>> batched.contains(np.ones((4, 3)))
    False
    """

    def __init__(self, single: BallSpace | SimplexSpace, n: int, seed: Any = None) -> None:
        if not (isinstance(n, int) and n >= 1):
            msg = f"n (replicates) must be a positive integer, got {n!r}"
            raise ValueError(msg)
        super().__init__(np.tile(single.low, (n, 1)), np.tile(single.high, (n, 1)),
                         dtype=single.dtype, seed=seed)
        self.single, self.n = single, n

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        """One uniform point of the set per row."""
        return self.single.sample_rows(self.np_random, self.n)

    def contains(self, x: Any) -> bool:
        """Shape ``(n, dim)``, dtype, and every row in the set."""
        x = np.asarray(x)
        return (x.shape == self.shape and np.can_cast(x.dtype, self.dtype)
                and bool(self.single.inside(x).all()))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, BatchedDomainSpace) and other.n == self.n
                and other.single == self.single)

    def __repr__(self) -> str:
        return f"BatchedDomainSpace({self.single!r}, n={self.n})"


@batch_space.register(BallSpace)
@batch_space.register(SimplexSpace)
def _batch_domain_space(space: BallSpace | SimplexSpace, n: int = 1) -> BatchedDomainSpace:
    return BatchedDomainSpace(space, n, seed=deepcopy(space.np_random))


def project_simplex(y: Tensor) -> Tensor:
    """Euclidean projection of each row (last dim) onto the probability simplex (sort based)."""
    k = y.shape[-1]
    u, _ = torch.sort(y, dim=-1, descending=True)
    css = u.cumsum(-1) - 1.0
    idx = torch.arange(1, k + 1, device=y.device, dtype=y.dtype)
    cond = u - css / idx > 0
    rho = cond.to(y.dtype).cumsum(-1).argmax(-1, keepdim=True)  # last True (cond is a prefix)
    tau = css.gather(-1, rho) / (rho + 1).to(y.dtype)
    return (y - tau).clamp_min(0.0)


class Domain:
    """A convex decision set: ``"ball"`` (radius), ``"simplex"`` or ``"box"`` (low, high).

    Parameters
    ----------
    kind
        ``"ball"``, ``"simplex"`` or ``"box"``.
    dim
        Dimension of the points.
    radius
        Ball radius (``kind="ball"``).
    low, high
        Box bounds (``kind="box"``), scalars or arrays of shape ``(dim,)``.
    """

    def __init__(self, kind: Literal["ball", "simplex", "box"], *, dim: int,
                 radius: float = 1.0, low: Any = -1.0, high: Any = 1.0) -> None:
        check_choice("domain kind", kind, ("ball", "simplex", "box"))
        if not (isinstance(dim, int) and dim >= 1):
            msg = f"dim must be a positive integer, got {dim!r}"
            raise ValueError(msg)
        if kind == "ball" and not radius > 0:
            msg = f"radius must be positive, got {radius!r}"
            raise ValueError(msg)
        self.kind, self.dim, self.radius = kind, dim, float(radius)
        self.low = np.broadcast_to(np.asarray(low, dtype=np.float64), (dim,)).copy()
        self.high = np.broadcast_to(np.asarray(high, dtype=np.float64), (dim,)).copy()

    @property
    def diameter(self) -> float:
        """``sup ‖x − y‖`` over the set."""
        if self.kind == "ball":
            return 2.0 * self.radius
        if self.kind == "simplex":
            return math.sqrt(2.0)
        return float(np.linalg.norm(self.high - self.low))

    def center(self, replicates: int, device: torch.device) -> Tensor:
        """A starting point per replicate: the origin, the uniform point or the box centre."""
        if self.kind == "simplex":
            return torch.full((replicates, self.dim), 1.0 / self.dim, dtype=torch.float64,
                              device=device)
        if self.kind == "box":
            c = torch.as_tensor((self.low + self.high) / 2, device=device)
            return c.expand(replicates, -1).clone()
        return torch.zeros(replicates, self.dim, dtype=torch.float64, device=device)

    def project(self, y: Tensor) -> Tensor:
        """Euclidean projection of each row of ``y`` onto the set."""
        if self.kind == "ball":
            n = y.norm(dim=-1, keepdim=True)
            return y * (self.radius / n.clamp_min(self.radius))
        if self.kind == "simplex":
            return project_simplex(y)
        lo = torch.as_tensor(self.low, dtype=y.dtype, device=y.device)
        hi = torch.as_tensor(self.high, dtype=y.dtype, device=y.device)
        return torch.minimum(torch.maximum(y, lo), hi)

    def violation(self, x: Tensor) -> Tensor:
        """Per row, how far ``x`` is outside the set (0 inside)."""
        if self.kind == "ball":
            return (x.norm(dim=-1) - self.radius).clamp_min(0.0)
        if self.kind == "simplex":
            return torch.maximum((-x).clamp_min(0.0).amax(-1), (x.sum(-1) - 1.0).abs())
        return (x - self.project(x)).abs().amax(-1)

    def space(self) -> gym.Space:
        """The gymnasium action space of this set."""
        if self.kind == "ball":
            return BallSpace(self.radius, self.dim)
        if self.kind == "simplex":
            return SimplexSpace(self.dim)
        return spaces.Box(self.low, self.high, (self.dim,), dtype=np.float64)


def domain_of(space: gym.Space, who: str = "agent") -> Domain:
    """The :class:`Domain` of a ``BallSpace``, ``SimplexSpace`` or 1-d ``Box`` action space."""
    kind = getattr(space, "domain", None)
    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        msg = f"{who} needs a 1-d Box action space (ball, simplex or box), got {space}"
        raise ValueError(msg)
    dim = int(space.shape[0])
    if kind == "ball":
        radius = space.radius  # type: ignore[attr-defined]  # a "ball" Box carries its radius
        return Domain("ball", dim=dim, radius=float(radius))
    if kind == "simplex":
        return Domain("simplex", dim=dim)
    if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
        msg = f"{who} needs a bounded action space, got {space}"
        raise ValueError(msg)
    return Domain("box", dim=dim, low=space.low, high=space.high)


def ball_quadratic_min(h: Tensor, b: Tensor, radius: float, *,
                       iters: int = 100) -> tuple[Tensor, Tensor]:
    """Exact ``argmin_{‖y‖≤radius} ½yᵀHy − bᵀy`` for PSD ``H`` (R, d, d) and ``b`` (R, d).

    Eigendecompose ``H = QΛQᵀ``; if the (minimum-norm) unconstrained minimizer lies in the
    ball it is the answer, else ``y(μ) = Q(Λ + μ)⁻¹Qᵀb`` with ``‖y(μ)‖ = radius`` found by a
    safeguarded Newton iteration on ``1/‖y(μ)‖ − 1/radius`` (concave and increasing in μ,
    so Newton from the left converges monotonically). Returns ``(y, value)``.

    Examples
    --------
    >>> h = torch.eye(2, dtype=torch.float64)[None]
    >>> y, v = ball_quadratic_min(h, torch.tensor([[3.0, 4.0]], dtype=torch.float64), 1.0)
    >>> y.tolist(), round(float(v), 3)
    ([[0.6, 0.8]], -4.5)
    """
    lam, q = torch.linalg.eigh(h)
    lam = lam.clamp_min(0.0)
    bt = (q.transpose(-1, -2) @ b.unsqueeze(-1)).squeeze(-1)          # (R, d)
    scale = lam.amax(-1, keepdim=True).clamp_min(1e-300)
    null = lam <= 1e-12 * scale
    inside_coef = torch.where(null, torch.zeros_like(bt), bt / torch.where(null, 1.0, lam))
    unconstrained_ok = (inside_coef.norm(dim=-1) <= radius) & ~(null & (bt.abs() > 1e-12 *
                        bt.abs().amax(-1, keepdim=True).clamp_min(1e-300))).any(-1)
    # Newton on phi(mu) = 1/||y(mu)|| - 1/r from mu0 = max_i (|b_i|/r - lam_i)+ <= root
    mu = (bt.abs() / radius - lam).amax(-1).clamp_min(0.0)
    mu = torch.where(unconstrained_ok, torch.zeros_like(mu), mu)
    for _ in range(0 if bool(unconstrained_ok.all()) else iters):
        den = lam + mu.unsqueeze(-1)
        ny2 = (bt * bt / (den * den).clamp_min(1e-300)).sum(-1)
        ny = ny2.sqrt()
        dny = -(bt * bt / (den ** 3).clamp_min(1e-300)).sum(-1) / ny.clamp_min(1e-300)
        phi = 1.0 / ny.clamp_min(1e-300) - 1.0 / radius
        dphi = -dny / ny2.clamp_min(1e-300)
        step = phi / dphi.clamp_min(1e-300)
        step = torch.where(unconstrained_ok | (ny == 0), torch.zeros_like(step), step)
        mu = (mu - step).clamp_min(0.0)
        if bool((step.abs() <= 1e-13 * (scale.squeeze(-1) + mu)).all()):
            break
    den = lam + mu.unsqueeze(-1)
    coef = torch.where(unconstrained_ok.unsqueeze(-1), inside_coef,
                       bt / den.clamp_min(1e-300))
    y = (q @ coef.unsqueeze(-1)).squeeze(-1)
    n = y.norm(dim=-1, keepdim=True)
    y = y * (radius / n.clamp_min(radius))                            # round-off guard
    value = 0.5 * (y.unsqueeze(-2) @ h @ y.unsqueeze(-1)).reshape(y.shape[0]) - (b * y).sum(-1)
    return y, value
