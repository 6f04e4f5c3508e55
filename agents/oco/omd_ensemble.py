"""Two-layer optimistic OMD ensemble for dynamic regret in the SEA model (Chen et al., JMLR)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import torch
from torch import Tensor

from olearn.validation import check_positive
from olearn.agents.oco.pieces import OCOAgent
from olearn.types import Step


class OptimisticOMDEnsemble(OCOAgent):
    r"""Step-size grid of optimistic OMD learners combined by optimistic Hedge (papers §1.3).

    Base ``i`` is Euclidean optimistic OMD with a fixed step ``η_i`` (last-gradient hint
    ``M_t = g_{t−1}``): ``x_{t,i} = Π(x̂_{t,i} − η_i M_t)``, ``x̂_{t+1,i} = Π(x̂_{t,i} − η_i g_t)``.
    The meta learner plays ``x_t = Σ_i p_{t,i} x_{t,i}`` with
    ``p_t ∝ exp(−ε_t (Σ_{s<t} ℓ_s + m_t))``, linearized losses ``ℓ_{t,i} = ⟨g_t, x_{t,i}⟩``
    and optimism ``m_{t,i} = ⟨M_t, x_{t,i}⟩``.

    Reconstructions (papers §1.3 marks them [A]; each is a parameter): the grid
    ``η_i = η_min 2^{i−1}`` from ``η_min = D/(G√(8T))`` up to ``η_max = D/G`` (or ``1/(4L)``
    when ``smoothness`` L is given), and the meta rate
    ``ε_t = meta_scale·√(ln N / (D²G² + Σ_{s<t}‖ℓ_s − m_s‖²_∞))``. Target bound
    ``O(√((1 + P_T + σ²_{1:T} + Σ²_{1:T})(1 + P_T)))`` on dynamic regret; the SEA env records
    it with ``track_dynamic=True``. ``eta`` reports ``Σ_i p_{t,i} η_i``, ``meta_lr`` ``ε_t``.

    Parameters
    ----------
    G, D
        Gradient bound and diameter (``None``: from the action space).
    horizon
        ``T`` of the grid (the grid only needs its order of magnitude).
    smoothness
        Optional smoothness ``L`` capping ``η_max``.
    meta_scale
        Multiplier of the meta learning rate.

    Examples
    --------
    >>> import olearn, tempfile
    >>> spec = olearn.RunSpec.from_dict({"name": "doc", "horizon": 300, "replicates": 2,
    ...     "env": {"id": "olearn/SEA-v0", "kwargs": {"dim": 3, "sigma": 0.0, "regime": "drift",
    ...                                              "track_dynamic": True}},
    ...     "agents": [{"label": "ens", "id": "olearn/OptimisticOMDEnsemble-v0",
    ...                 "kwargs": {"horizon": 300}}]})
    >>> result = olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True)
    >>> import polars as pl
    >>> final = result.load().filter(pl.col("t") == 300).collect()
    >>> bool(final["dynamic_regret"].mean() < 30)
    True
    """

    test_env: ClassVar[tuple[str, dict[str, Any]]] = (
        "olearn/SEA-v0", {"dim": 3, "sigma": 0.1, "regime": "drift", "track_dynamic": True})
    info_keys: ClassVar[tuple[str, ...]] = ("eta", "meta_lr")

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 G: float = 1.0, D: float | None = None, horizon: int = 10000,  # noqa: N803
                 smoothness: float | None = None, meta_scale: float = 1.0) -> None:
        super().__init__(observation_space, action_space)
        check_positive(G=G, D=D, smoothness=smoothness, meta_scale=meta_scale)
        if not (isinstance(horizon, int) and horizon >= 1):
            msg = f"horizon must be a positive integer (the grid's T), got {horizon!r}"
            raise ValueError(msg)
        self.G, self.D, self.horizon, self.smoothness, self.meta_scale = (
            G, D, horizon, smoothness, meta_scale)

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{}, {"horizon": 100, "smoothness": 1.0, "meta_scale": 2.0}]

    def grid(self) -> list[float]:
        """The base learners' step sizes ``η_1 < ... < η_N``."""
        d = self.D if self.D is not None else self._domain.diameter
        lo = d / (self.G * math.sqrt(8.0 * self.horizon))
        hi = d / self.G if self.smoothness is None else min(d / self.G, 1 / (4 * self.smoothness))
        n = max(1, math.floor(math.log2(max(hi / lo, 1.0))) + 1)
        return [min(hi, lo * 2.0 ** i) for i in range(n)]

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        r, dev = self.replicates, self.device
        self._etas = torch.tensor(self.grid(), dtype=torch.float64, device=dev)   # (N,)
        n = len(self._etas)
        c = self._domain.center(r, dev)
        self._x_hat = c.unsqueeze(1).expand(-1, n, -1).clone()                      # (R, N, d)
        self._m = torch.zeros(r, self.dim, dtype=torch.float64, device=dev)
        self._loss = torch.zeros(r, n, dtype=torch.float64, device=dev)
        d = self.D if self.D is not None else self._domain.diameter
        self._v = torch.full((r,), (d * self.G) ** 2, dtype=torch.float64, device=dev)
        self._log_n = math.log(max(n, 2))

    def act(self, obs: Any) -> tuple[Tensor, dict[str, Tensor]]:
        self._t += 1
        m = self._m
        xs = self._domain.project(self._x_hat - self._etas.view(1, -1, 1) * m.unsqueeze(1))
        opt = (xs * m.unsqueeze(1)).sum(-1)                                         # (R, N)
        lr = self.meta_scale * torch.sqrt(self._log_n / self._v)
        p = torch.softmax(-lr.unsqueeze(-1) * (self._loss + opt), dim=-1)
        x = self._domain.project((p.unsqueeze(-1) * xs).sum(1))   # convex combination; guard
        self._xs, self._opt = xs, opt
        return x, {"eta": (p * self._etas).sum(-1), "meta_lr": lr}

    def update(self, step: Step) -> None:
        g = self._grad(step)
        lin = (self._xs * g.unsqueeze(1)).sum(-1)                                   # (R, N)
        self._loss = self._loss + lin
        self._v = self._v + (lin - self._opt).abs().amax(-1) ** 2
        self._x_hat = self._domain.project(self._x_hat - self._etas.view(1, -1, 1) * g.unsqueeze(1))
        self._m = g
