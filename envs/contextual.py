"""Synthetic contextual bandits with linear, quadratic and cosine reward functions."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from olearn.envs.base import BatchedEnv, single_view
from olearn.seeding import BlockStream, draw
from olearn.validation import check_choice

REWARDS = ("linear", "quadratic", "cosine")


def _host(v: Tensor) -> Any:
    """A (B, R, K) block as a numpy array on a CPU (cheaper to index per round)."""
    return v.numpy() if v.device.type == "cpu" else v


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
    arms, dim, per_arm, reward, noise
        As above. ``num_envs`` is the number of replicates, ``device``/``dtype`` where they live.

    Version History
    ---------------
    v0: initial version.

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

    def __init__(self, num_envs: int = 1, *, arms: int = 10, dim: int = 20,
                 per_arm: bool = False,
                 reward: Literal["linear", "quadratic", "cosine"] = "linear",
                 noise: float = 0.1, device: str | torch.device = "cpu",
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
        if raw is not self._raw:  # a new block: normalize, score every arm, add the noise
            x = raw / raw.norm(dim=-1, keepdim=True)                   # (B, R, [K,] d)
            if self.per_arm:
                u = torch.einsum("brkd,rd->brk", x, self._theta)
            else:
                u = torch.einsum("rkd,brd->brk", self._theta, x)
            # round-major blocks: a round's rows are contiguous, not one per replicate's page
            mu = self._h(u.contiguous())                               # (B, R, K)
            best = mu.max(dim=2, keepdim=True)
            noise, _ = self._noise.block_of(self._t)
            # per round, the pulled arms' entries are one (bounds-checked) index per block
            self._raw, self._x = raw, x.to(self.dtype, memory_format=torch.contiguous_format)
            self._mu, self._regret = _host(mu), _host(best.values - mu)
            self._reward = _host((mu + self.noise * noise.unsqueeze(-1)).to(self.dtype))
            self._best_arm = best.indices.squeeze(-1)
        self._j = j
        return self._x[j]

    def _reset(self, seeds: list[int], options: dict[str, Any]) -> tuple[Tensor, dict]:
        shape = (self.dim,) if self.per_arm else (self.arms, self.dim)
        theta = draw(seeds, "theta", shape, device=self.device)
        self._theta = theta / theta.norm(dim=-1, keepdim=True)
        ctx_shape = (self.arms, self.dim) if self.per_arm else (self.dim,)
        self._contexts = BlockStream(seeds, "contexts", ctx_shape, device=self.device)
        # the noise stream shares the context stream's block length, so both turn over together
        self._noise = BlockStream(seeds, "noise", (), device=self.device,
                                  block=self._contexts.block)
        self._t, self._raw = 0, None
        self._rows = _host(torch.arange(self.num_envs, device=self.device))
        self._false = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        return self._observe(), {}

    def step(self, action: Any) -> tuple[Tensor, Tensor, Tensor, Tensor, dict]:
        a = action if isinstance(action, Tensor) else self._as_action(action, torch.long)
        j = self._j
        if isinstance(self._rows, np.ndarray):
            a = a.numpy().reshape(-1)
            blocks = [torch.from_numpy(b[j][self._rows, a])    # bounds-checked indexing
                      for b in (self._regret, self._mu, self._reward)]
        else:                                                  # gather: no advanced indexing
            a = a.reshape(-1, 1).long()
            blocks = [b[j].gather(1, a).view(-1) for b in (self._regret, self._mu, self._reward)]
        regret, mu, reward = blocks
        info = {"feedback": {},
                "oracle": {"regret": regret, "expected_reward": mu, "best_arm": self._best_arm[j]}}
        self._t += 1
        return self._observe(), reward, self._false, self._false, info


ContextualBandit = single_view(ContextualBanditVector)
