"""Optimistic online mirror descent for the SEA model (Chen et al., ICML 2023 / JMLR 2024)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from olearn.agents.common.mirror_maps import make_mirror_map
from olearn.agents.oco.hints import HintState, LastGradient
from olearn.agents.oco.pieces import (
    DELAYED_STEPS,
    HINTS,
    AdaptiveOOMD,
    InvLambdaT,
    OCOAgent,
    OnlineNewton,
    Regularizer,
    ScaledMirror,
    make_hint,
)
from olearn.seeding import resolve_kind
from olearn.types import Step
from olearn.validation import check_choice, check_positive

CURVATURES = ("convex", "strongly_convex", "exp_concave")
MIRRORS = ("euclidean", "entropy", "log_barrier")


class OptimisticOMD(OCOAgent):
    r"""Two-step optimistic OMD: a hint step, play, then a gradient step (papers §1.3).

    ``x_t = argmin_{x∈X} ⟨M_t, x⟩ + B_{ψ_t}(x, x̂_t)``; play ``x_t``, observe ``g_t``;
    ``x̂_{t+1} = argmin_{x∈X} ⟨g_t, x⟩ + B_{ψ_t}(x, x̂_t)``. Only gradients at played points
    are used. ``ψ_t = ψ/η_t`` with ``ψ`` the ``mirror`` map and, by ``curvature``:

    * ``"convex"``: ``η_t = D/√(δ + 4G² + Σ_{s<t}‖g_s − M_s‖²_*)`` (Chen et al. via Wang et
      al. §2.2); regret ``O(√σ²_{1:T} + √Σ²_{1:T})``.
    * ``"strongly_convex"``: ``η_t = c/(λt)`` — reconstruction: the 1/(λt) order is certain,
      ``c = 2`` is a recollection (``c`` is a parameter); regret ``O((σ²_max + Σ²_max) log T)``.
    * ``"exp_concave"``: ``ψ_t = ½‖x‖²_{U_t}`` (online-Newton geometry, ball domain only,
      exact generalized projection) with — reconstruction, the paper's choice was not
      recovered — ``U_t = δI + (β/2) Σ_{s≤t} v_s v_sᵀ``, ``v_s = g_s − M_s`` (``metric=
      "variation"``) or ``g_s`` (``"gradient"``), ``β = ½ min{1/(4GD), α}``; the gradient step
      uses ``U`` including round ``t``. ``eta`` reports ``d / tr U_t``.

    Hints: ``"last_gradient"`` ``M_t = g_{t−1}`` (default), ``"zero"`` (then the method is
    adaptive OGD), ``"mean_gradient"`` (running mean of past gradients). ``x̂_1`` is the
    centre of the domain.

    Composition: the agent is (hint) × (regularizer schedule ``ψ_t``); ``curvature`` only picks
    the regularizer — a :class:`~olearn.agents.oco.regularizers.ScaledMirror` of the mirror
    map with :class:`~olearn.agents.oco.schedules.AdaptiveOOMD` (convex) or
    :class:`~olearn.agents.oco.schedules.InvLambdaT` (strongly convex), or the
    :class:`~olearn.agents.oco.regularizers.OnlineNewton` metric (exp-concave).

    Delayed feedback (``delay = d``): the gradient ``g_s`` arrives after the act of round
    ``s + d``; it is always paired with ``M_s``, the hint round ``s`` acted with (carried in
    that round's ``act_info``), both in the variation ``‖g_s − M_s‖²`` of the adaptive step /
    ``U_t`` and in the hint's update. The gradient step from the current ``x̂`` uses
    ``η_s``, the step size of round ``s`` (``delayed_step="own"``, default), or ``η`` of the
    latest act (``"current"``, as in delayed OGD, Joulani, György, Szepesvári 2013). The
    exp-concave step has no scalar step size: it uses the current metric, which includes
    round ``s``. With ``d = 0`` the two choices are the same.

    Parameters
    ----------
    curvature, mirror, hint
        As above; ``mirror="entropy" | "log_barrier"`` need the simplex.
    G
        Bound on gradient norms.
    D
        Size ``D`` of the step-size rule; ``None``: the domain diameter (Euclidean) or the
        mirror map's ``radius`` (entropy ``√(2 log d)``, log-barrier ``√(2d)``).
    delta
        δ of the convex step (reconstruction: 1, untested by the paper) and of ``U_1 = δI``.
    lam, c
        λ and ``c`` of the strongly convex step.
    alpha, metric
        Exp-concavity α and the ``U_t`` construction of the exp-concave case.
    beta
        Overrides the theory's ``β = ½ min{1/(4GD), α}`` (which is very conservative: regret
        constants scale like ``d/β``).
    delayed_step
        ``"own"`` or ``"current"``: the step size of a delayed gradient step (see above).

    Examples
    --------
    >>> import olearn, tempfile
    >>> spec = olearn.RunSpec.from_dict({"name": "doc", "horizon": 200, "replicates": 2,
    ...     "env": {"id": "olearn/SEA-v0", "kwargs": {"dim": 3, "sigma": 0.0}},
    ...     "agents": [{"label": "oomd", "id": "olearn/OptimisticOMD-v0"}]})
    >>> result = olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True)
    >>> round(result.final_regret()["oomd"], 1)
    1.0
    """

    info_keys: ClassVar[tuple[str, ...]] = ("eta",)
    _fused = False   # set at reset (and absent from checkpoints written before it existed)
    _ahead = None    # (x, η) of the next act, made by a fused update (same)

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 curvature: Literal["convex", "strongly_convex", "exp_concave"] = "convex",
                 mirror: Literal["euclidean", "entropy", "log_barrier"] = "euclidean",
                 hint: Literal["last_gradient", "zero", "mean_gradient"] = "last_gradient",
                 G: float = 1.0, D: float | None = None, delta: float = 1.0,  # noqa: N803
                 lam: float = 1.0, c: float = 2.0, alpha: float = 1.0,
                 metric: Literal["variation", "gradient"] = "variation",
                 beta: float | None = None,
                 delayed_step: Literal["own", "current"] = "own") -> None:
        super().__init__(observation_space, action_space)
        check_choice("curvature", curvature, CURVATURES)
        check_choice("mirror", mirror, MIRRORS)
        check_choice("hint", hint, HINTS)
        check_choice("metric", metric, ("variation", "gradient"))
        check_choice("delayed_step", delayed_step, DELAYED_STEPS)
        check_positive(G=G, D=D, delta=delta, lam=lam, c=c, alpha=alpha, beta=beta)
        self._map = make_mirror_map(mirror, self._domain, "OptimisticOMD")
        if curvature == "exp_concave" and (mirror != "euclidean" or self._domain.kind != "ball"):
            msg = ("curvature='exp_concave' uses the online-Newton metric on a ball: use "
                   "mirror='euclidean' with an env whose domain is 'ball'")
            raise ValueError(msg)
        self.curvature, self.mirror, self.hint = curvature, mirror, hint
        self.G, self.D, self.delta, self.lam, self.c = G, D, delta, lam, c
        self.alpha, self.metric, self.beta, self.delayed_step = alpha, metric, beta, delayed_step

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{}, {"hint": "zero"}, {"hint": "mean_gradient", "curvature": "strongly_convex"},
                {"curvature": "exp_concave", "alpha": 0.5}]

    # -- composition: the curvature picks the regularizer schedule psi_t ---------------------
    def _convex(self) -> Regularizer:
        d = self.D if self.D is not None else self._map.radius
        return ScaledMirror(self._map, AdaptiveOOMD(d, self.G, self.delta,
                                                    norm2=self._map.dual_norm2))

    def _strongly_convex(self) -> Regularizer:
        return ScaledMirror(self._map, InvLambdaT(self.lam, self.c))

    def _exp_concave(self) -> Regularizer:
        d = self.D if self.D is not None else self._domain.diameter
        beta = self.beta if self.beta is not None else 0.5 * min(1.0 / (4.0 * self.G * d),
                                                                    self.alpha)
        return OnlineNewton(self._domain.radius, beta, self.delta, self.metric)

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        r, d, dev = self.replicates, self.dim, self.device
        self._x_hat = self._domain.center(r, dev)
        self._hint = make_hint(self.hint)
        self._hint_state = self._hint.init(r, d, dev)
        pick = {"convex": self._convex, "strongly_convex": self._strongly_convex,
                "exp_concave": self._exp_concave}
        self._reg = pick[self.curvature]()
        self._state = self._reg.init(r, d, dev)
        # CPU, fast kind: the Euclidean ball steps as compiled passes (omd_kernels)
        self._fused = (self.curvature == "convex" and self.mirror == "euclidean"
                       and self._domain.kind == "ball" and dev.type == "cpu"
                       and resolve_kind(dev) == "fast")
        self._ahead: tuple[Tensor, Tensor] | None = None   # the next act's (x, η), fused path

    def act(self, obs: Any) -> tuple[Tensor, dict[str, Tensor]]:
        self._t += 1
        m = self._hint.value(self._hint_state, self._t)
        if self._fused:   # η = D/√s and the step in one compiled pass (omd_kernels)
            ahead = self.__dict__.get("_ahead")
            if ahead is not None:   # made by the last update from this very state
                self._ahead = None
                return ahead[0], {"eta": ahead[1], "_m": m}
            from olearn.agents.oco.omd_kernels import ball_step

            x_hat = self._x_hat.numpy()
            x, eta = np.empty_like(x_hat), np.empty(len(x_hat))   # numpy's allocator: fewer
            ball_step(x_hat, m.contiguous().numpy(), self._state.s.numpy(),   # page faults
                      float(self._reg.schedule.D), self._domain.radius, eta, x)
            return torch.from_numpy(x), {"eta": torch.from_numpy(eta), "_m": m}
        eta = self._reg.eta(self._state, self._t)
        return self._reg.step(self._state, self._x_hat, m, eta), {"eta": eta, "_m": m}

    def update(self, step: Step) -> None:
        g = self._grad(step)
        m, own = self._own(step, "_m"), self._own(step, "eta")
        eta = own if self.delayed_step == "own" else self._reg.eta(self._state, self._t)
        if self._fused:   # in place on x̂ and Σ‖g − M‖², the next hint in the same pass
            from olearn.agents.oco.omd_kernels import ball_update

            last = isinstance(self._hint, LastGradient)
            gn = g.contiguous().numpy()
            # the last-gradient hint: M_{t+1} = g, and the next act's step from the new state
            m_next, x_next, eta_next = ((np.empty_like(gn), np.empty_like(gn),
                                         np.empty(len(gn))) if last else (gn, gn, gn[:, 0]))
            ball_update(self._x_hat.numpy(), gn, m.contiguous().numpy(),
                        eta.to(torch.float64).contiguous().numpy(), self._domain.radius,
                        self._state.s.numpy(), last, m_next, float(self._reg.schedule.D),
                        x_next, eta_next)
            if last:
                self._hint_state = HintState(torch.from_numpy(m_next))
                self._ahead = (torch.from_numpy(x_next), torch.from_numpy(eta_next))
            else:
                self._hint_state = self._hint.update(self._hint_state, g, m, own)
            return
        self._state = self._reg.update(self._state, g, m, own, step.action)
        self._x_hat = self._reg.step(self._state, self._x_hat, g, eta)
        self._hint_state = self._hint.update(self._hint_state, g, m, own)
