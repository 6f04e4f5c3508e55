"""Synthetic contextual bandits with linear, quadratic and cosine reward functions."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from olearn.seeding import BlockStream, draw
from olearn.validation import check_choice, check_positive_int
from olearn.vector import BatchedEnv, single_view

REWARDS = ("linear", "quadratic", "cosine")
CONTEXTS = ("sphere", "switching")


def _kernels() -> Any:
    """The compiled CPU kernels, imported on first use (a GPU run never needs numba)."""
    from olearn.envs.bandits import contextual_kernels

    return contextual_kernels


def _compiled_on(device: torch.device) -> bool:
    """Whether blocks are prepared by the compiled kernels (on a CPU) or by torch operations."""
    return device.type == "cpu"


class ContextualBanditVector(BatchedEnv):
    r"""Synthetic K-armed contextual bandit, the standard testbed of (neural) bandit papers.

    Description
    -----------
    Each round every replicate sees a context and pulls one of ``arms`` arms. With a shared
    context ``x`` (``per_arm=False``) arm ``a`` has its own unit vector ``θ_a`` and expected
    reward ``h(θ_aᵀx)``; with per-arm contexts ``x_a`` (``per_arm=True``) one unit vector ``θ``
    scores every arm, ``h(θᵀx_a)``. Contexts are uniform on the unit sphere. ``h`` is
    ``linear`` (identity), ``quadratic`` (``10 u²``) or ``cosine`` (``cos(3u)``). The realized
    reward adds Gaussian noise of standard deviation ``noise``. Each replicate draws its own
    instance ``θ`` from its seed.

    ``contexts="switching"`` makes the context stream that of an oblivious adversary whose
    distribution switches abruptly between two disjoint regions: in rounds
    ``[2m·switch_every, (2m+1)·switch_every)`` every context lies in the half-sphere
    ``x[0] > 0``, in the other blocks of ``switch_every`` rounds in ``x[0] < 0`` (per-arm
    contexts: every arm's). The schedule depends on the round alone, never on the actions; the
    reward function is the same fixed ``h(θᵀx)`` throughout, so the learner faces
    adversarially ordered (not i.i.d.) contexts with a fixed realizable reward, the setting of
    the neural IGW papers' regret bounds (papers §3). Reconstruction: papers.md specifies no
    adversary; this one is ours. It is the same draw as the default, with the sign of the
    first coordinate set by the schedule (uniform on each half-sphere); the default
    ``"sphere"`` leaves every trace unchanged.

    Action Space
    ------------
    ``Discrete(arms)``.

    Observation Space
    -----------------
    ``Box(-1, 1, (dim,))`` for a shared context, ``Box(-1, 1, (arms, dim))`` per arm.

    Rewards
    -------
    ``h(·) + noise·ε``, ``ε ~ N(0, 1)``.

    Info
    ----
    ``feedback``: nothing beyond the reward. ``oracle``: ``regret`` = ``μ*(x) − μ_a(x)`` (pseudo
    regret against the best arm of this context), ``expected_reward`` ``μ_a(x)``,
    ``best_arm``.

    Arguments
    ---------
    arms, dim, per_arm, reward, noise, contexts, switch_every
        As above (``contexts``: ``"sphere"``, i.i.d. uniform, the default, or ``"switching"``;
        ``switch_every``: rounds per region, used by ``"switching"`` only). ``num_envs`` is
        the number of replicates, ``device``/``dtype`` where they live.

    Version History
    ---------------
    v0: initial version; ``contexts``/``switch_every`` added later (the default is the
    original stream).

    Examples
    --------
    >>> env = ContextualBanditVector(num_envs=2, arms=3, dim=4)
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape
    torch.Size([2, 4])
    >>> obs, reward, term, trunc, info = env.step(torch.tensor([0, 2]))
    >>> sorted(info["oracle"])
    ['best_arm', 'expected_reward', 'regret']
    """

    finite_observations = True   # made here from finite, validated numbers

    oracle_keys = {"regret": "float64", "expected_reward": "float64", "best_arm": "int64"}

    @classmethod
    def _unit_test_kwargs(cls) -> list[dict[str, Any]]:
        """Configurations the contract tests run: every reward, shared and per-arm contexts."""
        return [
            {"arms": 3, "dim": 4},
            {"arms": 4, "dim": 3, "reward": "quadratic", "noise": 0.0},
            {"arms": 2, "dim": 5, "reward": "cosine", "per_arm": True},
            {"arms": 5, "dim": 2, "per_arm": True, "noise": 0.5, "dtype": "float64"},
            {"arms": 3, "dim": 4, "reward": "cosine", "contexts": "switching", "switch_every": 3},
        ]

    def __init__(self, num_envs: int = 1, *, arms: int = 10, dim: int = 20,
                 per_arm: bool = False,
                 reward: Literal["linear", "quadratic", "cosine"] = "linear",
                 noise: float = 0.1,
                 contexts: Literal["sphere", "switching"] = "sphere", switch_every: int = 100,
                 device: str | torch.device = "cpu",
                 dtype: str | torch.dtype = "float32") -> None:
        super().__init__(num_envs, device=device, dtype=dtype)
        if not (isinstance(arms, int) and arms >= 2):
            msg = f"arms must be an integer >= 2, got {arms!r}"
            raise ValueError(msg)
        if not (isinstance(dim, int) and dim >= 1):
            msg = f"dim must be a positive integer, got {dim!r}"
            raise ValueError(msg)
        check_choice("reward", reward, REWARDS)
        if not (isinstance(noise, (int, float)) and noise >= 0 and np.isfinite(noise)):
            msg = f"noise must be a finite number >= 0, got {noise!r}"
            raise ValueError(msg)
        check_choice("contexts", contexts, CONTEXTS)
        check_positive_int("switch_every", switch_every)
        self.contexts, self.switch_every = contexts, switch_every
        self.arms, self.dim, self.per_arm = arms, dim, bool(per_arm)
        self.reward, self.noise = reward, float(noise)
        shape = (arms, dim) if self.per_arm else (dim,)
        self.single_observation_space = spaces.Box(-1.0, 1.0, shape, dtype=np.float32)
        self.single_action_space = spaces.Discrete(arms)
        self._finish_spaces()

    def _h(self, u: Tensor) -> Tensor:
        if self.reward == "quadratic":
            return 10.0 * u * u
        if self.reward == "cosine":
            return torch.cos(3.0 * u)
        return u

    def _observe(self) -> Tensor:
        raw, j = self._contexts.block_of(self._t)
        if raw is not self._raw:  # a new block: normalize, score every arm
            noise, _ = self._noise.block_of(self._t)
            self._raw, self._block_noise = raw, noise
            if self.contexts == "switching":
                raw = self._switch(raw, self._t - j)
            (self._prepare_host if self._host else self._prepare_device)(raw)
        self._j = j
        return self._x[j]

    def _switch(self, raw: Tensor, start: int) -> Tensor:
        """The adversary's regions: ``x[0]``'s sign set by the round (block from ``start``)."""
        t = torch.arange(start, start + raw.shape[0], device=raw.device)
        sign = 1.0 - 2.0 * ((t // self.switch_every) % 2).to(raw.dtype)   # +1, then -1, ...
        out = raw.clone()
        out[..., 0] = raw[..., 0].abs() * sign.view(-1, *([1] * (raw.dim() - 2)))
        return out

    def _prepare_host(self, raw: Tensor) -> None:
        """The compiled kernel fills a block of numpy arrays (round-major, like the torch path)."""
        n_b, n_r = raw.shape[:2]
        k, obs = self.arms, self.single_observation_space.shape
        self._noise_host = self._block_noise.numpy()
        self._x = torch.empty((n_b, n_r, *obs), dtype=self.dtype)
        self._mu, self._best = np.empty((n_b, n_r, k)), np.empty((n_b, n_r))
        best_arm = np.empty((n_b, n_r), np.int64)
        kernels = _kernels()
        with kernels.thread_limit(1 if self.num_envs < kernels.SERIAL_BELOW else 0):
            kernels.compiled(self.per_arm)[0](raw.transpose(0, 1).numpy(), self._theta_host,
                                              kernels.REWARD_CODES[self.reward], self._x.numpy(),
                                              self._mu, self._best, best_arm)
        self._best_arm = torch.from_numpy(best_arm)

    def _prepare_device(self, raw: Tensor) -> None:
        """Batched torch operations on the block (any device)."""
        x = raw.double()
        x = x / x.norm(dim=-1, keepdim=True)                          # (B, R, [K,] d)
        if self.per_arm:
            u = torch.einsum("brkd,rd->brk", x, self._theta)
        else:
            u = torch.einsum("rkd,brd->brk", self._theta, x)
        # round-major blocks: a round's rows are contiguous, not one per replicate's page
        mu = self._h(u.contiguous())                                   # (B, R, K)
        best = mu.max(dim=2, keepdim=True)
        noise = self._block_noise.double()
        self._x = x.to(self.dtype, memory_format=torch.contiguous_format)
        self._mu, self._regret = mu, best.values - mu
        self._reward = (mu + self.noise * noise.unsqueeze(-1)).to(self.dtype)
        self._best_arm = best.indices.squeeze(-1)

    def _reset(self, seeds: list[int], options: dict[str, Any]) -> tuple[Tensor, dict]:
        shape = (self.dim,) if self.per_arm else (self.arms, self.dim)
        theta = draw(seeds, "theta", shape, device=self.device)
        self._theta = theta / theta.norm(dim=-1, keepdim=True)
        # the host kernel reads θ feature-major with a shared context: a vector lane an arm
        self._host = _compiled_on(self.device)
        self._theta_host = (self._theta if self.per_arm else self._theta.transpose(1, 2)
                            ).contiguous().numpy() if self._host else None
        ctx_shape = (self.arms, self.dim) if self.per_arm else (self.dim,)
        f32 = torch.float32   # the precision they are drawn in: the numbers are the same
        self._contexts = BlockStream(seeds, "contexts", ctx_shape, device=self.device, dtype=f32)
        # the noise stream shares the context stream's block length, so both turn over together
        self._noise = BlockStream(seeds, "noise", (), device=self.device, dtype=f32,
                                  block=self._contexts.block)
        self._t, self._raw = 0, None
        self._false = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        return self._observe(), {}

    def step(self, action: Any) -> tuple[Tensor, Tensor, Tensor, Tensor, dict]:
        a = action if isinstance(action, Tensor) else self._as_action(action, torch.long)
        j = self._j
        if self._host:
            if a.is_floating_point():
                msg = f"actions must be integers (arms), got {a.dtype}"
                raise IndexError(msg)
            a = a.numpy().astype(np.int64, copy=False).reshape(-1)
            # new tensors every round: the loop and the recorder may keep them
            n, f64 = self.num_envs, torch.float64
            regret, mu = torch.empty(n, dtype=f64), torch.empty(n, dtype=f64)
            reward = torch.empty(n, dtype=self.dtype)
            bad = _kernels().compiled(self.per_arm)[1](
                self._mu[j], self._best[j], self._noise_host[j], self.noise, a, regret.numpy(),
                mu.numpy(), reward.numpy())
            if bad >= 0:
                msg = f"action {a[bad]} of replicate {bad} is not an arm in [0, {self.arms})"
                raise IndexError(msg)
        else:                                                  # gather: no advanced indexing
            a = a.reshape(-1, 1).long()
            regret, mu, reward = (b[j].gather(1, a).view(-1)
                                  for b in (self._regret, self._mu, self._reward))
        info = {"feedback": {},
                "oracle": {"regret": regret, "expected_reward": mu, "best_arm": self._best_arm[j]}}
        self._t += 1
        return self._observe(), reward, self._false, self._false, info


ContextualBandit = single_view(ContextualBanditVector)
