"""The interpolating estimator between bag-level and instance-level losses (papers §4.2)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import gymnasium as gym
import torch
from torch import Tensor

from olearn.agent import BatchedAgent
from olearn.agents.aggregate.models import (
    SGD,
    Adam,
    BatchedNet,
    definite_inverse,
    min_norm_solve,
    one_thread,
    replicate_chunks,
)
from olearn.linalg import definite_factor, factor_add_bags, factors_compiled, row_space_solve
from olearn.types import Step
from olearn.validation import check_choice, check_number

__all__ = ["BagLevel", "InstanceLevel", "Interpolating", "interpolating_loss"]


def interpolating_loss(pred: Tensor, bag_mean: Tensor, rho: float) -> Tensor:
    """Per-bag ``L_int = (f̄ − ỹ)² + ρ·(1/k)Σ_i (f_i − f̄)²`` for ``pred`` (R, k), ``ỹ`` (R,).

    ``ρ = 0`` is the bag-level loss, ``ρ = 1`` the instance-level loss
    ``(1/k)Σ_i (ỹ − f_i)²`` (the identity of papers §4.2).

    >>> f = torch.tensor([[1.0, 3.0]])
    >>> interpolating_loss(f, torch.tensor([0.0]), 1.0).item(), ((f - 0.0) ** 2).mean().item()
    (5.0, 5.0)
    """
    fbar = pred.mean(dim=-1)
    return (fbar - bag_mean) ** 2 + rho * ((pred - fbar.unsqueeze(-1)) ** 2).mean(dim=-1)


class Interpolating(BatchedAgent):
    r"""Learn per-instance predictions from bag means by minimizing ``L_int(θ; ρ)`` online.

    ``L_int = L_bag + ρ·(L_ins − L_bag)``: the bag-level loss (aggregate prediction against the
    aggregate response) plus ``ρ`` times the mean within-bag variance of the predictions
    (Javanmard et al., ICLR 2024; papers §4.2). ``ρ = 0`` is the bag-level estimator
    (unbiased, high variance), ``ρ = 1`` the instance-level one (biased toward ``θ*/k`` on
    isotropic Gaussian data, lower variance).

    Linear model with ``solver="closed_form"`` (the default for ``model="linear"``): after
    every bag the exact minimizer of ``L_int`` over all bags so far,
    ``θ = (S_bag + ρ·S_within)⁺ Σ_a k·x̄_a ỹ_a`` with ``S_bag = Σ k·x̄x̄ᵀ`` and
    ``S_within = Σ_a Σ_i (x_i − x̄_a)(x_i − x̄_a)ᵀ`` kept as their running sum
    ``M = S_bag + ρ·S_within`` (minimum-norm while singular), float64: while ``M`` is singular,
    per round one batched rank-k update of ``M``, a factorization and a minimum-norm solve;
    once it is definite, a rank-k update of the upper triangular factor of ``M`` augmented
    with ``c = Σ k·x̄ỹ`` (compiled Householder steps on the CPU, one back substitution for
    ``θ``; rank 1 for ``ρ = 0``), or of ``M⁻¹`` (Woodbury), see ``inverse``. Batched over
    replicates, never a per-replicate Python loop. ``solver="gradient"`` (linear or
    ``model="mlp"``): ``steps_per_bag`` steps of ``optimizer`` (``"sgd"`` or ``"adam"``, step
    ``lr``) on the current bag's ``L_int``, i.e. online (stochastic) gradient descent;
    MLP weights are float32, ReLU hidden layers of sizes ``hidden``, per-replicate
    initializations. No intercept for the linear model (standardized data is centred).

    Delayed feedback: acting changes nothing; an update uses only its step's ``obs`` and
    ``feedback["bag_mean"]``.

    Parameters
    ----------
    rho
        ρ ∈ [0, 1]: the weight of the within-bag prediction-variance term.
    model
        ``"linear"`` or ``"mlp"``.
    hidden
        Hidden-layer sizes of the MLP.
    solver
        ``"auto"`` (closed form for linear, gradient for MLP), ``"closed_form"`` (linear only)
        or ``"gradient"``.
    optimizer
        ``"sgd"`` or ``"adam"`` (gradient solver).
    lr
        Step size of the optimizer.
    steps_per_bag
        Optimizer steps per received bag.
    inverse
        Closed form, once ``M`` is positive definite for every replicate: ``"auto"``
        (default) on the CPU keeps the augmented factor ``F`` (``FᵀF = [[M, c], [cᵀ, ·]]``)
        and applies each bag as ``k`` rows ``[x̄ + √ρ(x_i − x̄), ỹ]`` (one row ``√k[x̄, ỹ]``
        for ``ρ = 0``) by Householder reflections, ``2k(d+1)²`` flops, then ``θ`` by one back
        substitution (an orthogonal update: no drift); on other devices it is
        ``"woodbury"``: ``M⁻¹`` by rank-``k`` Woodbury updates (``4kd²`` flops in batched
        matmuls; the inverse accumulates rounding, about 1e-12 relative after thousands of
        bags); ``"refactor"`` factors ``M`` afresh every bag (``O(d³)``).

    Examples
    --------
    >>> import olearn, tempfile
    >>> spec = olearn.RunSpec.from_dict({"name": "doc", "horizon": 200, "replicates": 2,
    ...     "env": {"id": "olearn/AggregateResponses-v0", "kwargs": {"dim": 3, "bag_size": 4}},
    ...     "agents": [{"label": "bag", "id": "olearn/BagLevel-v0"},
    ...                {"label": "int", "id": "olearn/Interpolating-v0", "kwargs": {"rho": 0.2}}]})
    >>> result = olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True)
    >>> sorted(result.final_regret()) == ["bag", "int"]
    True
    """

    info_keys: ClassVar[tuple[str, ...]] = ()
    test_env: ClassVar[tuple[str, dict[str, Any]]] = (
        "olearn/AggregateResponses-v0", {"dim": 3, "bag_size": 4})

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 rho: float = 0.5, model: Literal["linear", "mlp"] = "linear",
                 hidden: Sequence[int] = (64, 64),
                 solver: Literal["auto", "closed_form", "gradient"] = "auto",
                 optimizer: Literal["sgd", "adam"] = "adam", lr: float = 1e-3,
                 steps_per_bag: int = 1,
                 inverse: Literal["auto", "woodbury", "refactor"] = "auto") -> None:
        super().__init__(observation_space, action_space)
        shape = getattr(observation_space, "shape", None)
        if not isinstance(observation_space, gym.spaces.Box) or shape is None or len(shape) != 2:
            msg = (f"{type(self).__name__} needs a Box observation space of shape (k, d) (a bag's "
                   f"features), got {observation_space}")
            raise ValueError(msg)
        if getattr(action_space, "shape", None) != shape[:1]:
            msg = (f"{type(self).__name__} predicts every instance: the action space must have "
                   f"shape ({shape[0]},), got {action_space}")
            raise ValueError(msg)
        check_number("rho", rho, low=0.0, high=1.0)
        check_choice("model", model, ("linear", "mlp"))
        check_choice("solver", solver, ("auto", "closed_form", "gradient"))
        check_choice("optimizer", optimizer, ("sgd", "adam"))
        check_choice("inverse", inverse, ("auto", "woodbury", "refactor"))
        check_number("lr", lr, low=0.0, strict=True)
        if not (isinstance(steps_per_bag, int) and steps_per_bag >= 1):
            msg = f"steps_per_bag must be an integer >= 1, got {steps_per_bag!r}"
            raise ValueError(msg)
        if not (all(isinstance(h, int) and h >= 1 for h in hidden) and len(hidden) >= 1):
            msg = f"hidden must be a non-empty sequence of positive layer sizes, got {hidden!r}"
            raise ValueError(msg)
        if model == "mlp" and solver == "closed_form":
            msg = "solver='closed_form' is for model='linear'; the MLP uses solver='gradient'"
            raise ValueError(msg)
        self.rho, self.model, self.hidden, self.solver = rho, model, hidden, solver
        self.optimizer, self.lr, self.steps_per_bag = optimizer, lr, steps_per_bag
        self.inverse = inverse
        self._k, self._d = int(shape[0]), int(shape[1])

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{}, {"rho": 0.3, "inverse": "refactor"}, {"rho": 0.6, "inverse": "woodbury"},
                {"rho": 0.0, "solver": "gradient", "optimizer": "sgd", "lr": 0.05},
                {"rho": 1.0, "model": "mlp", "hidden": (8,), "steps_per_bag": 2}]

    @property
    def closed_form(self) -> bool:
        """Whether the exact refit (linear model) is used."""
        return self.model == "linear" and self.solver != "gradient"

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        r, d = self.replicates, self._d
        if self.closed_form:
            # M = S_bag + ρ·S_within, the only matrix the refit needs
            self._gram = torch.zeros(r, d, d, dtype=torch.float64, device=self.device)
            self._chunks = replicate_chunks(r, d)
            self._inv: Tensor | None = None       # M⁻¹ once M is definite (Woodbury)
            self._factor: Tensor | None = None    # or the augmented factor of [M, c]
            # while at most d rows have come (M = UᵀU singular): the rows U, their targets v
            # (c = Uᵀv), for the minimum-norm θ = Uᵀ(UUᵀ)⁻¹v; dropped once more have come
            self._rows: Tensor | None = (None if self.inverse == "refactor" else
                                         torch.zeros(r, d, d, dtype=torch.float64,
                                                     device=self.device))
            self._targets = torch.zeros(r, d, dtype=torch.float64, device=self.device)
            self._n = 0
            self._bags = 0
            self._c = torch.zeros(r, d, dtype=torch.float64, device=self.device)
            self._theta = torch.zeros(r, d, dtype=torch.float64, device=self.device)
            return
        linear = self.model == "linear"
        sizes = (d, 1) if linear else (d, *self.hidden, 1)
        self._net = BatchedNet.init(self.seeds, sizes=sizes, bias=not linear, device=self.device,
                                    dtype=torch.float64 if linear else torch.float32)
        cls = Adam if self.optimizer == "adam" else SGD
        self._opt = cls(self._net.params, lr=self.lr)

    # ------------------------------------------------------------------ predictions
    def predict(self, x: Tensor) -> Tensor:
        """Predictions ``(R, n)`` of the current models for features ``(R, n, d)`` (or ``(n, d)``,
        the same rows for every replicate): for held-out evaluation."""
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.replicates, -1, -1)
        if self.closed_form:
            return (x.to(torch.float64) @ self._theta.unsqueeze(-1)).squeeze(-1)
        with torch.no_grad():
            return self._net(x).to(torch.float64)

    def model_state(self) -> dict[str, Any]:
        """The learned model alone (θ and what the closed form keeps, or the MLP's weights), as
        :meth:`save` writes it. :meth:`state_dict` (of :class:`~olearn.BatchedAgent`) is the
        whole learner state that ``load_state_dict`` and the runner's saved agents use."""
        if self.closed_form:
            out = {"theta": self._theta.clone()}
            if self._factor is not None:      # its last column is L⁻¹c (c no longer kept)
                out["factor"] = self._factor.clone()
            elif self._inv is None:
                out["gram"], out["c"] = self._gram.clone(), self._c.clone()
            else:
                out["gram_inverse"], out["c"] = self._inv.clone(), self._c.clone()
            return out
        return {f"param{i}": p.detach().clone() for i, p in enumerate(self._net.params)}

    def save(self, path: str | Path) -> None:
        """Write :meth:`model_state` and the hyperparameters to ``path`` (``torch.save``)."""
        torch.save({"repr": repr(self), "state": self.model_state()}, Path(path))

    def act(self, obs: Any) -> tuple[Tensor, dict[str, Tensor]]:
        return self.predict(torch.as_tensor(obs, device=self.device)), {}

    # ------------------------------------------------------------------ learning
    def update(self, step: Step) -> None:
        x = torch.as_tensor(step.obs, device=self.device)
        y = torch.as_tensor(step.feedback["bag_mean"], device=self.device)
        if self.closed_form:
            x = x.to(torch.float64)
            k = x.shape[1]
            self._bags += 1
            if self._factor is not None:      # rows, reflections and θ in one compiled pass
                self._theta = factor_add_bags(self._factor, x, y, self.rho)
                return
            y = y.to(torch.float64)
            xbar = x.mean(dim=1, keepdim=True)
            # UᵀU = k·x̄x̄ᵀ + ρ·Σ_i (x_i − x̄)(x_i − x̄)ᵀ with rows U_i = x̄ + √ρ·(x_i − x̄)
            u = xbar + self.rho ** 0.5 * (x - xbar)
            self._c = self._c + k * xbar.squeeze(1) * y.unsqueeze(-1)
            theta = torch.empty_like(self._theta)
            with one_thread():
                if self._inv is not None:
                    for sl in self._chunks:   # Woodbury: M⁻¹ ← M⁻¹ − W(I + UW)⁻¹Wᵀ, W = M⁻¹Uᵀ
                        p, uc = self._inv[sl], u[sl]
                        w = p @ uc.mT
                        small = torch.linalg.cholesky(uc @ w + torch.eye(k, dtype=w.dtype,
                                                                         device=w.device))
                        z = torch.linalg.solve_triangular(small, w.mT, upper=False)
                        p.baddbmm_(z.mT, z, alpha=-1.0)
                        theta[sl] = (p @ self._c[sl].unsqueeze(-1)).squeeze(-1)
                else:
                    fast = self._row_space(u, xbar, y)
                    for sl in self._chunks:   # update, factor and solve while in cache
                        self._gram[sl].baddbmm_(u[sl].mT, u[sl])
                        if fast is None:
                            theta[sl] = min_norm_solve(self._gram[sl], self._c[sl])
                    if fast is not None:
                        theta = fast
                    seen = self._bags * (k if self.rho > 0 else 1)
                    if self.inverse != "refactor" and seen >= self._d:
                        if self.inverse == "auto" and factors_compiled(self.device):
                            self._factor = definite_factor(self._gram, self._c)
                        else:
                            self._inv = definite_inverse(self._gram, self._chunks)
                        if self._factor is not None or self._inv is not None:
                            self._rows = None
            self._theta = theta
            return
        target = y.to(self._net.params[0].dtype)
        for _ in range(self.steps_per_bag):
            loss = interpolating_loss(self._net(x), target, self.rho).sum()
            self._opt.step(torch.autograd.grad(loss, self._net.params))


    def _row_space(self, u: Tensor, xbar: Tensor, y: Tensor) -> Tensor | None:
        """θ by :func:`row_space_solve` while the rows so far number at most ``d`` and are
        independent (every replicate), else ``None`` (the ``d × d`` minimum-norm solve)."""
        if self._rows is None:
            return None
        k = u.shape[1]
        if self.rho > 0:
            rows, targets = u, y.unsqueeze(-1).expand(-1, k)
        else:                                 # k identical rows x̄: one row √k·x̄, target √k·ȳ
            rows, targets = k ** 0.5 * xbar, k ** 0.5 * y.unsqueeze(-1)
        n, q = self._n, rows.shape[1]
        if n + q > self._d:
            self._rows = None
            return None
        self._rows[:, n:n + q] = rows
        self._targets[:, n:n + q] = targets
        self._n = n + q
        return row_space_solve(self._rows[:, :n + q], self._targets[:, :n + q])


class BagLevel(Interpolating):
    """The bag-level estimator: :class:`Interpolating` with ``ρ = 0`` (see there)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 model: Literal["linear", "mlp"] = "linear", hidden: Sequence[int] = (64, 64),
                 solver: Literal["auto", "closed_form", "gradient"] = "auto",
                 optimizer: Literal["sgd", "adam"] = "adam", lr: float = 1e-3,
                 steps_per_bag: int = 1,
                 inverse: Literal["auto", "woodbury", "refactor"] = "auto") -> None:
        super().__init__(observation_space, action_space, rho=0.0, model=model, hidden=hidden,
                         solver=solver, optimizer=optimizer, lr=lr, steps_per_bag=steps_per_bag,
                         inverse=inverse)

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{}, {"model": "mlp", "hidden": (8,)}]


class InstanceLevel(Interpolating):
    """The instance-level estimator: :class:`Interpolating` with ``ρ = 1`` (see there)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 model: Literal["linear", "mlp"] = "linear", hidden: Sequence[int] = (64, 64),
                 solver: Literal["auto", "closed_form", "gradient"] = "auto",
                 optimizer: Literal["sgd", "adam"] = "adam", lr: float = 1e-3,
                 steps_per_bag: int = 1,
                 inverse: Literal["auto", "woodbury", "refactor"] = "auto") -> None:
        super().__init__(observation_space, action_space, rho=1.0, model=model, hidden=hidden,
                         solver=solver, optimizer=optimizer, lr=lr, steps_per_bag=steps_per_bag,
                         inverse=inverse)

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{}, {"solver": "gradient", "optimizer": "sgd", "lr": 0.05}]
