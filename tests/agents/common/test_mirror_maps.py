"""Mirror maps, projections and the shared log-barrier simplex solver."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from olearn.agents.common.mirror_maps import (
    Euclidean,
    LogBarrier,
    NegativeEntropy,
    log_barrier_simplex,
    newton_step,
)
from olearn.spaces import Domain, ball_quadratic_min, project_simplex

F64 = torch.float64


def _simplex_points(n: int, k: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, k, generator=g, dtype=F64) + 0.05
    return x / x.sum(-1, keepdim=True)


MAPS = [("euclidean-ball", Euclidean(Domain("ball", dim=4, radius=2.0))),
        ("euclidean-simplex", Euclidean(Domain("simplex", dim=4))),
        ("entropy", NegativeEntropy(4)), ("log_barrier", LogBarrier(4))]


@pytest.mark.parametrize(("name", "mirror"), MAPS)
def test_round_trip_and_bregman(name, mirror):
    x = _simplex_points(64, 4, 0)
    y = _simplex_points(64, 4, 1)
    back = mirror.to_primal(mirror.to_dual(x))
    torch.testing.assert_close(back, x, rtol=0, atol=1e-10)
    b = mirror.bregman(x, y)
    assert bool((b >= -1e-12).all())
    assert bool((b > 1e-8).any())
    torch.testing.assert_close(mirror.bregman(x, x), torch.zeros(64, dtype=F64), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("name", "mirror"), MAPS)
def test_step_is_the_bregman_proximal_point(name, mirror):
    """``step(x̂, g, η)`` minimizes ``⟨g, x⟩ + B(x, x̂)/η`` (checked against scipy)."""
    x_hat = _simplex_points(3, 4, 2)
    g = torch.tensor([[1.0, -2.0, 0.5, 0.0], [3.0, 3.0, -1.0, 0.2], [0.0, 0.0, 0.0, 1.0]],
                     dtype=F64)
    out = mirror.step(x_hat, g, 0.7)
    for r in range(3):
        def obj(v, r=r):
            x = torch.as_tensor(v, dtype=F64)[None]
            return float((g[r] * x[0]).sum() + mirror.bregman(x, x_hat[r:r + 1])[0] / 0.7)
        ours = obj(out[r].numpy())
        start = x_hat[r].numpy()
        if name == "euclidean-ball":
            cons = [{"type": "ineq", "fun": lambda v: 4.0 - v @ v}]
            bounds = None
        else:
            cons = [{"type": "eq", "fun": lambda v: v.sum() - 1.0}]
            bounds = [(1e-9, 1.0)] * 4
        res = minimize(obj, start, method="SLSQP", bounds=bounds, constraints=cons,
                       options={"ftol": 1e-13, "maxiter": 500})
        assert ours <= res.fun + 1e-7


def test_log_barrier_solver_valid_and_shift_invariant_for_very_negative_losses():
    g = torch.Generator().manual_seed(3)
    # (R, S, A) per-state use; multiples of 2^-10 so that adding -2^k offsets below is exact
    loss = torch.round(torch.randn(5, 7, 6, generator=g, dtype=F64) * 10 * 1024) / 1024
    eta = torch.rand(5, 7, generator=g, dtype=F64) + 0.1               # one eta per row
    x = log_barrier_simplex(loss, eta)
    assert bool((x > 0).all())
    torch.testing.assert_close(x.sum(-1), torch.ones(5, 7, dtype=F64), rtol=0, atol=1e-12)
    # optimality: 1/x_i - eta*L_i is the same constant (eta*lambda) for every coordinate
    c = 1.0 / x - eta.unsqueeze(-1) * (loss - loss.amin(-1, keepdim=True))
    assert float((c - c.mean(-1, keepdim=True)).abs().max()) < 1e-8 * float(c.abs().max())
    for k in (20, 35, 42):   # cumulative losses of -1e6 .. -4e12: same answer
        torch.testing.assert_close(log_barrier_simplex(loss - 2.0 ** k, eta), x, rtol=1e-9, atol=0)
    lost = log_barrier_simplex(loss - 1e300, eta)   # all differences lost: uniform, still valid
    torch.testing.assert_close(lost, torch.full_like(x, 1 / 6), rtol=1e-12, atol=0)
    huge = log_barrier_simplex(torch.tensor([[-1e300, 0.0, 1e300]], dtype=F64), 1e-3)
    assert bool(torch.isfinite(huge).all()) and abs(float(huge.sum()) - 1) < 1e-12


def test_log_barrier_matches_generic_solver():
    """Against scipy on the un-shifted problem (moderate losses) and on its shifted twin."""
    loss = np.array([-3.0, -2.5, 0.0, 4.0, -3.0])
    eta = 1.7

    def obj(v):
        return float(loss @ v - np.log(v).sum() / eta)

    res = minimize(obj, np.full(5, 0.2), method="SLSQP", bounds=[(1e-12, 1.0)] * 5,
                   constraints=[{"type": "eq", "fun": lambda v: v.sum() - 1.0}],
                   options={"ftol": 1e-15, "maxiter": 1000})
    ours = log_barrier_simplex(torch.tensor(loss - 1e9)[None], eta)[0].numpy()
    np.testing.assert_allclose(ours, res.x, atol=1e-5)
    assert obj(ours) <= res.fun + 1e-10


def test_projections_match_scipy():
    g = torch.Generator().manual_seed(4)
    y = torch.randn(6, 5, generator=g, dtype=F64) * 2
    p = project_simplex(y)
    for r in range(6):
        res = minimize(lambda v, r=r: float(((v - y[r].numpy()) ** 2).sum()), np.full(5, 0.2),
                       method="SLSQP", bounds=[(0, 1)] * 5,
                       constraints=[{"type": "eq", "fun": lambda v: v.sum() - 1}],
                       options={"ftol": 1e-14})
        np.testing.assert_allclose(p[r].numpy(), res.x, atol=1e-5)
    a = torch.randn(6, 5, 2, generator=g, dtype=F64)                   # rank-2 PSD H (null space)
    h = a @ a.transpose(-1, -2)
    b = torch.randn(6, 5, generator=g, dtype=F64) * 3
    _, val = ball_quadratic_min(h, b, 0.7)
    for r in range(6):
        hh, bb = h[r].numpy(), b[r].numpy()
        res = minimize(lambda v, hh=hh, bb=bb: 0.5 * v @ hh @ v - bb @ v, np.zeros(5),
                       method="SLSQP",
                       constraints=[{"type": "ineq", "fun": lambda v: 0.49 - v @ v}],
                       options={"ftol": 1e-14, "maxiter": 500})
        v = res.x * min(1.0, 0.7 / float(np.linalg.norm(res.x)))   # SLSQP may end just outside
        feasible = 0.5 * v @ hh @ v - bb @ v                        # an upper bound on the min
        assert float(val[r]) <= feasible + 1e-9
        assert abs(float(val[r]) - feasible) < 1e-6
    x = newton_step(torch.zeros(6, 5, dtype=F64), -b, h + torch.eye(5, dtype=F64), 0.7)
    assert float(x.norm(dim=-1).max()) <= 0.7 + 1e-12
