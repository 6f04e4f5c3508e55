"""Projected online gradient descent, batched over replicates (the SEA baseline)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import gymnasium as gym
import torch
from torch import Tensor

from olearn.validation import check_choice, check_positive
from olearn.agents.oco.pieces import AdaptiveOOMD, InvLambdaT, InvSqrt, OCOAgent, Schedule
from olearn.types import Step

SCHEDULES = ("inv_sqrt", "inv_lambda_t", "adaptive")


class OGD(OCOAgent):
    r"""Projected online gradient descent ``x_{t+1} = Π_X(x_t − η_t g_t)``.

    Step sizes: ``"inv_sqrt"`` ``η_t = D/(G√t)`` (convex, O(DG√T) regret), ``"inv_lambda_t"``
    ``η_t = c/(λt)`` (λ-strongly convex, O(G²/λ · log T)), ``"adaptive"``
    ``η_t = D/√(δ + 4G² + Σ_{s<t}‖g_s‖²)`` (AdaGrad-norm style; optimistic OMD with the zero
    hint reduces to exactly this). ``x_1`` is the centre of the domain.

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
                 c: float = 1.0, delta: float = 1.0) -> None:
        super().__init__(observation_space, action_space)
        check_choice("schedule", schedule, SCHEDULES)
        check_positive(G=G, D=D, lam=lam, c=c, delta=delta)
        self.schedule, self.G, self.D, self.lam, self.c, self.delta = schedule, G, D, lam, c, delta

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{}, {"schedule": "inv_lambda_t", "lam": 0.5}, {"schedule": "adaptive"}]

    def _make_schedule(self) -> Schedule:
        d = self.D if self.D is not None else self._domain.diameter
        if self.schedule == "inv_sqrt":
            return InvSqrt(d / self.G)
        if self.schedule == "inv_lambda_t":
            return InvLambdaT(self.lam, self.c)
        return AdaptiveOOMD(d, self.G, self.delta)

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        self._x = self._domain.center(self.replicates, self.device)
        self._sched = self._make_schedule()
        self._sched.reset(self.replicates, self.device)
        self._zero = torch.zeros_like(self._x)

    def act(self, obs: Any) -> tuple[Tensor, dict[str, Tensor]]:
        self._t += 1
        self._eta = self._sched.eta(self._t)
        return self._x.clone(), {"eta": self._eta}

    def update(self, step: Step) -> None:
        g = self._grad(step)
        eta = self._eta
        self._x = self._domain.project(self._x - eta.unsqueeze(-1) * g)
        self._sched.observe(step.t, g, self._zero, eta)
