"""Optimistic online mirror descent for the SEA model (Chen et al., ICML 2023 / JMLR 2024)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import gymnasium as gym
import torch
from torch import Tensor

from olearn.agents.common.mirror_maps import make_mirror_map, newton_step
from olearn.validation import check_choice, check_positive
from olearn.agents.oco.pieces import (HINTS, AdaptiveOOMD, InvLambdaT, OCOAgent, Schedule,
                                      make_hint)
from olearn.types import Step

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

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 curvature: Literal["convex", "strongly_convex", "exp_concave"] = "convex",
                 mirror: Literal["euclidean", "entropy", "log_barrier"] = "euclidean",
                 hint: Literal["last_gradient", "zero", "mean_gradient"] = "last_gradient",
                 G: float = 1.0, D: float | None = None, delta: float = 1.0,  # noqa: N803
                 lam: float = 1.0, c: float = 2.0, alpha: float = 1.0,
                 metric: Literal["variation", "gradient"] = "variation",
                 beta: float | None = None) -> None:
        super().__init__(observation_space, action_space)
        check_choice("curvature", curvature, CURVATURES)
        check_choice("mirror", mirror, MIRRORS)
        check_choice("hint", hint, HINTS)
        check_choice("metric", metric, ("variation", "gradient"))
        check_positive(G=G, D=D, delta=delta, lam=lam, c=c, alpha=alpha, beta=beta)
        self._map = make_mirror_map(mirror, self._domain, "OptimisticOMD")
        if curvature == "exp_concave" and (mirror != "euclidean" or self._domain.kind != "ball"):
            msg = ("curvature='exp_concave' uses the online-Newton metric on a ball: use "
                   "mirror='euclidean' with an env whose domain is 'ball'")
            raise ValueError(msg)
        self.curvature, self.mirror, self.hint = curvature, mirror, hint
        self.G, self.D, self.delta, self.lam, self.c = G, D, delta, lam, c
        self.alpha, self.metric, self.beta = alpha, metric, beta

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{}, {"hint": "zero"}, {"hint": "mean_gradient", "curvature": "strongly_convex"},
                {"curvature": "exp_concave", "alpha": 0.5}]

    def _make_schedule(self) -> Schedule:
        if self.curvature == "strongly_convex":
            return InvLambdaT(self.lam, self.c)
        d = self.D if self.D is not None else self._map.radius
        return AdaptiveOOMD(d, self.G, self.delta, norm2=self._map.dual_norm2)

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        self._x_hat = self._domain.center(self.replicates, self.device)
        self._hint = make_hint(self.hint)
        self._hint.reset(self.replicates, self.dim, self.device)
        if self.curvature == "exp_concave":
            eye = torch.eye(self.dim, dtype=torch.float64, device=self.device)
            self._u = (self.delta * eye).expand(self.replicates, -1, -1).clone()
            d = self.D if self.D is not None else self._domain.diameter
            self._beta = (self.beta if self.beta is not None
                          else 0.5 * min(1.0 / (4.0 * self.G * d), self.alpha))
        else:
            self._sched = self._make_schedule()
            self._sched.reset(self.replicates, self.device)

    def act(self, obs: Any) -> tuple[Tensor, dict[str, Tensor]]:
        self._t += 1
        m = self._m = self._hint.hint()
        if self.curvature == "exp_concave":
            x = newton_step(self._x_hat, m, self._u, self._domain.radius)
            eta = self.dim / self._u.diagonal(dim1=-2, dim2=-1).sum(-1)
        else:
            eta = self._sched.eta(self._t)
            x = self._map.step(self._x_hat, m, eta)
        self._eta = eta
        return x, {"eta": eta}

    def update(self, step: Step) -> None:
        g = self._grad(step)
        m, eta = self._m, self._eta
        if self.curvature == "exp_concave":
            v = g - m if self.metric == "variation" else g
            self._u = self._u + (0.5 * self._beta) * v.unsqueeze(-1) * v.unsqueeze(-2)
            self._x_hat = newton_step(self._x_hat, g, self._u, self._domain.radius)
        else:
            self._x_hat = self._map.step(self._x_hat, g, eta)
            self._sched.observe(step.t, g, m, eta)
        self._hint.observe(g)
