"""Projected online gradient descent, batched over replicates (the SEA baseline)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import gymnasium as gym
import torch
from torch import Tensor

from olearn.agents.common.mirror_maps import Euclidean
from olearn.agents.oco.pieces import (
    DELAYED_STEPS,
    AdaptiveOOMD,
    InvLambdaT,
    InvSqrt,
    OCOAgent,
    ScaledMirror,
    Schedule,
)
from olearn.types import Step
from olearn.validation import check_choice, check_positive

SCHEDULES = ("inv_sqrt", "inv_lambda_t", "adaptive")


class OGD(OCOAgent):
    r"""Projected online gradient descent ``x_{t+1} = Π_X(x_t − η_t g_t)``.

    Step sizes: ``"inv_sqrt"`` ``η_t = D/(G√t)`` (convex, O(DG√T) regret), ``"inv_lambda_t"``
    ``η_t = c/(λt)`` (λ-strongly convex, O(G²/λ · log T)), ``"adaptive"``
    ``η_t = D/√(δ + 4G² + Σ_{s<t}‖g_s‖²)`` (AdaGrad-norm style; optimistic OMD with the zero
    hint reduces to exactly this). ``x_1`` is the centre of the domain. The pieces: a
    :class:`~olearn.agents.oco.regularizers.ScaledMirror` of the Euclidean map and the schedule.

    Delayed feedback (``delay = d``): the gradient ``g_s`` of round ``s`` arrives after the act of
    round ``s + d`` and moves the current iterate, ``x_{t+1} = Π_X(x_t − η g_{t−d})``. With
    ``delayed_step="own"`` (default) ``η = η_{t−d}``, the step size round ``t − d`` acted with
    (read from its ``act_info``); with ``"current"`` ``η = η_t``, that of the latest act, as in
    delayed OGD (Joulani, György, Szepesvári 2013). The ``"adaptive"`` sum counts the gradients
    received. With ``d = 0`` both choices are the same.

    Parameters
    ----------
    schedule
        ``"inv_sqrt"``, ``"inv_lambda_t"`` or ``"adaptive"``.
    G
        Bound on gradient norms.
    D
        Diameter of the domain; ``None`` reads it from the action space.
    lam
        Strong-convexity modulus λ (``"inv_lambda_t"``).
    c
        Constant of the ``"inv_lambda_t"`` rate.
    delta
        δ of the ``"adaptive"`` rate.
    delayed_step
        ``"own"`` or ``"current"``: the step size of a delayed gradient step (see above).

    Examples
    --------
    >>> import olearn, tempfile
    >>> spec = olearn.RunSpec.from_dict({"name": "doc", "horizon": 200, "replicates": 2,
    ...     "env": {"id": "olearn/SEA-v0", "kwargs": {"dim": 3, "sigma": 0.1}},
    ...     "agents": [{"label": "ogd", "id": "olearn/OGD-v0"}]})
    >>> result = olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True)
    >>> 0 < result.final_regret()["ogd"] < 30
    True
    """

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 schedule: Literal["inv_sqrt", "inv_lambda_t", "adaptive"] = "inv_sqrt",
                 G: float = 1.0, D: float | None = None, lam: float = 1.0,  # noqa: N803
                 c: float = 1.0, delta: float = 1.0,
                 delayed_step: Literal["own", "current"] = "own") -> None:
        super().__init__(observation_space, action_space)
        check_choice("schedule", schedule, SCHEDULES)
        check_choice("delayed_step", delayed_step, DELAYED_STEPS)
        check_positive(G=G, D=D, lam=lam, c=c, delta=delta)
        self.schedule, self.G, self.D, self.lam, self.c = schedule, G, D, lam, c
        self.delta, self.delayed_step = delta, delayed_step

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{}, {"schedule": "inv_lambda_t", "lam": 0.5}, {"schedule": "adaptive"}]

    def _make_schedule(self) -> Schedule:
        d = self.D if self.D is not None else self._domain.diameter
        table = {"inv_sqrt": lambda: InvSqrt(d / self.G),
                 "inv_lambda_t": lambda: InvLambdaT(self.lam, self.c),
                 "adaptive": lambda: AdaptiveOOMD(d, self.G, self.delta)}
        return table[self.schedule]()

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        self._x = self._domain.center(self.replicates, self.device)
        self._reg = ScaledMirror(Euclidean(self._domain), self._make_schedule())
        self._state = self._reg.init(self.replicates, self.dim, self.device)
        self._zero = torch.zeros_like(self._x)

    def act(self, obs: Any) -> tuple[Tensor, dict[str, Tensor]]:
        self._t += 1
        return self._x.clone(), {"eta": self._reg.eta(self._state, self._t)}

    def update(self, step: Step) -> None:
        g = self._grad(step)
        own = self._own(step, "eta")
        eta = own if self.delayed_step == "own" else self._reg.eta(self._state, self._t)
        self._x = self._reg.step(self._state, self._x, g, eta)
        self._state = self._reg.update(self._state, g, self._zero, own, step.action)
