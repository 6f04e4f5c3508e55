"""Loss families of the SEA environment: per-round losses, gradients and exact comparators.

Each family draws the round's loss from the regime's centre (``env.centre(t)``) and noise,
returns what the environment reports, and keeps running sufficient statistics of the expected
(and realized) cumulative loss so the best fixed point in hindsight is exact every round.
Used only by :mod:`olearn.envs.oco.sea`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn.functional import softplus

from olearn.seeding import draw, stream
from olearn.spaces import ball_quadratic_min

FAMILIES = ("linear", "quadratic", "squared", "logistic")
LAST_ITERS = 0  # iterations of the last logistic solve (diagnostics)


@dataclass
class RoundResult:
    """What one round of a family produces (all (R,) unless noted)."""

    real_loss: Tensor
    exp_loss: Tensor
    grad: Tensor                     # (R, d)
    comparator: Tensor               # min_x sum_{s<=t} F_s(x)
    realized_comparator: Tensor      # min_x sum_{s<=t} f_s(x)
    sigma2: Tensor | float
    Sigma2: Tensor | float
    round_min: Tensor | float = 0.0  # min_x F_t(x) (dynamic regret)
    shift: Tensor | float = 0.0      # ||u_t - u_{t-1}||


def make_family(env: Any, seeds: list[int]) -> Any:
    """The family object of ``env.loss``."""
    if env.loss in ("linear", "quadratic"):
        return _VectorFamily(env, seeds)
    return _RegressionFamily(env, seeds)


def _dot(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).sum(-1)


class _VectorFamily:
    """``linear`` ⟨v, x⟩ and ``quadratic`` ½‖x − v‖² with ``v = c_t + σz`` or a ROM item."""

    fused = False   # set in __init__ (and absent from checkpoints written before it existed)

    def __init__(self, env: Any, seeds: list[int]) -> None:
        self.env, dev, r, d = env, env.device, env.num_envs, env.dim
        self.quad = env.loss == "quadratic"
        z = torch.zeros(r, dtype=torch.float64, device=dev)
        zv = torch.zeros(r, d, dtype=torch.float64, device=dev)
        self.s_exp, self.s_real = zv.clone(), zv.clone()
        self.q_exp, self.q_real = z.clone(), z.clone()
        self.prev_c = zv.clone()
        self.prev_u: Tensor | None = None
        self.var = env.sigma ** 2 * d
        # the fused CPU round (sea_kernels.linear_round), under the fast streams only
        self.fused = (not self.quad and env.regime != "rom" and not env.track_dynamic
                      and dev.type == "cpu" and env._rng == "fast")
        if self.fused:
            self.z0 = torch.zeros(r, d, dtype=torch.float32)
        if env.regime == "rom":
            self.items = env._c.unsqueeze(1) + env.sigma * draw(seeds, "items", (env.items, d),
                                                                device=dev)
            self.rows = torch.arange(r, device=dev)

    def _rom(self, t: int) -> tuple[Tensor, Tensor, Tensor]:
        perm, pos = self.env.pass_order(t)
        if pos == 0:
            self.rem_sum = self.items.sum(1)
            self.rem_sq = (self.items * self.items).sum((1, 2))
        n = self.env.items - pos
        c_bar = self.rem_sum / n
        var = self.rem_sq / n - _dot(c_bar, c_bar)
        v = self.items[self.rows, perm[:, pos]]
        self.rem_sum = self.rem_sum - v
        self.rem_sq = self.rem_sq - _dot(v, v)
        return c_bar, v, var.clamp_min(0.0)

    def _min_linear(self, s: Tensor) -> tuple[Tensor, Tensor]:
        """(argmin, min) of ⟨s, x⟩ over the domain."""
        if self.env.domain == "ball":
            n = s.norm(dim=-1)
            u = -self.env.radius * s / n.clamp_min(1e-300).unsqueeze(-1)
            return u, -self.env.radius * n
        i = s.argmin(-1, keepdim=True)
        return torch.zeros_like(s).scatter_(-1, i, 1.0), s.gather(-1, i).squeeze(-1)

    def _min_quad(self, n: float, s: Tensor, q: Tensor) -> tuple[Tensor, Tensor]:
        """(argmin, min) of n/2‖x‖² − ⟨s, x⟩ + q/2 over the domain."""
        u = self.env._domain.project(s / n)
        return u, 0.5 * n * _dot(u, u) - _dot(s, u) + 0.5 * q

    def fused_step(self, t: int, x: Tensor,
                   cum: dict[str, Tensor]) -> tuple[Tensor, Tensor] | int:
        """Round ``t`` in one compiled call (:func:`~olearn.envs.oco.sea_kernels.linear_round`):
        ``(out, grad)``, ``out`` the kernel's ``(7, R)`` rows (losses, comparator, oracle
        entries, reward), with ``cum``'s losses and variances updated in place; or the index of
        the first replicate whose action is outside the domain (then nothing has changed)."""
        from olearn.envs.oco import sea_kernels as k

        env = self.env
        spent = env._spent
        c = env.centre(t)   # the corrupted regime spends its budget here: undone if refused
        if env._noise is None:
            z, a, b = self.z0, 0.0, 0.0
        else:
            z, a, b = env.noise_affine(t)
        xn = x.contiguous().numpy()
        grad = np.empty_like(xn)
        out = np.empty((k.ROWS, len(xn)))
        bad = k.linear_round(
            xn, c.contiguous().numpy(), z.contiguous().numpy(), a, b, t, env.regime == "iid",
            env.domain == "ball", env.radius, 1e-6 * max(1.0, env.radius), self.var,
            *self._views(cum), grad, out)
        if bad >= 0:
            env._spent = spent
            return bad
        return torch.from_numpy(out), torch.from_numpy(grad)

    def _views(self, cum: dict[str, Tensor]) -> tuple[np.ndarray, ...]:
        """numpy views of the state the compiled round updates in place (kept while the same
        tensors hold it; never pickled: a view would come back as a copy)."""
        key = (self.s_exp, self.s_real, self.prev_c, cum["real"], cum["exp"], cum["sigma2"],
               cum["Sigma2"])
        got = self.__dict__.get("_np")
        if got is None or any(a is not b for a, b in zip(got[0], key, strict=True)):
            got = self._np = (key, tuple(v.numpy() for v in key))
        return got[1]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_np", None)
        return state

    def round(self, t: int, x: Tensor) -> RoundResult:
        env = self.env
        if env.regime == "rom":
            c_bar, v, var = self._rom(t)
        else:
            c_bar = env.centre(t)
            xi = env.stochastic(t)
            v = c_bar if xi is None else c_bar + xi
            var = self.var
        self.s_exp += c_bar
        self.s_real += v
        if self.quad:
            diff = x - v
            real, grad = 0.5 * _dot(diff, diff), diff
            e = x - c_bar
            exp = 0.5 * _dot(e, e) + 0.5 * var
            self.q_exp += _dot(c_bar, c_bar) + var
            self.q_real += _dot(v, v)
            comp = self._min_quad(t, self.s_exp, self.q_exp)[1]
            rcomp = self._min_quad(t, self.s_real, self.q_real)[1]
        else:
            real, grad, exp = _dot(v, x), v, _dot(c_bar, x)
            comp = self._min_linear(self.s_exp)[1]
            rcomp = self._min_linear(self.s_real)[1]
        dc = c_bar - self.prev_c
        if self.quad and t == 1:   # sup_x ||x - c_1||^2 (grad F_0 = 0)
            if env.domain == "ball":
                big = (env.radius + c_bar.norm(dim=-1)) ** 2
            else:
                big = _dot(c_bar, c_bar) + 1.0 - 2.0 * c_bar.amin(-1)
        else:
            big = _dot(dc, dc)
        self.prev_c = c_bar
        out = RoundResult(real, exp, grad, comp, rcomp, var, big)
        if env.track_dynamic:
            if self.quad:
                u = env._domain.project(c_bar)
                out.round_min = 0.5 * _dot(u - c_bar, u - c_bar) + 0.5 * var
            else:
                u, out.round_min = self._min_linear(c_bar)
            if self.prev_u is not None:
                out.shift = (u - self.prev_u).norm(dim=-1)
            self.prev_u = u
        return out


class _RegressionFamily:
    """``squared`` (y − aᵀx)² and ``logistic`` log(1 + e^{−y aᵀx}) on a pool of points."""

    def __init__(self, env: Any, seeds: list[int]) -> None:
        self.env, dev, r, d, n = env, env.device, env.num_envs, env.dim, env.items
        self.logistic = env.loss == "logistic"
        a = draw(seeds, "pool", (n, d), device=dev)
        self.pool = a / a.norm(dim=-1, keepdim=True)                      # (R, n, d)
        self.rows = torch.arange(r, device=dev)
        self.m_pool = self.pool.transpose(1, 2) @ self.pool / n            # (R, d, d)
        lam = torch.linalg.eigvalsh(self.m_pool - self.m_pool @ self.m_pool)
        self.spread_pool = lam[:, -1].clamp_min(0.0)
        self.index = (stream(seeds, "index", (), kind="uniform", device=dev)
                      if env.regime not in ("adversarial", "rom") else None)
        self.label = (stream(seeds, "label", (), kind="uniform" if self.logistic else "normal",
                             device=dev) if env.sigma > 0 else None)
        z, zn = (torch.zeros(r, dtype=torch.float64, device=dev),
                 torch.zeros(r, n, dtype=torch.float64, device=dev))
        zm, zv = (torch.zeros(r, d, d, dtype=torch.float64, device=dev),
                  torch.zeros(r, d, dtype=torch.float64, device=dev))
        if self.logistic:
            self.w_pos, self.w_neg, self.r_pos, self.r_neg = zn.clone(), zn.clone(), zn.clone(), zn
            self.x_exp, self.x_real = zv.clone(), zv.clone()
            self.prev_wp, self.prev_wn = zn.clone(), zn.clone()
        else:
            self.a_exp, self.b_exp, self.c_exp = zm.clone(), zv.clone(), z.clone()
            self.a_real, self.b_real, self.c_real = zm.clone(), zv.clone(), z.clone()
            self.prev_m, self.prev_b = zm.clone(), zv.clone()
        self.prev_u: Tensor | None = None

    def _weights(self, t: int) -> tuple[Tensor, Tensor]:
        """Index k_t (R,) and its distribution w_t (R, n) for round t."""
        env, n = self.env, self.env.items
        if env.regime == "adversarial":
            k = torch.full((env.num_envs,), (t - 1) % n, dtype=torch.long, device=env.device)
            w = torch.nn.functional.one_hot(k, n).to(torch.float64)
        elif env.regime == "rom":
            perm, pos = env.pass_order(t)
            if pos == 0:
                self.remaining = torch.ones(env.num_envs, n, dtype=torch.float64, device=env.device)
            k = perm[:, pos]
            w = self.remaining / (n - pos)
            self.remaining = self.remaining.scatter(1, k.unsqueeze(1), 0.0)
        else:
            assert self.index is not None
            k = (self.index(t - 1) * n).long().clamp_(max=n - 1)
            w = torch.full((env.num_envs, n), 1.0 / n, dtype=torch.float64, device=env.device)
        return k, w

    def round(self, t: int, x: Tensor) -> RoundResult:
        env = self.env
        theta = env.centre(t)
        k, w = self._weights(t)
        a = self.pool[self.rows, k]                                         # (R, d)
        if self.logistic:
            return self._logistic(t, x, theta, k, w, a)
        return self._squared(t, x, theta, w, a)

    def _squared(self, t: int, x: Tensor, theta: Tensor, w: Tensor, a: Tensor) -> RoundResult:
        env, s2 = self.env, self.env.sigma ** 2
        y = _dot(a, theta)
        if self.label is not None:
            y = y + env.sigma * self.label(t - 1)
        res = _dot(a, x) - y
        real, grad = res * res, 2.0 * res.unsqueeze(-1) * a
        if env.regime in ("adversarial", "rom"):
            m = torch.einsum("rn,rni,rnj->rij", w, self.pool, self.pool)
        else:
            m = self.m_pool
        mt = (m @ theta.unsqueeze(-1)).squeeze(-1)
        e = x - theta
        exp = _dot(e, (m @ e.unsqueeze(-1)).squeeze(-1)) + s2
        self.a_exp += m
        self.b_exp += mt
        self.c_exp += _dot(theta, mt) + s2
        self.a_real += a.unsqueeze(-1) * a.unsqueeze(-2)
        self.b_real += y.unsqueeze(-1) * a
        self.c_real += y * y
        comp = ball_quadratic_min(2 * self.a_exp, 2 * self.b_exp, env.radius)[1] + self.c_exp
        rcomp = ball_quadratic_min(2 * self.a_real, 2 * self.b_real, env.radius)[1] + self.c_real
        # bounds: sup_x E||grad f - grad F||^2 <= 4[lmax(M - M^2)(r + |theta|)^2 + s^2] and
        # sup_x ||grad F_t - grad F_{t-1}||^2 <= 4(|dM|_F r + |d(M theta)|)^2
        if env.regime == "adversarial":
            spread = torch.zeros_like(exp)
        elif env.regime == "rom":
            spread = torch.linalg.eigvalsh(m - m @ m)[:, -1].clamp_min(0.0)
        else:
            spread = self.spread_pool
        sigma2 = 4.0 * (spread * (env.radius + theta.norm(dim=-1)) ** 2 + s2)
        dm = (m - self.prev_m).flatten(1).norm(dim=-1)
        big = 4.0 * (dm * env.radius + (mt - self.prev_b).norm(dim=-1)) ** 2
        self.prev_m, self.prev_b = m, mt
        out = RoundResult(real, exp, grad, comp, rcomp, sigma2, big)
        if env.track_dynamic:
            u, v = ball_quadratic_min(2 * m, 2 * mt, env.radius)
            out.round_min = v + _dot(theta, mt) + s2
            if self.prev_u is not None:
                out.shift = (u - self.prev_u).norm(dim=-1)
            self.prev_u = u
        return out

    def _logistic(self, t: int, x: Tensor, theta: Tensor, k: Tensor, w: Tensor,
                  a: Tensor) -> RoundResult:
        env, s = self.env, self.env.sigma
        sign_all = torch.where((self.pool @ theta.unsqueeze(-1)).squeeze(-1) >= 0, 1.0, -1.0)
        p = torch.where(sign_all > 0, 1.0 - s, s).to(torch.float64)         # P(y = +1 | k)
        y = sign_all.gather(1, k.unsqueeze(1)).squeeze(1)
        if self.label is not None:
            y = torch.where(self.label(t - 1) < s, -y, y)
        za = _dot(a, x)
        real = softplus(-y * za)
        grad = (-y * torch.sigmoid(y * za * -1.0)).unsqueeze(-1) * a
        z = (self.pool @ x.unsqueeze(-1)).squeeze(-1)                        # (R, n)
        exp = (w * (p * softplus(-z) + (1 - p) * softplus(z))).sum(-1)
        wp, wn = w * p, w * (1 - p)
        self.w_pos += wp
        self.w_neg += wn
        pos = (y > 0).to(torch.float64).unsqueeze(1)
        onehot = torch.nn.functional.one_hot(k, env.items).to(torch.float64)
        self.r_pos = self.r_pos + onehot * pos
        self.r_neg = self.r_neg + onehot * (1 - pos)
        self.x_exp, comp = logistic_ball_min(self.pool, self.w_pos, self.w_neg, self.x_exp,
                                             env.radius)
        self.x_real, rcomp = logistic_ball_min(self.pool, self.r_pos, self.r_neg, self.x_real,
                                               env.radius)
        random = env.regime != "adversarial" or s > 0
        sigma2 = torch.full_like(exp, 1.0 if random else 0.0)   # bound: |grad f| <= 1
        big = ((wp - self.prev_wp).abs().sum(-1) + (wn - self.prev_wn).abs().sum(-1)) ** 2
        self.prev_wp, self.prev_wn = wp, wn
        return RoundResult(real, exp, grad, comp, rcomp, sigma2, big)


def _logistic_value(pool: Tensor, wp: Tensor, wn: Tensor, x: Tensor) -> Tensor:
    z = (pool @ x.unsqueeze(-1)).squeeze(-1)
    return (wp * softplus(-z) + wn * softplus(z)).sum(-1)


def logistic_ball_min(pool: Tensor, wp: Tensor, wn: Tensor, x0: Tensor, radius: float, *,
                      iters: int = 50, tol: float = 1e-10) -> tuple[Tensor, Tensor]:
    """``argmin_{‖x‖≤r} Σ_k wp_k ℓ(a_kᵀx) + wn_k ℓ(−a_kᵀx)``, ``ℓ(z) = log(1 + e^{−z})``.

    Proximal Newton (each step minimizes the second-order model exactly over the ball with
    :func:`ball_quadratic_min`) with a backtracking line search, warm-started at ``x0``;
    stops when every replicate's step is below ``tol``.
    """
    x = x0
    alphas = 0.5 ** torch.arange(12, dtype=torch.float64, device=x.device)
    eye = torch.eye(x.shape[-1], dtype=torch.float64, device=x.device)
    global LAST_ITERS
    for LAST_ITERS in range(iters):  # noqa: B007
        z = (pool @ x.unsqueeze(-1)).squeeze(-1)
        g = (pool * (-wp * torch.sigmoid(-z) + wn * torch.sigmoid(z)).unsqueeze(-1)).sum(1)
        curv = (wp + wn) * torch.sigmoid(z) * torch.sigmoid(-z)
        h = torch.einsum("rn,rni,rnj->rij", curv, pool, pool) + 1e-12 * eye
        y, _ = ball_quadratic_min(h, (h @ x.unsqueeze(-1)).squeeze(-1) - g, radius)
        d = y - x
        f0 = _logistic_value(pool, wp, wn, x)
        cand = x.unsqueeze(0) + alphas.view(-1, 1, 1) * d.unsqueeze(0)     # (A, R, d)
        zc = torch.einsum("rnd,ard->arn", pool, cand)
        fc = (wp * softplus(-zc) + wn * softplus(zc)).sum(-1)              # (A, R)
        ok = fc <= f0.unsqueeze(0) + 1e-4 * alphas.view(-1, 1) * _dot(g, d).unsqueeze(0)
        first = torch.where(ok.any(0), ok.to(torch.int64).argmax(0), torch.full_like(f0, 11,
                            dtype=torch.int64))
        step = alphas[first].unsqueeze(-1) * d
        x = x + step
        if bool((step.norm(dim=-1) <= tol).all()):
            break
    return x, _logistic_value(pool, wp, wn, x)
