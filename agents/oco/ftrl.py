"""Optimistic FTRL for the SEA model (Sachs, Hadiji, van Erven, Guzmán, NeurIPS 2022)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import gymnasium as gym
import torch
from torch import Tensor

from olearn.agents.common.mirror_maps import make_mirror_map
from olearn.agents.oco.pieces import (
    HINTS,
    OCOAgent,
    Regularizer,
    SachsFTRL,
    ScaledMirror,
    SurrogateLeader,
    make_hint,
)
from olearn.types import Step
from olearn.validation import check_choice, check_positive


class OptimisticFTRL(OCOAgent):
    r"""Adaptive optimistic FTRL, the reference point of Sachs et al. (papers §1.2).

    ``curvature="convex"``: ``x_t = argmin_{x∈X} ⟨Σ_{s<t} g_s + M_t, x⟩ + ψ(x)/η_t`` with
    ``η_t = D²/(ν + Σ_{s<t} η_s‖g_s − M_s‖²_*)`` (Theorem 5; ``ψ = ½‖x‖²`` for
    ``mirror="euclidean"`` — the ½ may be missing in the extracted text, which only rescales
    ``η``; negative entropy or log-barrier on the simplex, the latter solved exactly by
    :func:`olearn.agents.common.mirror_maps.log_barrier_simplex`). Default ``ν = D·G``
    (reconstruction of the tuning ``ν ≈ LD² + DG`` for linear losses, ``L = 0``).

    ``curvature="strongly_convex"`` (Euclidean only): optimistic FTL on the surrogates
    ``ℓ_s(x) = ⟨g_s, x⟩ + (λ/2)‖x − x_s‖²`` (Theorem 7),
    ``x_t = Π_X((λ Σ_{s<t} x_s − Σ_{s<t} g_s − M_t) / (λ(t − 1)))`` (``x_1`` = the centre);
    ``eta`` reports ``1/(λ(t − 1))``.

    Composition: (hint) × (regularizer schedule ``ψ_t``), the curvature picking
    :class:`~olearn.agents.oco.regularizers.ScaledMirror` (mirror map with
    :class:`~olearn.agents.oco.schedules.SachsFTRL`) or
    :class:`~olearn.agents.oco.regularizers.SurrogateLeader`.

    Delayed feedback (``delay = d``): the gradient ``g_s`` of round ``s`` reaches the sums
    after the act of round ``s + d``. FTRL takes no step from an iterate — every act
    recomputes its point from the sums received so far — so a delayed gradient always enters
    with the *current* step size ``η_t``; there is no ``delayed_step`` choice. The step-size
    sum adds ``η_s‖g_s − M_s‖²`` with the step size and hint of round ``s`` (from its
    ``act_info``), and the surrogate adds ``x_s``, the point played in round ``s``
    (``step.action``); with delays ``t − 1`` above is the number of rounds received.

    Parameters
    ----------
    mirror, hint, curvature
        As above (hints as for :class:`olearn.agents.oco.omd.OptimisticOMD`).
    G, D
        Gradient bound; size of the rule (``None``: diameter, or the map's ``radius``).
    nu
        ν > 0 of the step size; ``None`` means ``D·G``.
    lam
        λ of the strongly convex surrogate.

    Examples
    --------
    >>> import olearn, tempfile
    >>> spec = olearn.RunSpec.from_dict({"name": "doc", "horizon": 200, "replicates": 2,
    ...     "env": {"id": "olearn/SEA-v0", "kwargs": {"dim": 3, "sigma": 0.0}},
    ...     "agents": [{"label": "oftrl", "id": "olearn/OptimisticFTRL-v0"}]})
    >>> result = olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True)
    >>> result.final_regret()["oftrl"] < 3
    True
    """

    info_keys: ClassVar[tuple[str, ...]] = ("eta",)

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 mirror: Literal["euclidean", "entropy", "log_barrier"] = "euclidean",
                 hint: Literal["last_gradient", "zero", "mean_gradient"] = "last_gradient",
                 curvature: Literal["convex", "strongly_convex"] = "convex",
                 G: float = 1.0, D: float | None = None, nu: float | None = None,  # noqa: N803
                 lam: float = 1.0) -> None:
        super().__init__(observation_space, action_space)
        check_choice("mirror", mirror, ("euclidean", "entropy", "log_barrier"))
        check_choice("hint", hint, HINTS)
        check_choice("curvature", curvature, ("convex", "strongly_convex"))
        check_positive(G=G, D=D, nu=nu, lam=lam)
        if curvature == "strongly_convex" and mirror != "euclidean":
            msg = "curvature='strongly_convex' (FTL on surrogates) needs mirror='euclidean'"
            raise ValueError(msg)
        self._map = make_mirror_map(mirror, self._domain, "OptimisticFTRL")
        self.mirror, self.hint, self.curvature = mirror, hint, curvature
        self.G, self.D, self.nu, self.lam = G, D, nu, lam

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{}, {"hint": "mean_gradient", "nu": 0.5}, {"curvature": "strongly_convex"}]

    def _convex(self) -> Regularizer:
        size = self.D if self.D is not None else self._map.radius
        nu = self.nu if self.nu is not None else size * self.G
        return ScaledMirror(self._map, SachsFTRL(size, nu, norm2=self._map.dual_norm2))

    def _strongly_convex(self) -> Regularizer:
        return SurrogateLeader(self.lam, self._domain)

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        r, d, dev = self.replicates, self.dim, self.device
        self._g_sum = torch.zeros(r, d, dtype=torch.float64, device=dev)
        self._hint = make_hint(self.hint)
        self._hint_state = self._hint.init(r, d, dev)
        pick = {"convex": self._convex, "strongly_convex": self._strongly_convex}
        self._reg = pick[self.curvature]()
        self._state = self._reg.init(r, d, dev)

    def act(self, obs: Any) -> tuple[Tensor, dict[str, Tensor]]:
        self._t += 1
        m = self._hint.value(self._hint_state, self._t)
        eta = self._reg.eta(self._state, self._t)
        return self._reg.leader(self._state, self._g_sum, m, eta), {"eta": eta, "_m": m}

    def update(self, step: Step) -> None:
        g = self._grad(step)
        m, eta = self._own(step, "_m"), self._own(step, "eta")
        self._state = self._reg.update(self._state, g, m, eta, step.action)
        self._g_sum = self._g_sum + g
        self._hint_state = self._hint.update(self._hint_state, g, m, eta)
