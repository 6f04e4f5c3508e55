"""Two-layer optimistic OMD ensemble for dynamic regret in the SEA model (Chen et al., JMLR)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

import gymnasium as gym
import torch
from torch import Tensor

from olearn.agents.common.mirror_maps import Euclidean
from olearn.agents.oco.pieces import LastGradient, OCOAgent
from olearn.types import Step
from olearn.validation import check_choice, check_positive


class HedgeState(NamedTuple):
    """Cumulative linearized losses (R, N) and the variation sum ``v`` (R,) of the meta rate."""

    loss: Tensor
    v: Tensor


@dataclass(frozen=True)
class OptimisticHedge:
    """Optimistic Hedge over ``N`` experts with rate ``ε_t = scale·√(ln N / v_t)``.

    ``p_t ∝ exp(−ε_t (Σ_s ℓ_s + m_t))``; ``update`` adds ``ℓ_s`` and ``‖ℓ_s − m_s‖²_∞`` with the
    optimism ``m_s`` of the losses' own round. With ``centered=True`` it adds the squared half
    range ``(max_i − min_i)²/4`` of ``ℓ_s − m_s`` instead: ``p_t`` does not change when a
    constant is added to every expert's loss, so the optimistic Hedge bound
    ``ln N/ε + ε Σ_s ‖ℓ_s − m_s − c_s 1‖²_∞`` holds for every ``c_s`` and the half range is its
    smallest value. It ignores the part of the variation common to all experts (in the SEA
    ensemble, the gradient noise seen through nearly equal points), which is most of it.

    Examples
    --------
    >>> hedge = OptimisticHedge(experts=2, scale=1.0)
    >>> state = hedge.init(1, torch.ones(1, dtype=torch.float64))
    >>> p, lr = hedge.probs(state, torch.tensor([[0.0, 1e3]], dtype=torch.float64))
    >>> p.tolist()
    [[1.0, 0.0]]
    """

    experts: int
    scale: float
    centered: bool = False

    def init(self, replicates: int, v0: Tensor) -> HedgeState:
        loss = torch.zeros(replicates, self.experts, dtype=torch.float64, device=v0.device)
        return HedgeState(loss, v0)

    def probs(self, state: HedgeState, opt: Tensor) -> tuple[Tensor, Tensor]:
        """Weights ``p_t`` (R, N) given the optimism ``opt`` (R, N), and the rate ``ε_t`` (R,)."""
        lr = self.scale * torch.sqrt(math.log(max(self.experts, 2)) / state.v)
        return torch.softmax(-lr.unsqueeze(-1) * (state.loss + opt), dim=-1), lr

    def update(self, state: HedgeState, lin: Tensor, opt: Tensor) -> HedgeState:
        """Learn the round's losses ``lin`` (R, N) against its own optimism ``opt``."""
        e = lin - opt
        if self.centered:
            step = (0.5 * (e.amax(-1) - e.amin(-1))) ** 2
        else:
            step = e.abs().amax(-1) ** 2
        return HedgeState(state.loss + lin, state.v + step)


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

    Composition: :class:`~olearn.agents.common.mirror_maps.Euclidean` steps over the grid (one
    batched call for all bases), the :class:`~olearn.agents.oco.hints.LastGradient` hint and
    :class:`OptimisticHedge` as the meta learner.

    Delayed feedback (``delay = d``): the gradient ``g_s`` arrives after the act of round
    ``s + d``. The meta learner's loss ``ℓ_{s,i} = ⟨g_s, x_{s,i}⟩`` and variation use the bases'
    points and the optimism of round ``s`` (carried in its ``act_info`` under ``"_xs"`` and
    ``"_opt"``); each base steps from its current ``x̂_i`` with its fixed ``η_i`` (no step-size
    choice to make); the hint is the latest gradient received.

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
    meta_variation
        ``"max"`` (``‖ℓ_s − m_s‖²_∞`` in ``ε_t``, the reconstruction's rule) or ``"range"`` (its
        shift-invariant half range, see :class:`OptimisticHedge`).
    etas
        An explicit grid of step sizes instead of the one above (one step: a fixed-step
        optimistic OMD, the ensemble's single member).

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
                 smoothness: float | None = None, meta_scale: float = 1.0,
                 meta_variation: Literal["max", "range"] = "max",
                 etas: Sequence[float] | None = None) -> None:
        super().__init__(observation_space, action_space)
        check_positive(G=G, D=D, smoothness=smoothness, meta_scale=meta_scale)
        check_choice("meta_variation", meta_variation, ("max", "range"))
        if not (isinstance(horizon, int) and horizon >= 1):
            msg = f"horizon must be a positive integer (the grid's T), got {horizon!r}"
            raise ValueError(msg)
        if etas is not None:
            if isinstance(etas, (str, bytes)) or len(etas) == 0:
                msg = f"etas must be a non-empty list of step sizes, got {etas!r}"
                raise ValueError(msg)
            for e in etas:
                check_positive(etas=e)
        self.G, self.D, self.horizon, self.smoothness, self.meta_scale = (
            G, D, horizon, smoothness, meta_scale)
        self.meta_variation, self.etas = meta_variation, etas

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{}, {"horizon": 100, "smoothness": 1.0, "meta_scale": 2.0},
                {"meta_variation": "range", "etas": [0.05, 0.5]}]

    def grid(self) -> list[float]:
        """The base learners' step sizes ``η_1 < ... < η_N`` (``etas`` when given)."""
        if self.etas is not None:
            return [float(e) for e in self.etas]
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
        self._bases = Euclidean(self._domain)
        self._x_hat = self._domain.center(r, dev).unsqueeze(1).expand(-1, n, -1).clone()  # R,N,d
        self._hint = LastGradient()
        self._hint_state = self._hint.init(r, self.dim, dev)
        self._meta = OptimisticHedge(n, self.meta_scale, self.meta_variation == "range")
        d = self.D if self.D is not None else self._domain.diameter
        v0 = torch.full((r,), (d * self.G) ** 2, dtype=torch.float64, device=dev)
        self._meta_state = self._meta.init(r, v0)

    def act(self, obs: Any) -> tuple[Tensor, dict[str, Tensor]]:
        self._t += 1
        m = self._hint.value(self._hint_state, self._t)
        xs = self._bases.step(self._x_hat, m.unsqueeze(1), self._etas)                # (R, N, d)
        opt = (xs * m.unsqueeze(1)).sum(-1)                                         # (R, N)
        p, lr = self._meta.probs(self._meta_state, opt)
        x = self._domain.project((p.unsqueeze(-1) * xs).sum(1))   # convex combination; guard
        return x, {"eta": (p * self._etas).sum(-1), "meta_lr": lr, "_xs": xs, "_opt": opt}

    def update(self, step: Step) -> None:
        g = self._grad(step)
        xs, opt = self._own(step, "_xs"), self._own(step, "_opt")
        lin = (xs * g.unsqueeze(1)).sum(-1)                                         # (R, N)
        self._meta_state = self._meta.update(self._meta_state, lin, opt)
        self._x_hat = self._bases.step(self._x_hat, g.unsqueeze(1), self._etas)
        self._hint_state = self._hint.update(self._hint_state, g, None, None)
