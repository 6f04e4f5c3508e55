"""The Stochastically Extended Adversarial (SEA) model of online convex optimization."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from olearn.envs.oco.sea_losses import FAMILIES, make_family
from olearn.seeding import draw, resolve_kind, stream
from olearn.spaces import Domain
from olearn.validation import check_choice
from olearn.vector import BatchedEnv, single_view

REGIMES = ("iid", "adversarial", "corrupted", "rom", "drift")


class SEAVector(BatchedEnv):
    r"""SEA online convex optimization with exact static (and optional dynamic) regret.

    Description
    -----------
    Round ``t``: the learner plays ``x_t`` in the domain (a ball of ``radius`` in
    ``R^dim`` or the probability simplex); nature picks a distribution ``D_t`` over losses,
    a loss ``f_t ~ D_t`` is drawn and the learner sees ``∇f_t(x_t)`` and ``f_t(x_t)``
    (papers §1.1, Sachs et al. 2022). ``D_t`` = a *centre* ``c_t`` chosen by the ``regime``
    plus a stochastic part scaled by ``sigma``:

    * ``linear`` ``⟨c_t + σz, x⟩``; ``quadratic`` ``½‖x − c_t − σz‖²`` (``z ~ N(0, I)``, or
      with ``noise="uniform"`` i.i.d. uniform on ``[−√3, √3]``: same variance, bounded
      gradients as the SEA assumptions ask, and 4× cheaper to draw);
    * ``squared`` ``(y − aᵀx)²`` and ``logistic`` ``log(1 + exp(−y aᵀx))`` on a pool of
      ``items`` unit-norm points ``a_k`` with ground truth ``θ_t = c_t``: ``y = aᵀθ_t + σε``
      (squared), ``y = sign(aᵀθ_t)`` flipped with probability ``σ ≤ ½`` (logistic). The
      point index is random (uniform over the pool) except in the ``adversarial`` regime
      (cyclic) and ``rom`` (order of the pass), so ``σ`` scales the label noise only.

    Regimes (reconstructions of Sachs et al. §2.1's examples; each unknown is a parameter):
    ``iid`` ``c_t = c``; ``adversarial`` ``c_t = s_t c`` with random signs (``switch_every``
    unset) or a sign flip every ``switch_every`` rounds; ``corrupted`` ``c_t = c + e_t`` with
    ``e_t = −2c`` in rounds ``k, 2k, 3k, …`` (``k = corrupt_every``; 1: the first rounds,
    front-loaded) until ``Σ‖e_t‖`` reaches ``budget`` (reconstruction: the papers leave where
    the corruption falls open; spread it over the run with ``k ≈ 2T·scale/budget`` to measure
    how regret grows with the budget); ``rom`` a fixed
    family of ``items`` losses (centres ``c + σz_k``; pool points for regression) played in
    random order, ``passes="single"`` (at most ``items`` rounds) or ``"multi"`` (reshuffled
    every pass); ``drift`` ``c_t`` rotates at angular speed ``drift_speed`` in a random
    plane. ``c`` is a random direction of norm ``scale`` drawn per replicate.

    Regret: ``Σ_t F_t(x_t) − min_{x∈X} Σ_t F_t(x)`` against the expected losses
    ``F_t = E_{D_t} f_t`` (the engine sums ``oracle["loss"]`` and subtracts
    ``oracle["comparator_cum_loss"]``). The prefix minimum is kept exact every round from
    running sufficient statistics: closed forms for linear and quadratic, the exact
    ball-constrained quadratic solve for squared, a warm-started proximal-Newton solve to
    1e-10 for logistic (``squared``/``logistic`` need ``domain="ball"``).

    Action Space
    ------------
    ``BallSpace(radius, dim)`` or ``SimplexSpace(dim)`` (float64 ``Box`` subclasses whose
    ``contains`` is the true set). An action outside the set (tolerance 1e-6) raises a
    ``ValueError`` naming the round and the replicate; nothing is clipped.

    Observation Space
    -----------------
    ``Box(0, 1, (1,))``, always 0: the SEA learner has no context.

    Rewards
    -------
    ``−f_t(x_t)``, the realized loss.

    Info
    ----
    ``feedback``: ``grad`` ``∇f_t(x_t)`` (R, dim), ``loss`` ``f_t(x_t)``. ``oracle``: ``loss``
    ``F_t(x_t)``, ``comparator_cum_loss`` ``min_x Σ_{s≤t} F_s(x)``, ``realized_regret``
    ``Σ f_s(x_s) − min_x Σ f_s(x)``, ``sigma2_cum`` ``σ²_{1:t}`` and ``adv_variation_cum``
    ``Σ²_{1:t}`` (exact for linear/quadratic; upper bounds for squared/logistic, where the
    sup over the domain is replaced by a norm bound), and with ``track_dynamic=True``
    ``dynamic_regret`` ``Σ_s F_s(x_s) − F_s(u_s)`` with ``u_s = argmin F_s`` and
    ``path_length`` ``P_t = Σ_{s≤t} ‖u_s − u_{s−1}‖`` (not for logistic).

    Arguments
    ---------
    dim, domain, radius, loss, regime, sigma, scale, switch_every, budget, corrupt_every,
    items, passes, drift_speed, track_dynamic, noise
        As above. ``num_envs`` is the number of replicates; ``device``/``dtype`` where
        they live (float64 by default: the comparator needs it).

    Version History
    ---------------
    v0: initial version. The trace column ``Sigma2_cum`` was renamed ``adv_variation_cum``
    (readers that fold case, such as SQL engines, could not tell it from ``sigma2_cum``);
    the seeded sequence is unchanged. The per-round streams (noise, signs, orders, indices,
    labels) follow the run's stream kind (``rng``, :mod:`olearn.seeding`): under
    ``"portable"``, the CPU default, the seeded sequence is unchanged; ``"fast"`` (the CUDA
    default) draws them from Philox on the run's device, other numbers of the same law.
    ``corrupt_every`` added (default 1: the front-loaded corruption as before).

    Examples
    --------
    >>> env = SEAVector(num_envs=2, dim=3, sigma=0.0)
    >>> obs, _ = env.reset(seed=0)
    >>> obs, reward, term, trunc, info = env.step(torch.zeros(2, 3, dtype=torch.float64))
    >>> info["feedback"]["grad"].shape, sorted(info["oracle"])[:2]
    (torch.Size([2, 3]), ['adv_variation_cum', 'comparator_cum_loss'])
    >>> round(float(info["oracle"]["comparator_cum_loss"][0]), 6)   # -radius * ||c||
    -1.0
    """

    finite_observations = True   # made here from finite, validated numbers

    @property
    def oracle_keys(self) -> dict[str, str]:  # type: ignore[override]
        """The per-replicate ``info["oracle"]`` entries (trace columns), all float64."""
        keys = ["loss", "comparator_cum_loss", "realized_regret", "sigma2_cum", "adv_variation_cum"]
        if self.track_dynamic:
            keys += ["dynamic_regret", "path_length"]
        return dict.fromkeys(keys, "float64")

    @classmethod
    def _unit_test_kwargs(cls) -> list[dict[str, Any]]:
        """Configurations the contract tests run: both domains, every loss and regime."""
        return [
            {},
            {"dim": 3, "domain": "simplex", "regime": "adversarial"},
            {"dim": 3, "domain": "simplex", "loss": "quadratic", "regime": "drift",
             "track_dynamic": True},
            {"dim": 3, "loss": "quadratic", "regime": "corrupted", "budget": 3.0,
             "noise": "uniform", "radius": 2.0},
            {"dim": 2, "regime": "rom", "items": 7, "passes": "multi"},
            {"dim": 3, "loss": "squared", "regime": "rom", "items": 30, "passes": "single",
             "track_dynamic": True},
            {"dim": 3, "loss": "squared", "regime": "drift", "sigma": 0.0},
            {"dim": 3, "loss": "logistic", "regime": "adversarial", "switch_every": 5,
             "sigma": 0.2},
            {"dim": 4, "loss": "logistic", "regime": "iid", "items": 20},
        ]

    def __init__(self, num_envs: int = 1, *, dim: int = 5,
                 domain: Literal["ball", "simplex"] = "ball", radius: float = 1.0,
                 loss: Literal["linear", "quadratic", "squared", "logistic"] = "linear",
                 regime: Literal["iid", "adversarial", "corrupted", "rom", "drift"] = "iid",
                 sigma: float = 0.1, scale: float = 1.0, switch_every: int | None = None,
                 budget: float = 0.0, corrupt_every: int = 1, items: int = 100,
                 passes: Literal["single", "multi"] = "multi", drift_speed: float = 0.01,
                 track_dynamic: bool = False,
                 noise: Literal["gaussian", "uniform"] = "gaussian",
                 device: str | torch.device = "cpu",
                 dtype: str | torch.dtype = "float64") -> None:
        super().__init__(num_envs, device=device, dtype=dtype)
        if not (isinstance(dim, int) and dim >= 1):
            msg = f"dim must be a positive integer, got {dim!r}"
            raise ValueError(msg)
        check_choice("domain", domain, ("ball", "simplex"))
        check_choice("loss", loss, FAMILIES)
        check_choice("regime", regime, REGIMES)
        for name, v in (("radius", radius), ("scale", scale)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                msg = f"{name} must be a positive finite number, got {v!r}"
                raise ValueError(msg)
        for name, v in (("sigma", sigma), ("budget", budget), ("drift_speed", drift_speed)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                msg = f"{name} must be a finite number >= 0, got {v!r}"
                raise ValueError(msg)
        if loss == "logistic" and sigma > 0.5:
            msg = ("for loss='logistic' sigma is a label-flip probability in [0, 0.5], "
                   f"got {sigma!r}")
            raise ValueError(msg)
        if loss in ("squared", "logistic") and domain != "ball":
            msg = f"loss={loss!r} needs domain='ball' (its comparator is solved on a ball)"
            raise ValueError(msg)
        if switch_every is not None and not (isinstance(switch_every, int) and switch_every >= 1):
            msg = ("switch_every must be None (random signs) or an integer >= 1, "
                   f"got {switch_every!r}")
            raise ValueError(msg)
        if not (isinstance(corrupt_every, int) and not isinstance(corrupt_every, bool)
                and corrupt_every >= 1):
            msg = f"corrupt_every must be an integer >= 1, got {corrupt_every!r}"
            raise ValueError(msg)
        if not (isinstance(items, int) and items >= 1):
            msg = f"items must be a positive integer, got {items!r}"
            raise ValueError(msg)
        check_choice("noise", noise, ("gaussian", "uniform"))
        check_choice("passes", passes, ("single", "multi"))
        if regime == "drift" and dim < 2:
            msg = "regime='drift' rotates the centre in a plane and needs dim >= 2"
            raise ValueError(msg)
        if track_dynamic and loss == "logistic":
            msg = "track_dynamic is not available for loss='logistic'; use linear/quadratic/squared"
            raise ValueError(msg)
        self.dim, self.domain, self.radius, self.loss = dim, domain, float(radius), loss
        self.regime, self.sigma, self.scale = regime, float(sigma), float(scale)
        self.switch_every, self.budget = switch_every, budget
        self.corrupt_every = corrupt_every
        self.items, self.passes = items, passes
        self.drift_speed, self.track_dynamic = float(drift_speed), bool(track_dynamic)
        self.noise = noise
        self._domain = Domain(domain, dim=dim, radius=radius)
        self.single_observation_space = spaces.Box(0.0, 1.0, (1,), dtype=np.float32)
        self.single_action_space = self._domain.space()
        self._finish_spaces()

    # ------------------------------------------------------------------ reset
    def _reset(self, seeds: list[int], options: dict[str, Any]) -> tuple[Tensor, dict]:
        dev, r, d = self.device, self.num_envs, self.dim
        c = draw(seeds, "centre", (d,), device=dev)
        self._c = self.scale * c / c.norm(dim=-1, keepdim=True)
        if self.regime == "drift":
            v = draw(seeds, "plane", (d,), device=dev)
            u = self._c / self.scale
            v = v - (v * u).sum(-1, keepdim=True) * u
            self._plane = (u, v / v.norm(dim=-1, keepdim=True))
        # per-round streams of the kind in force (olearn.seeding.stream): portable blocks, or
        # Philox made where they are used; the one-off draws above are portable in every kind
        self._rng = resolve_kind(dev)
        self._signs = (stream(seeds, "sign", (), kind="uniform", device=dev)
                       if self.regime == "adversarial" and self.switch_every is None else None)
        kind = "normal" if self.noise == "gaussian" else "uniform"
        # fast: kept in float32, the precision it is made in (the CPU kernel reads it so)
        f32 = {"dtype": torch.float32} if self._rng == "fast" else {}
        self._noise = (stream(seeds, "xi", (d,), kind=kind, device=dev, **f32)
                       if self.sigma > 0 and self.regime != "rom" else None)
        self._order = (stream(seeds, "rom", (self.items,), kind="uniform", device=dev)
                       if self.regime == "rom" else None)
        self._family = make_family(self, seeds)
        self._t = 0
        self._spent = 0.0
        z = torch.zeros(r, dtype=torch.float64, device=dev)
        self._cum = {k: z.clone() for k in ("real", "exp", "sigma2", "Sigma2", "dyn", "path")}
        self._obs = torch.zeros(r, 1, dtype=self.dtype, device=dev)
        return self._obs, {}

    # ----------------------------------------------------------------- nature
    def centre(self, t: int) -> Tensor:
        """The regime's centre ``c_t`` (R, dim) for round ``t`` (1-based)."""
        if self.regime == "adversarial":
            if self._signs is None:
                s = 1.0 if ((t - 1) // self.switch_every) % 2 == 0 else -1.0
                return self._c * s
            s = torch.where(self._signs(t - 1) < 0.5, -1.0, 1.0).to(self._c.dtype)
            return self._c * s.unsqueeze(-1)
        if self.regime == "corrupted":
            left = self.budget - self._spent
            if left <= 0 or t % getattr(self, "corrupt_every", 1):
                return self._c
            frac = min(1.0, left / (2.0 * self.scale))
            self._spent += frac * 2.0 * self.scale
            return self._c * (1.0 - 2.0 * frac)
        if self.regime == "drift":
            u, v = self._plane
            a = self.drift_speed * t
            return self.scale * (math.cos(a) * u + math.sin(a) * v)
        return self._c

    def stochastic(self, t: int) -> Tensor | None:
        """``σ z_t`` (R, dim) or ``None`` when there is no per-round Gaussian part."""
        if self._noise is None:
            return None
        z = self._noise(t - 1).to(torch.float64)
        if self.noise == "uniform":   # U(-√3, √3): unit variance, bounded gradients
            return (self.sigma * 2.0 * math.sqrt(3.0)) * (z - 0.5)
        return self.sigma * z

    def noise_affine(self, t: int) -> tuple[Tensor | None, float, float]:
        """``(z, a, b)`` with ``σz_t = a z + b`` and ``z`` the stream's draw as stored (float32
        under the fast kind); ``(None, 0, 0)`` without a per-round stochastic part."""
        if self._noise is None:
            return None, 0.0, 0.0
        if self.noise == "uniform":
            a = self.sigma * math.sqrt(3.0)
            return self._noise(t - 1), 2.0 * a, -a
        return self._noise(t - 1), self.sigma, 0.0

    def pass_order(self, t: int) -> tuple[Tensor, int]:
        """ROM: the permutation (R, items) of round ``t``'s pass and the position in it."""
        p, pos = divmod(t - 1, self.items)
        if self.passes == "single" and p > 0:
            msg = (f"round {t}: regime='rom' with passes='single' has only items={self.items} "
                   "rounds; raise items or use passes='multi'")
            raise ValueError(msg)
        assert self._order is not None
        return self._order(p).argsort(dim=-1), pos

    # ------------------------------------------------------------------ step
    def step(self, action: Any) -> tuple[Tensor, Tensor, Tensor, Tensor, dict]:
        x = self._as_action(action, torch.float64)
        if x.shape != (self.num_envs, self.dim):
            msg = (f"round {self._t + 1}: action of shape {tuple(x.shape)}, "
                   f"expected {(self.num_envs, self.dim)}")
            raise ValueError(msg)
        if getattr(self._family, "fused", False):   # CPU, fast: the round in one compiled call
            o = self._family.fused_step(self._t + 1, x, self._cum)
            if isinstance(o, int):
                self._outside(x, o)
            self._t += 1
            return self._fused_result(*o)
        bad = self._domain.violation(x) > 1e-6 * max(1.0, self.radius)
        if bool(bad.any()):
            self._outside(x, int(bad.nonzero()[0, 0]))
        self._t += 1
        o = self._family.round(self._t, x)   # a RoundResult
        cum = self._cum
        cum["real"] += o.real_loss
        cum["exp"] += o.exp_loss
        cum["sigma2"] += o.sigma2
        cum["Sigma2"] += o.Sigma2
        oracle = {"loss": o.exp_loss, "comparator_cum_loss": o.comparator,
                  "realized_regret": cum["real"] - o.realized_comparator,
                  "sigma2_cum": cum["sigma2"].clone(), "adv_variation_cum": cum["Sigma2"].clone()}
        if self.track_dynamic:
            cum["dyn"] += o.exp_loss - o.round_min
            cum["path"] += o.shift
            oracle["dynamic_regret"] = cum["dyn"].clone()
            oracle["path_length"] = cum["path"].clone()
        info = {"feedback": {"grad": o.grad.to(self.dtype), "loss": o.real_loss.to(self.dtype)},
                "oracle": oracle}
        false = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        return self._obs, (-o.real_loss).to(self.dtype), false, false, info

    def _outside(self, x: Tensor, i: int) -> None:
        msg = (f"round {self._t + 1}: action of replicate {i} is outside the {self.domain} "
               f"domain (by {float(self._domain.violation(x)[i]):.3g}); agents must play "
               "points of the domain, nothing is clipped")
        raise ValueError(msg)

    def _fused_result(self, out: Tensor, grad: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor,
                                                                dict]:
        """``step``'s return from the compiled round's rows (``sea_kernels``)."""
        real, exp, comp, realized, sigma2, adv, reward = out.unbind()   # sea_kernels' rows
        if self.dtype != torch.float64:
            grad, real, reward = grad.to(self.dtype), real.to(self.dtype), reward.to(self.dtype)
        oracle = {"loss": exp, "comparator_cum_loss": comp, "realized_regret": realized,
                  "sigma2_cum": sigma2, "adv_variation_cum": adv}
        info = {"feedback": {"grad": grad, "loss": real}, "oracle": oracle}
        false = torch.zeros(self.num_envs, dtype=torch.bool)
        return self._obs, reward, false, false, info


SEA = single_view(SEAVector)
