"""NeuralUCB and NeuralTS: neural bandits with gradient-feature confidence widths."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import gymnasium as gym
import torch
from torch import Tensor

from olearn.agent import BatchedAgent, context_shape, discrete_arms
from olearn.agents.bandits.networks import BatchedMLP, check_network, encode_arms, input_dim
from olearn.seeding import BlockStream
from olearn.types import Step
from olearn.validation import check_choice

_FULL_MAX_PARAMS = 4096


class NeuralUCB(BatchedAgent):
    r"""NeuralUCB (Zhou, Li, Gu, ICML 2020) with the training recipe of the NeuralTS code.

    A network ``f(θ; x_a)`` predicts rewards; ``g_a = ∇_θ f(θ; x_a)``. The confidence width is
    ``σ_a = √(λ ν g_aᵀ Z⁻¹ g_a)`` with ``Z = λI + Σ_played g gᵀ`` (``covariance="full"``) or its
    diagonal (``"diag"``, the default: ``U = λ + Σ g ⊙ g``); the agent plays
    ``argmax_a f(θ; x_a) + σ_a``. Every ``train_every`` rounds the network takes
    ``train_steps`` SGD steps (step ``lr``, weight decay ``λ/t``) on the mean squared error over
    a replay buffer of the last ``buffer_size`` rounds (the whole buffer, or random minibatches
    of ``batch_size``). olearn papers §5.4.

    Parameters
    ----------
    hidden, activation
        Network: hidden widths (default one layer of 100) and activation.
    reg, nu
        λ (prior precision, also the weight-decay scale) and ν (width scale).
    covariance
        ``"diag"`` or ``"full"`` (only for networks of at most 4096 parameters).
    lr, train_steps, train_every, batch_size, buffer_size
        Training recipe, as above (``batch_size=None``: full batch).

    Info
    ----
    ``propensity`` (1: the rule is deterministic) and ``width`` (``σ`` of the arm played).

    Notes
    -----
    Shared contexts use the disjoint encoding ``x ⊗ e_a``
    (see :func:`~olearn.agents.bandits.networks.encode_arms`).
    Per-arm gradients come from ``torch.func`` (``vmap`` of ``grad``) over replicates and arms.

    Examples
    --------
    >>> import gymnasium as gym, torch
    >>> agent = NeuralUCB(gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(3), hidden=(8,),
    ...                   train_steps=2)
    >>> agent.reset(seeds=[0, 1], device=torch.device("cpu"))
    >>> obs = torch.ones(2, 4)
    >>> action, info = agent.act(obs)
    >>> agent.update(Step(t=1, obs=obs, action=action, act_info=info, reward=torch.ones(2)))
    >>> bool((info["width"] > 0).all())
    True
    """

    info_keys: ClassVar[tuple[str, ...]] = ("propensity", "width")
    test_env: ClassVar[tuple[str, dict]] = ("olearn/ContextualBandit-v0", {"arms": 3, "dim": 4})

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 hidden: Sequence[int] = (100,),
                 activation: Literal["relu", "tanh", "softplus", "gelu"] = "relu",
                 reg: float = 0.001, nu: float = 1.0,
                 covariance: Literal["diag", "full"] = "diag", lr: float = 0.01,
                 train_steps: int = 100, train_every: int = 1, batch_size: int | None = None,
                 buffer_size: int = 10_000) -> None:
        super().__init__(observation_space, action_space)
        name = type(self).__name__
        self.arms = discrete_arms(name, action_space)
        self.per_arm, self.dim = context_shape(name, observation_space, self.arms)
        widths = check_network(name, hidden, activation)
        for key, val in (("reg", reg), ("nu", nu), ("lr", lr)):
            if not (isinstance(val, (int, float)) and 0 < val < math.inf):
                msg = f"{name}: {key} must be a positive number, got {val!r}"
                raise ValueError(msg)
        check_choice(f"{name}: covariance", covariance, ("diag", "full"))
        for key, val in (("train_steps", train_steps), ("train_every", train_every),
                         ("buffer_size", buffer_size)):
            if not (isinstance(val, int) and val >= (0 if key == "train_steps" else 1)):
                msg = (f"{name}: {key} must be an integer >= "
                       f"{0 if key == 'train_steps' else 1}, got {val!r}")
                raise ValueError(msg)
        if batch_size is not None and not (isinstance(batch_size, int) and batch_size >= 1):
            msg = (f"{name}: batch_size must be None (full batch) or an integer >= 1, "
                   f"got {batch_size!r}")
            raise ValueError(msg)
        net = BatchedMLP(in_dim=input_dim(self.per_arm, self.dim, self.arms), hidden=widths)
        if covariance == "full" and net.num_params > _FULL_MAX_PARAMS:
            msg = (f"{name}: covariance='full' stores a p×p matrix per replicate and needs "
                   f"p <= {_FULL_MAX_PARAMS} parameters, got p={net.num_params}; "
                   "use 'diag' or a smaller network")
            raise ValueError(msg)
        self.hidden, self.activation, self.reg, self.nu = hidden, activation, reg, nu
        self.covariance, self.lr, self.train_steps = covariance, lr, train_steps
        self.train_every, self.batch_size, self.buffer_size = train_every, batch_size, buffer_size

    @classmethod
    def _unit_test_params(cls) -> list[dict[str, Any]]:
        return [{"hidden": (16,), "train_steps": 5},
                {"hidden": (8,), "covariance": "full", "train_steps": 3, "train_every": 2,
                 "batch_size": 4, "buffer_size": 5, "activation": "tanh"}]

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        widths = check_network("", self.hidden, self.activation)
        d_in = input_dim(self.per_arm, self.dim, self.arms)
        self._net = BatchedMLP(in_dim=d_in, hidden=widths, activation=self.activation)
        self._params = self._net.init(self.seeds, device=self.device)
        p, r = self._net.num_params, self.replicates
        if self.covariance == "diag":
            self._u_diag = torch.full((r, p), float(self.reg), device=self.device)
        else:
            eye = torch.eye(p, device=self.device) / self.reg
            self._z_inv = eye.expand(r, p, p).clone()
        self._buf_x = torch.zeros(r, self.buffer_size, d_in, device=self.device)
        self._buf_y = torch.zeros(r, self.buffer_size, device=self.device)
        self._count = 0
        self._rows = torch.arange(r, device=self.device)
        self._batch = BlockStream(self.seeds, "minibatch", (self.batch_size or 1,),
                                  kind="uniform", device=self.device)
        self._sample = BlockStream(self.seeds, "posterior", (self.arms,), device=self.device,
                                   dtype=torch.float32)
        self._t, self._train_count = 0, 0

    def _width(self, g: Tensor) -> Tensor:
        """``σ = √(λ ν gᵀ Z⁻¹ g)`` for gradients ``g`` (R, K, p) -> (R, K)."""
        if self.covariance == "diag":
            q = (g * g / self._u_diag.unsqueeze(1)).sum(-1)
        else:
            q = torch.einsum("rkp,rpq,rkq->rk", g, self._z_inv, g)
        return (self.reg * self.nu * q.clamp(min=0.0)).sqrt()

    def _score(self, mean: Tensor, width: Tensor) -> Tensor:
        return mean + width

    def act(self, obs: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        self._t += 1
        x = encode_arms(obs.to(self.device), self.arms, self.per_arm)
        with torch.no_grad():
            mean = self._net.scalar(self._params, x)
        width = self._width(self._net.per_sample_grads(self._params, x))
        action = self._score(mean, width).argmax(dim=1)
        w = width.gather(1, action.unsqueeze(1)).squeeze(1)
        return action, self._info(w)

    def _info(self, width: Tensor) -> dict[str, Tensor]:
        return {"propensity": torch.ones_like(width), "width": width}

    def update(self, step: Step) -> None:
        a = step.action.to(self.device)
        x = encode_arms(step.obs.to(self.device), self.arms, self.per_arm)[self._rows, a]
        g = self._net.per_sample_grads(self._params, x.unsqueeze(1)).squeeze(1)     # (R, p)
        if self.covariance == "diag":
            self._u_diag += g * g
        else:                                                                   # Sherman–Morrison
            u = torch.einsum("rpq,rq->rp", self._z_inv, g)
            denom = 1.0 + (u * g).sum(-1, keepdim=True)
            self._z_inv -= (u / denom).unsqueeze(2) * u.unsqueeze(1)
        slot = self._count % self.buffer_size
        self._buf_x[:, slot] = x
        self._buf_y[:, slot] = step.reward.to(self.device, torch.float32)
        self._count += 1
        if self._count % self.train_every == 0:
            self._train()

    def _train(self) -> None:
        n = min(self._count, self.buffer_size)
        decay = self.reg / self._count
        params = self._params
        for _ in range(self.train_steps):
            if self.batch_size is None or self.batch_size >= n:
                xb, yb = self._buf_x[:, :n], self._buf_y[:, :n]
            else:
                idx = (self._batch(self._train_count) * n).long().clamp_(max=n - 1)   # (R, B)
                xb = self._buf_x[self._rows.unsqueeze(1), idx]
                yb = self._buf_y[self._rows.unsqueeze(1), idx]
            self._train_count += 1
            leaves = [p.detach().requires_grad_(True) for p in params]
            loss = ((self._net.scalar(leaves, xb) - yb) ** 2).mean(1).sum()
            grads = torch.autograd.grad(loss, leaves)
            params = [p.detach() - self.lr * (gr + decay * p.detach())
                      for p, gr in zip(leaves, grads, strict=True)]
        self._params = params


class NeuralTS(NeuralUCB):
    r"""NeuralTS (Zhang, Zhou, Li, Gu, ICLR 2021): sample ``r̃_a ~ N(f(θ; x_a), σ_a²)``, play the
    argmax.

    Same network, covariance and training as :class:`NeuralUCB` (olearn papers §5.5); ``σ_a``
    is the NeuralUCB width. Info: ``width`` of the arm played.

    Examples
    --------
    >>> import gymnasium as gym, torch
    >>> agent = NeuralTS(gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(3), hidden=(8,))
    >>> agent.reset(seeds=[0], device=torch.device("cpu"))
    >>> action, info = agent.act(torch.ones(1, 4))
    >>> sorted(info)
    ['width']
    """

    info_keys: ClassVar[tuple[str, ...]] = ("width",)

    def _score(self, mean: Tensor, width: Tensor) -> Tensor:
        return mean + width * self._sample(self._t - 1)

    def _info(self, width: Tensor) -> dict[str, Tensor]:
        return {"width": width}
