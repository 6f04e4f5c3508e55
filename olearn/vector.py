"""Base classes for natively vectorized olearn environments.

A :class:`BatchedEnv` is a ``gymnasium.vector.VectorEnv`` whose ``num_envs`` copies are the
*replicates* of a run: observations, rewards and every entry of ``info["feedback"]`` and
``info["oracle"]`` are torch tensors with leading dimension ``R`` on one device.
:func:`single_view` turns one into a plain single ``gymnasium.Env`` (numpy in, numpy out) that
passes ``gymnasium.utils.env_checker.check_env``; built-in ids register both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector.utils import batch_space
from torch import Tensor

from olearn.device import resolve_device, resolve_dtype
from olearn.seeding import derive, replicate_seeds

__all__ = ["SAME_STEP", "BatchedEnv", "single_view", "to_numpy"]

try:  # gymnasium >= 1.1 names the autoreset semantics in metadata["autoreset_mode"]
    from gymnasium.vector import AutoresetMode

    SAME_STEP: Any = AutoresetMode.SAME_STEP
except ImportError:  # gymnasium 1.0: no enum yet
    SAME_STEP = "SameStep"


class BatchedEnv(gym.vector.VectorEnv):
    """Base class: ``R`` replicates of one environment as a batch on one torch device.

    Subclasses set ``single_observation_space`` and ``single_action_space`` in ``__init__``
    (then call :meth:`_finish_spaces`), and implement ``_reset(seeds)`` and ``step(action)``.
    ``reset(seed=int)`` seeds replicate ``r`` with ``replicate_seeds(seed, "env", [r])``;
    ``reset(seed=[s_0, ..., s_{R-1}])`` uses the given per-replicate seeds (what the engine does,
    so that replicate ``r`` of a large run equals a run of replicate ``r`` alone).

    The engine calls ``reset`` once per run, never between rounds: a replicate whose episode
    ends (``terminated | truncated``) is restarted within that same step, and the step returns
    the new episode's first observation (``metadata["autoreset_mode"]`` is gymnasium's
    ``AutoresetMode.SAME_STEP``). The built-in environments never end an episode.
    """

    metadata: dict[str, Any] = {"render_modes": [], "autoreset_mode": SAME_STEP}
    #: the per-replicate entries of ``info["oracle"]`` and their trace dtypes ("float64",
    #: "int64" or "bool"), one trace column each; a class attribute, or a property if they
    #: depend on the kwargs. ``None``: undeclared, probed before round 1 (see olearn.trace)
    oracle_keys: ClassVar[dict[str, str] | None] = None
    #: ``True`` for an env whose observations are finite by construction: the loop then skips
    #: its per-round NaN/inf check of them (a sum over every observation entry, ~15 µs a round)
    finite_observations: ClassVar[bool] = False

    def __init__(self, num_envs: int = 1, *, device: str | torch.device = "cpu",
                 dtype: str | torch.dtype = "float32") -> None:
        if not (isinstance(num_envs, int) and num_envs >= 1):
            msg = f"num_envs (replicates) must be a positive integer, got {num_envs!r}"
            raise ValueError(msg)
        self.num_envs = num_envs
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        self.seeds: list[int] = []

    def _finish_spaces(self) -> None:
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

    def reset(self, *, seed: int | Sequence[int] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Start a new run on every replicate; see the class docstring for ``seed``."""
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        if isinstance(seed, (int, np.integer)):
            seeds = replicate_seeds(int(seed), "env", range(self.num_envs))
        else:
            seeds = [int(s) for s in seed]
            if len(seeds) != self.num_envs:
                msg = f"reset got {len(seeds)} seeds for {self.num_envs} replicates"
                raise ValueError(msg)
        self.seeds = seeds
        return self._reset(seeds, options or {})

    def _reset(self, seeds: list[int], options: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        raise NotImplementedError

    def _as_action(self, action: Any, dtype: torch.dtype | None = None) -> Tensor:
        return torch.as_tensor(action, device=self.device, dtype=dtype)


def to_numpy(x: Any) -> Any:
    """Tensors (nested in dicts) of a batch of one to numpy, dropping the replicate axis."""
    if isinstance(x, Tensor):
        return x[0].detach().cpu().numpy()
    if isinstance(x, dict):
        return {k: to_numpy(v) for k, v in x.items()}
    return x


class _SingleView(gym.Env):
    """One replicate of a :class:`BatchedEnv` as a plain numpy ``gymnasium.Env``."""

    vector_class: type[BatchedEnv]
    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("device", "cpu")
        self._vec = self.vector_class(num_envs=1, **kwargs)
        self.observation_space = self._vec.single_observation_space
        self.action_space = self._vec.single_action_space
        self.render_mode = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        s = int(self.np_random.integers(2**63)) if seed is None else derive(seed, "single")
        obs, info = self._vec.reset(seed=[s], options=options)
        return self._obs(obs), to_numpy(info)

    def _obs(self, obs: Tensor) -> np.ndarray:
        return to_numpy(obs).astype(self.observation_space.dtype, copy=False)

    def step(self, action: Any):
        a = torch.as_tensor(np.asarray(action)[None])
        obs, reward, term, trunc, info = self._vec.step(a)
        return (self._obs(obs), float(reward[0]), bool(term[0]), bool(trunc[0]), to_numpy(info))


def single_view(vector_class: type[BatchedEnv]) -> type[gym.Env]:
    """Make the single-replicate ``gymnasium.Env`` class of a batched env class."""
    name = vector_class.__name__.removesuffix("Vector") or vector_class.__name__
    return type(name, (_SingleView,), {"vector_class": vector_class,
                                       "__doc__": vector_class.__doc__,
                                       "__module__": vector_class.__module__})
