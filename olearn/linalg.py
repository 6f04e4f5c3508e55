"""Batched linear algebra shared by environments and agents (which may not import each
other): minimum-norm solves of positive semi-definite systems, augmented triangular factors
updated by rank-``q`` Householder steps (compiled, CPU), replicate chunks sized to the cache,
and a one-thread context for small batched factorizations.

Examples
--------
>>> A = torch.tensor([[[2.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)
>>> min_norm_solve(A, torch.tensor([[4.0, 0.0]], dtype=torch.float64)).tolist()
[[2.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

__all__ = ["definite_factor", "factor_add_bags", "factor_add_instances", "factor_solve",
           "factor_update", "factors_compiled", "min_norm_solve", "one_thread",
           "replicate_chunks", "row_space_solve"]


def _definite(A: Tensor, L: Tensor, info: Tensor, rtol: float) -> Tensor:  # noqa: N803
    """Which replicates' ``A`` are numerically positive definite: the factorization succeeded
    and every pivot² is above ``rtol`` times the largest diagonal entry."""
    scale = A.diagonal(dim1=-2, dim2=-1).amax(dim=-1).clamp_min(torch.finfo(A.dtype).tiny)
    pivots = L.diagonal(dim1=-2, dim2=-1).amin(dim=-1)
    return (info == 0) & (pivots * pivots > rtol * scale)


def min_norm_solve(A: Tensor, b: Tensor, *, rtol: float = 1e-10) -> Tensor:  # noqa: N803
    """``A⁺b`` for a batch of PSD matrices ``A`` ``(R, d, d)`` and vectors ``b`` ``(R, d)``.

    Cholesky where ``A`` is numerically positive definite (every pivot² above ``rtol`` times
    the largest diagonal entry); the eigendecomposition pseudo-inverse (eigenvalues below
    ``rtol`` times the largest dropped) for the other replicates, batched, never looped.
    """
    L, info = torch.linalg.cholesky_ex(A)
    ok = _definite(A, L, info, rtol)
    if not bool(ok.all()):
        L = torch.where(ok[:, None, None], L, torch.eye(A.shape[-1], dtype=A.dtype,
                                                        device=A.device))
    # two batched triangular solves (BLAS trsm): far cheaper than cholesky_solve's
    # per-matrix LAPACK calls
    z = torch.linalg.solve_triangular(L, b.unsqueeze(-1), upper=False)
    x = torch.linalg.solve_triangular(L.mT, z, upper=True).squeeze(-1)
    if not bool(ok.all()):
        bad = (~ok).nonzero().squeeze(-1)
        w, V = torch.linalg.eigh(A[bad])
        keep = w > rtol * w.amax(dim=-1, keepdim=True).clamp_min(torch.finfo(A.dtype).tiny)
        inv = torch.where(keep, 1.0 / torch.where(keep, w, torch.ones_like(w)), 0.0)
        coef = (V.transpose(-1, -2) @ b[bad].unsqueeze(-1)).squeeze(-1) * inv
        x = x.index_copy(0, bad, (V @ coef.unsqueeze(-1)).squeeze(-1))
    return x


def row_space_solve(U: Tensor, v: Tensor, *, rtol: float = 1e-10) -> Tensor | None:  # noqa: N803
    """The minimum-norm solution ``(UᵀU)⁺Uᵀv = Uᵀ(UUᵀ)⁻¹v`` ``(R, d)`` for rows ``U``
    ``(R, n, d)`` of full row rank (``n ≤ d``) and ``v`` ``(R, n)``: an ``n × n`` Cholesky
    instead of the ``d × d`` eigendecomposition :func:`min_norm_solve` needs while ``UᵀU`` is
    singular; ``None`` unless every ``UUᵀ`` passes its pivot test.

    >>> U = torch.tensor([[[1.0, 1.0, 0.0]]], dtype=torch.float64)
    >>> row_space_solve(U, torch.tensor([[2.0]], dtype=torch.float64)).tolist()
    [[1.0, 1.0, 0.0]]
    """
    G = U @ U.mT
    L, info = torch.linalg.cholesky_ex(G)
    if not bool(_definite(G, L, info, rtol).all()):
        return None
    z = torch.linalg.solve_triangular(L, v.unsqueeze(-1), upper=False)
    z = torch.linalg.solve_triangular(L.mT, z, upper=True)
    return (U.mT @ z).squeeze(-1)


def factors_compiled(device: torch.device, dtype: torch.dtype = torch.float64) -> bool:
    """Whether :func:`factor_update` runs its compiled kernel here (CPU, float64); callers keep
    their batched torch path (an inverse by Woodbury, or refactoring) elsewhere."""
    return device.type == "cpu" and dtype == torch.float64


def definite_factor(A: Tensor, b: Tensor, *, rtol: float = 1e-10) -> Tensor | None:  # noqa: N803
    """The augmented upper factor ``F`` ``(R, d+1, d+1)`` of positive definite ``A`` ``(R, d, d)``
    and right-hand sides ``b`` ``(R, d)``: ``F[:d, :d] = Lᵀ`` (``A = LLᵀ``), ``F[:d, d] = L⁻¹b``
    (so ``bᵀA⁻¹b = ‖F[:d, d]‖²``), ``F[d, d] = 0``; ``None`` unless every ``A`` passes the pivot
    test of :func:`min_norm_solve`.

    >>> A = torch.tensor([[[4.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
    >>> definite_factor(A, torch.tensor([[2.0, 3.0]], dtype=torch.float64))[0].tolist()
    [[2.0, 0.0, 1.0], [0.0, 1.0, 3.0], [0.0, 0.0, 0.0]]
    >>> definite_factor(torch.zeros(1, 2, 2, dtype=torch.float64), torch.zeros(1, 2)) is None
    True
    """
    L, info = torch.linalg.cholesky_ex(A)
    if not bool(_definite(A, L, info, rtol).all()):
        return None
    r, d = A.shape[0], A.shape[-1]
    F = torch.zeros(r, d + 1, d + 1, dtype=A.dtype, device=A.device)
    F[:, :d, :d] = L.mT
    F[:, :d, d] = torch.linalg.solve_triangular(L, b.unsqueeze(-1), upper=False).squeeze(-1)
    return F


def factor_update(F: Tensor, rows: Tensor, cols: int) -> None:  # noqa: N803
    """In place: ``F`` ``(R, m, m)`` (upper, ``FᵀF = G``) becomes the factor of ``G + VᵀV`` for
    ``V = rows`` ``(R, q, m)``, by Householder reflections on its first ``cols`` columns (the
    later columns' rows ``< cols`` carried along). ``F`` contiguous, CPU, float64 (see
    :func:`factors_compiled`); compiled, ``2qm²`` flops a replicate. ``rows`` is the kernel's
    scratch: overwritten when it is already a contiguous float64 tensor (pass a fresh one).

    With ``V``'s last column the responses and ``cols = m``, ``F[m−1, m−1]²`` is the least
    squares residual sum of squares: the update keeps it without any solve.

    >>> F = torch.zeros(1, 3, 3, dtype=torch.float64)
    >>> F[0, 0, 0] = F[0, 1, 1] = 1.0
    >>> factor_update(F, torch.tensor([[[1.0, 1.0, 2.0], [1.0, -1.0, 0.0]]],
    ...                                dtype=torch.float64), 3)
    >>> (F[0].T @ F[0]).round(decimals=12).tolist()
    [[3.0, 0.0, 2.0], [0.0, 3.0, 2.0], [2.0, 2.0, 4.0]]
    >>> round(float(F[0, 2, 2] ** 2), 12)        # 4 − bᵀA⁻¹b = 4 − 8/3
    1.333333333333
    """
    from olearn.linalg_kernels import qr_update

    if not (F.is_contiguous() and factors_compiled(F.device, F.dtype)):
        msg = "factor_update needs a contiguous float64 factor on the CPU"
        raise ValueError(msg)
    qr_update(F.numpy(), rows.to(torch.float64).contiguous().numpy(), cols)


def _compiled_args(F: Tensor, *arrays: Tensor) -> list[Any]:  # noqa: N803
    if not (F.is_contiguous() and factors_compiled(F.device, F.dtype)):
        msg = "the factor updates need a contiguous float64 factor on the CPU"
        raise ValueError(msg)
    return [F.numpy(), *(a.to(torch.float64).contiguous().numpy() for a in arrays)]


def factor_add_instances(F: Tensor, x: Tensor, y: Tensor) -> None:  # noqa: N803
    """Least squares in place: add the instances ``x`` ``(R, k, d)`` with responses ``y``
    ``(R, k)`` to the augmented factors ``F`` ``(R, d+1, d+1)`` of ``[[Σxxᵀ, Σxy], [·, Σy²]]``
    (:func:`factor_update` with rows ``[x_i, y_i]``, built in the kernel): ``F[:, d, d]²`` is
    the residual sum of squares of the best ``θ`` so far.

    >>> x = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]], dtype=torch.float64)
    >>> y = torch.tensor([[1.0, 1.0, 3.0]], dtype=torch.float64)
    >>> F = torch.zeros(1, 3, 3, dtype=torch.float64)
    >>> F[0, 0, 0] = F[0, 1, 1] = 1e-300           # a definite start (only to show the sums)
    >>> factor_add_instances(F, x, y)
    >>> round(float(F[0, 2, 2] ** 2), 12)            # θ = (4/3, 4/3): residuals 1/3, 1/3, 1/3
    0.333333333333
    """
    from olearn.linalg_kernels import add_instances

    add_instances(*_compiled_args(F, x, y))


def factor_add_bags(F: Tensor, x: Tensor, ybar: Tensor, rho: float) -> Tensor:  # noqa: N803
    """The interpolating estimator's closed form (papers §4.2) in place: add each replicate's
    bag (features ``x`` ``(R, k, d)``, released mean ``ybar`` ``(R,)``) to its factor ``F``
    ``(R, d+1, d+1)`` of ``[[S_bag + ρ·S_within, c], [cᵀ, ·]]`` (``c = Σ k·x̄ȳ``), as the rows
    ``[x̄ + √ρ(x_i − x̄), ȳ]`` (one row ``√k·[x̄, ȳ]`` for ``ρ = 0``); returns ``θ = M⁻¹c``
    ``(R, d)``. Compiled: per replicate the rows, the reflections and the back substitution,
    in cache.
    """
    from olearn.linalg_kernels import add_bags

    theta = torch.empty(F.shape[0], F.shape[-1] - 1, dtype=torch.float64)
    f, xs, ys = _compiled_args(F, x, ybar)
    add_bags(f, xs, ys, float(rho), theta.numpy())
    return theta


def factor_solve(F: Tensor) -> Tensor:  # noqa: N803
    """``θ = F[:d, :d]⁻¹ F[:d, d]`` ``(R, d)`` for augmented factors ``F`` ``(R, d+1, d+1)``: the
    solution of ``Aθ = b`` when ``F`` came from :func:`definite_factor` and updates (compiled
    back substitution on the CPU, a batched triangular solve elsewhere).

    >>> A = torch.tensor([[[4.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
    >>> factor_solve(definite_factor(A, torch.tensor([[2.0, 3.0]], dtype=torch.float64))).tolist()
    [[0.5, 3.0]]
    """
    d = F.shape[-1] - 1
    if not (F.is_contiguous() and factors_compiled(F.device, F.dtype)):
        return torch.linalg.solve_triangular(F[:, :d, :d], F[:, :d, d:], upper=True).squeeze(-1)
    from olearn.linalg_kernels import back_solve

    theta = torch.empty(F.shape[0], d, dtype=F.dtype)
    back_solve(F.numpy(), theta.numpy(), d)
    return theta


def replicate_chunks(replicates: int, dim: int, *, budget: int = 1 << 20) -> list[slice]:
    """Slices of replicates whose ``(d, d)`` float64 matrices fit ``budget`` bytes together
    (batched ``d×d`` work is memory-bound once the matrices leave the cache).

    >>> len(replicate_chunks(256, 100))
    20
    """
    size = max(1, budget // (8 * dim * dim))
    return [slice(i, min(i + size, replicates)) for i in range(0, replicates, size)]


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one torch thread, then restore the count.

    Batched small factorizations parallelize over the batch with OpenMP; on a loaded machine
    a second thread turns a 16×(5×5) Cholesky from ~10 µs into ~12 ms (the threads spin at
    barriers). Workaround for the runner's thread cap, which the numba cap overrides (after
    ``olearn.runner._cpu_threads(1)`` torch reports 2 threads again).
    """
    n = torch.get_num_threads()
    if n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
