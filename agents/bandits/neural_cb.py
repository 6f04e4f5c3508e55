"""NeuSquareCB and NeuFastCB: IGW exploration over a perturbed-ensemble neural regression oracle."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import gymnasium as gym
import torch
from torch import Tensor

from olearn.agent import BatchedAgent, context_shape, discrete_arms
from olearn.agents.bandits.igw import (
    check_gamma,
    check_reward_range,
    fastcb_probs,
    gamma_schedule,
    losses_from_rewards,
    squarecb_probs,
)
from olearn.agents.bandits.networks import (
    BatchedMLP,
    check_network,
    encode_arms,
    flatten,
    input_dim,
    unflatten_like,
)
from olearn.agents.common.sampling import sample_categorical
from olearn.philox import _numba_ok
from olearn.seeding import PhiloxStream, derive, resolve_kind, stream
from olearn.types import Step
from olearn.validation import check_choice


class NeuSquareCB(BatchedAgent):
    r"""NeuSquareCB (Deb et al., ICLR 2024): SquareCB over a perturbed neural regression oracle.

    A network ``f(θ; x_a)`` predicts the loss of every arm (losses ``(hi − r)/(hi − lo)`` in
    [0, 1]); the action is drawn by inverse-gap weighting with ``γ_t = gamma_scale ·
    t^gamma_exponent``; after each round the oracle takes ``steps_per_round`` online gradient
    steps (every ``update_every`` rounds, on the rounds collected since) on the perturbed
    ensemble loss, optionally projected on the ball of radius ``radius`` around ``θ_0``.

    Perturbation (olearn papers §3.2 reconstruction, ``perturbation="param_linear"``): member
    ``s`` of the ensemble predicts ``f̃_s = f(θ; x) + c_p ⟨ε_s, θ − θ_0⟩`` with fresh
    ``ε_s ~ N(0, I_p)``; the square-loss objective is ``(1/S) Σ_s (y − f̃_s)²`` (in expectation a
    ridge pull ``c_p²‖θ − θ_0‖²`` to the initialization). Only ``z_s = ⟨ε_s, θ − θ_0⟩`` and
    ``Σ_s w_s ε_s`` enter the computation, and they are drawn exactly in distribution from
    ``S`` scalars and one ``p``-vector per step: ``z_s ~ ‖δ‖ N(0,1)`` and
    ``Σ_s w_s ε_s = (Σ_s w_s z_s) δ/‖δ‖² + ‖w‖ P_⊥ ξ``, ``ξ ~ N(0, I_p)``, ``δ = θ − θ_0``.
    ``c_p = 0`` or ``perturbation="none"`` is plain OGD on ``(y − f(θ; x))²``.

    Parameters
    ----------
    hidden, activation
        Network: hidden layer widths (default one layer of 100) and activation.
    lr
        OGD step size η; ``None``: 0.2 for NeuSquareCB, 1.0 for NeuFastCB (sigmoid gradients
        are at most 1/4 as large), the best of {0.2, 0.5, 1, 2} on ``ContextualBandit-v0``.
    c_p, S, perturbation
        Perturbation constant, ensemble size and form (``"param_linear"`` or ``"none"``).
    gamma_scale, gamma_exponent
        Exploration schedule ``γ_t``.
    steps_per_round, update_every
        Gradient steps per update; rounds between updates (the steps use all rounds since).
    radius
        Projection radius around ``θ_0`` (``None``: no projection).
    reward_range
        ``(lo, hi)`` of the rewards, mapped to losses in [0, 1].

    Info
    ----
    ``propensity`` (probability of the action taken) and ``gamma``.

    Notes
    -----
    Shared contexts ``(d,)`` are fed to one scalar-output network in the disjoint encoding
    ``x ⊗ e_a`` (input ``K·d``); per-arm contexts ``(K, d)`` as they are. float32 weights.
    Under the ``"fast"`` stream kind on a CPU the perturbed step runs in one compiled kernel
    over flat weights (:mod:`olearn.agents.bandits.neural_cb_kernels`): the same update with the
    same normals as the torch ops (kept for other devices and as the reference), to float32
    rounding.

    Examples
    --------
    >>> import gymnasium as gym, torch
    >>> agent = NeuSquareCB(gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(3), hidden=(8,))
    >>> agent.reset(seeds=[0, 1], device=torch.device("cpu"))
    >>> obs = torch.ones(2, 4)
    >>> action, info = agent.act(obs)
    >>> agent.update(Step(t=1, obs=obs, action=action, act_info=info, reward=torch.ones(2)))
    >>> bool(((info["propensity"] > 0) & (info["propensity"] <= 1)).all())
    True
    """

    info_keys: ClassVar[tuple[str, ...]] = ("propensity", "gamma")
    test_env: ClassVar[tuple[str, dict]] = ("olearn/ContextualBandit-v0", {"arms": 3, "dim": 4})
    _loss: ClassVar[str] = "square"
    _default_lr: ClassVar[float] = 0.2
    fused_step: ClassVar[bool] = True
    """Take the perturbed step in the compiled kernel where it applies (fast kind, CPU, numba);
    ``False``: always the torch ops (the reference; benchmarks compare the two)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 hidden: Sequence[int] = (100,),
                 activation: Literal["relu", "tanh", "softplus", "gelu"] = "relu",
                 lr: float | None = None, c_p: float = 0.01, S: int = 4,  # noqa: N803
                 perturbation: Literal["param_linear", "none"] = "param_linear",
                 gamma_scale: float = 10.0, gamma_exponent: float = 0.5,
                 steps_per_round: int = 1, update_every: int = 1, radius: float | None = None,
                 reward_range: tuple[float, float] = (0.0, 1.0)) -> None:
        super().__init__(observation_space, action_space)
        name = type(self).__name__
        self.arms = discrete_arms(name, action_space)
        self.per_arm, self.dim = context_shape(name, observation_space, self.arms)
        check_network(name, hidden, activation)
        check_gamma(name, gamma_scale, gamma_exponent)
        check_reward_range(name, reward_range)
        if lr is not None and not (isinstance(lr, (int, float)) and 0 < lr < math.inf):
            msg = f"{name}: lr must be None (default) or a positive number, got {lr!r}"
            raise ValueError(msg)
        if not (isinstance(c_p, (int, float)) and 0 <= c_p < math.inf):
            msg = f"{name}: c_p must be a number >= 0, got {c_p!r}"
            raise ValueError(msg)
        if not (isinstance(S, int) and S >= 1):
            msg = f"{name}: S (ensemble size) must be an integer >= 1, got {S!r}"
            raise ValueError(msg)
        check_choice(f"{name}: perturbation", perturbation, ("param_linear", "none"))
        for key, val in (("steps_per_round", steps_per_round), ("update_every", update_every)):
            if not (isinstance(val, int) and val >= 1):
                msg = f"{name}: {key} must be an integer >= 1, got {val!r}"
                raise ValueError(msg)
        if radius is not None and not (isinstance(radius, (int, float)) and 0 < radius < math.inf):
            msg = f"{name}: radius must be None or a positive number, got {radius!r}"
            raise ValueError(msg)
        self.hidden, self.activation, self.lr = hidden, activation, lr
        self.c_p, self.S, self.perturbation = c_p, S, perturbation
        self.gamma_scale, self.gamma_exponent = gamma_scale, gamma_exponent
        self.steps_per_round, self.update_every, self.radius = steps_per_round, update_every, radius
        self.reward_range = reward_range

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{"hidden": (16,)},
                {"hidden": (8, 8), "activation": "tanh", "perturbation": "none",
                 "steps_per_round": 2, "update_every": 3, "radius": 1.0}]

    @property
    def _perturbed(self) -> bool:
        return self.perturbation == "param_linear" and self.c_p > 0

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        self._net = BatchedMLP(in_dim=input_dim(self.per_arm, self.dim, self.arms),
                               hidden=tuple(check_network("", self.hidden, self.activation)),
                               out_dim=1, activation=self.activation)
        self._params = self._net.init(self.seeds, device=self.device)
        self._theta0 = flatten(self._params).clone()
        self._rows = torch.arange(self.replicates, device=self.device)
        # per-round streams of the kind in force (olearn.seeding.stream); the perturbation's
        # p-dimensional Gaussian is, under "fast", one Philox block a step made on the device
        # (draw index = step number), else one seeded generator per replicate
        self._rng = resolve_kind(self.device)
        self._u = stream(self.seeds, "action", (), kind="uniform", device=self.device)
        self._z_act = stream(self.seeds, "z_act", (self.S,), device=self.device,
                             dtype=torch.float32)
        self._z_upd = stream(self.seeds, "z_update", (self.S,), device=self.device,
                             dtype=torch.float32)
        self._xi_gens = []
        self._xi: PhiloxStream | None = None
        if self._perturbed and self._rng == "fast":
            p = self._theta0.shape[1]
            self._xi = PhiloxStream(self.seeds, "xi", (p,), device=self.device,
                                    dtype=torch.float32)
        else:
            for s in self.seeds:
                g = torch.Generator(device=self.device)
                g.manual_seed(derive(s, "xi"))
                self._xi_gens.append(g)
        self._lr = self._default_lr if self.lr is None else float(self.lr)
        self._fused = (self.fused_step and self._xi is not None and self.device.type == "cpu"
                       and _numba_ok())
        if self._fused:   # flat weights (R, p), the layers views of them; ‖θ − θ_0‖² carried
            self._flat = self._theta0.clone()
            self._params = unflatten_like(self._flat, self._params)
            self._n2 = torch.zeros(self.replicates, dtype=torch.float64)
            sizes = [int(t[0].numel()) for t in self._params]
            self._starts = torch.tensor([0, *itertools.accumulate(sizes)])
            # the last act: (steps then, its observation, the layers' outputs over all arms)
            self._acted: tuple[int, Tensor, list[Tensor]] = (-1, self._theta0[:0], [])
        self._t, self._steps = 0, 0
        self._buf_x: list[Tensor] = []
        self._buf_y: list[Tensor] = []

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if "_xi_gens" in state:          # generators do not pickle; their states do
            state["_xi_gens"] = [g.get_state() for g in self._xi_gens]
        if state.get("_fused"):          # views do not pickle as views: their shapes do
            state["_params"] = [tuple(t.shape) for t in self._params]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "_xi_gens" in state:
            gens = []
            for saved in state["_xi_gens"]:
                g = torch.Generator(device=state["device"])
                g.set_state(saved)
                gens.append(g)
            state["_xi_gens"] = gens
        if state.get("_fused"):
            flat = state["_flat"]
            state["_params"] = unflatten_like(flat, [flat.new_empty(s) for s in state["_params"]])
        self.__dict__.update(state)

    # -- prediction ------------------------------------------------------------------------
    def _offsets(self, z: Tensor) -> Tensor:
        """``c_p ⟨ε_s, θ − θ_0⟩`` (R, S) from standard normals ``z`` (R, S)."""
        if not self._perturbed:
            return torch.zeros(self.replicates, 1, device=self.device)
        if self._fused:   # carried from the last step
            norm = self._n2.sqrt().to(torch.float32).unsqueeze(1)
        else:
            norm = (flatten(self._params).detach() - self._theta0).norm(dim=1, keepdim=True)
        return self.c_p * norm * z

    def _predict(self, f: Tensor, offsets: Tensor) -> Tensor:
        """Ensemble prediction (R, N) from network outputs ``f`` (R, N) and offsets (R, S)."""
        ft = f.unsqueeze(-1) + offsets.unsqueeze(1)
        return ft.mean(-1)

    def act(self, obs: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        self._t += 1
        x = encode_arms(obs.to(self.device), self.arms, self.per_arm)
        with torch.no_grad():
            if self._fused:   # the layers' outputs, kept for the update (see _fused_step)
                zs = self._net.pre_activations(self._params, x)
                f = zs[-1].squeeze(-1)
            else:
                f = self._net.scalar(self._params, x)
            losses = self._predict(f, self._offsets(self._z_act(self._t - 1)))
        gamma = gamma_schedule(self._t, self.gamma_scale, self.gamma_exponent)
        rule = squarecb_probs if self._loss == "square" else fastcb_probs
        probs = rule(losses, gamma)
        action = sample_categorical(probs, self._u(self._t - 1))
        p = probs.gather(1, action.unsqueeze(1)).squeeze(1)
        if self._fused:   # for the update of this round (see _chosen_layers)
            self._acted = (self._steps, obs.to(self.device).clone(), zs)
        return action, {"propensity": p, "gamma": torch.full_like(p, gamma)}

    # -- online regression -----------------------------------------------------------------
    def _coefficients(self, f: Tensor, y: Tensor, offsets: Tensor) -> tuple[Tensor, Tensor]:
        """``∂ℓ/∂f̃_{i,s}`` summed over members (R, B) and over examples (R, S)."""
        b = f.shape[1]
        if not self._perturbed:
            return 2.0 * (f - y) / b, torch.zeros(self.replicates, 1, device=self.device)
        ft = f.unsqueeze(-1) + offsets.unsqueeze(1)                      # (R, B, S)
        a = 2.0 * (ft - y.unsqueeze(-1)) / (b * ft.shape[-1])
        return a.sum(-1), a.sum(1)

    def _perturbation_grad(self, w: Tensor, z: Tensor, delta: Tensor) -> Tensor:
        """``Σ_s w_s ε_s`` (R, p) given ``z_s = ⟨ε_s, δ⟩ = ‖δ‖ zn_s``, exactly in distribution.

        Along ``δ`` the sum is fixed by ``z``; across it, it is ``‖w‖`` times a fresh Gaussian
        ``ξ`` with its ``δ`` component removed: ``‖w‖ ξ + (⟨w, z⟩ − ‖w‖⟨ξ, δ⟩)/‖δ‖² · δ``
        (``δ = 0``: just ``‖w‖ ξ``). Written as three passes over the (R, p) arrays.
        """
        r, p = delta.shape
        if self._xi is not None:
            xi = self._xi(self._steps - 1).to(delta.dtype)
        else:
            xi = torch.empty((r, p), device=self.device, dtype=delta.dtype)
            for i, g in enumerate(self._xi_gens):
                torch.randn(p, generator=g, device=self.device, dtype=delta.dtype, out=xi[i])
        n2 = torch.linalg.vecdot(delta, delta).unsqueeze(1)
        dot = torch.linalg.vecdot(xi, delta).unsqueeze(1)
        wnorm = w.norm(dim=1, keepdim=True)
        safe = torch.where(n2 > 0, n2, torch.ones_like(n2))
        coef = torch.where(n2 > 0, ((w * z).sum(1, keepdim=True) - wnorm * dot) / safe,
                           torch.zeros_like(n2))
        return torch.addcmul(coef * delta, wnorm, xi)

    def _ogd_step(self, x: Tensor, y: Tensor) -> None:
        if self._fused:
            self._fused_step(x, y)
            return
        params = [p.detach().requires_grad_(True) for p in self._params]
        f = self._net.scalar(params, x)                                   # (R, B)
        zn = self._z_upd(self._steps)
        self._steps += 1
        offsets = self._offsets(zn)
        coef_f, coef_s = self._coefficients(f.detach(), y, offsets)
        grads = torch.autograd.grad((f * coef_f).sum(), params)
        if self._perturbed:  # θ − θ_0 before the step
            delta = flatten(params).detach() - self._theta0
        # in place on the current weights (one pass over them, no new allocation)
        new = [p.detach().sub_(g, alpha=self._lr) for p, g in zip(params, grads, strict=True)]
        if self._perturbed:
            extra = self.c_p * self._perturbation_grad(coef_s, offsets / self.c_p, delta)
            new = [p.sub_(e, alpha=self._lr)
                   for p, e in zip(new, unflatten_like(extra, new), strict=True)]
        if self.radius is not None:
            delta = flatten(new) - self._theta0
            scale = (self.radius / delta.norm(dim=1, keepdim=True).clamp(min=1e-12)).clamp(max=1.0)
            new = unflatten_like(self._theta0 + scale * delta, new)
        self._params = new

    def _fused_step(self, x: Tensor, y: Tensor, zs: list[Tensor] | None = None) -> None:
        """:meth:`_ogd_step` with the perturbation, fast kind, on a CPU: the layers' outputs
        ``zs`` at ``x`` (:meth:`_chosen_layers`, or made here) and the gradient's small factors
        in torch, the rest in one compiled kernel over the flat weights
        (:func:`~olearn.agents.bandits.neural_cb_kernels.perturbed_step`: it forms the gradient
        and draws ``ξ``, the numbers of ``self._xi(step)``, where used, and returns ‖θ' − θ_0‖²,
        carried to the next round)."""
        from olearn.agents.bandits import neural_cb_kernels as kernels

        assert self._xi is not None
        if zs is None:
            with torch.no_grad():
                zs = self._net.pre_activations(self._params, x)
        f = zs[-1].squeeze(-1)                                            # (R, B)
        draw = self._steps
        offsets = self._offsets(self._z_upd(draw))
        self._steps += 1
        coef_f, coef_s = self._coefficients(f, y, offsets)
        hd = self._net.grad_factors(self._params, x, zs, coef_f)
        z = offsets / self.c_p
        wz = (coef_s * z).sum(1).to(torch.float64)
        wnorm = coef_s.norm(dim=1).to(torch.float64)
        r, p = self._flat.shape
        k0, k1 = self._xi.key_words()
        kernels.perturbed_step(self._flat.numpy(), self._theta0.numpy(),
                               tuple(h.numpy() for h, _ in hd), tuple(d.numpy() for _, d in hd),
                               self._starts.numpy(), k0, k1, draw, wz.numpy(), wnorm.numpy(),
                               self._lr, float(self.c_p), float(self.radius or 0.0),
                               self._n2.numpy(), 1 if r * p < kernels.SERIAL_BELOW else 0)

    def update(self, step: Step) -> None:
        a = step.action.to(self.device)
        obs = step.obs.to(self.device)
        x_all = encode_arms(obs, self.arms, self.per_arm)
        y = losses_from_rewards(step.reward.to(self.device, torch.float32), self.reward_range)
        self._buf_x.append(x_all[self._rows, a])
        self._buf_y.append(y)
        if len(self._buf_x) < self.update_every:
            return
        xb, yb = torch.stack(self._buf_x, 1), torch.stack(self._buf_y, 1)
        self._buf_x, self._buf_y = [], []
        for _ in range(self.steps_per_round):
            if self._fused and xb.shape[1] == 1:
                self._fused_step(xb, yb, self._chosen_layers(obs, x_all, a))
            else:
                self._ogd_step(xb, yb)

    def _chosen_layers(self, obs: Tensor, x_all: Tensor, a: Tensor) -> list[Tensor]:
        """The layers' outputs at the played arms ``a`` (R, 1, width) from a pass over all arms
        of ``obs``: act's when θ and ``obs`` are act's, else made again. (A pass over one arm
        may round differently, so the update always takes this one: its numbers depend only on
        θ and the step, whatever was acted in between, as with delayed feedback.)"""
        steps, acted_obs, zs = self._acted
        if not (steps == self._steps and acted_obs.shape == obs.shape
                and torch.equal(acted_obs, obs)):
            with torch.no_grad():
                zs = self._net.pre_activations(self._params, x_all)
        return [z[self._rows, a].unsqueeze(1) for z in zs]


class NeuFastCB(NeuSquareCB):
    r"""NeuFastCB (Deb et al., ICLR 2024): FastCB over a perturbed sigmoid-ensemble KL oracle.

    As :class:`NeuSquareCB`, but the prediction is ``ŷ = (1/S) Σ_s sigmoid(f̃_s)`` in (0, 1),
    the oracle minimizes the KL loss ``y ln(y/ŷ) + (1 − y) ln((1 − y)/(1 − ŷ))`` (the gradient of
    binary cross-entropy) by OGD, and actions follow the first-order FastCB rule
    ``p_a = ŷ_b / (K ŷ_b + γ_t (ŷ_a − ŷ_b))``. Parameters and info as for :class:`NeuSquareCB`.

    Examples
    --------
    >>> import gymnasium as gym, torch
    >>> agent = NeuFastCB(gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(3), hidden=(8,))
    >>> agent.reset(seeds=[0], device=torch.device("cpu"))
    >>> action, info = agent.act(torch.ones(1, 4))
    >>> float(info["gamma"][0])
    10.0
    """

    _loss: ClassVar[str] = "kl"
    _default_lr: ClassVar[float] = 1.0

    def _predict(self, f: Tensor, offsets: Tensor) -> Tensor:
        return torch.sigmoid(f.unsqueeze(-1) + offsets.unsqueeze(1)).mean(-1)

    def _coefficients(self, f: Tensor, y: Tensor, offsets: Tensor) -> tuple[Tensor, Tensor]:
        b = f.shape[1]
        if not self._perturbed:           # plain OGD on binary cross-entropy with logits
            return (torch.sigmoid(f) - y) / b, torch.zeros(self.replicates, 1, device=self.device)
        s = torch.sigmoid(f.unsqueeze(-1) + offsets.unsqueeze(1))         # (R, B, S)
        yhat = s.mean(-1).clamp(1e-6, 1 - 1e-6)
        dyhat = (yhat - y) / (yhat * (1 - yhat)) / b                     # ∂ℓ/∂ŷ
        a = dyhat.unsqueeze(-1) * s * (1 - s) / s.shape[-1]
        return a.sum(-1), a.sum(1)
