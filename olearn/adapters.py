"""Plug-ins that are not batched: plain ``gymnasium.Env`` classes and single-replicate agents.

:class:`PerReplicateEnv` keeps one copy of a plain environment per replicate, seeds copy ``r``
from replicate ``r``'s seed, and stacks numpy results into tensors (slower than a natively
batched env, but any gymnasium env works). :class:`PerReplicateAgent` does the same for an
agent written for a single replicate: ``act(obs) -> (action, info)`` on numpy values and
``update(step)`` with a :class:`olearn.types.Step` of numpy values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from olearn.errors import EnvError, SpecError
from olearn.seeding import derive
from olearn.types import Step
from olearn.vector import BatchedEnv

__all__ = ["PerReplicateAgent", "PerReplicateEnv"]


def _stack(values: list[Any], device: torch.device) -> Any:
    first = values[0]
    if isinstance(first, dict):
        return {k: _stack([v[k] for v in values], device) for k in first
                if all(isinstance(v, dict) and k in v for v in values)}
    arr = np.asarray(values)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        return values
    t = torch.as_tensor(arr, device=device)
    return t.to(torch.float64) if t.is_floating_point() else t


class PerReplicateEnv(BatchedEnv):
    """``R`` copies of a plain ``gymnasium.Env``, batched into tensors; resets a copy when done."""

    metadata: dict[str, Any] = {**BatchedEnv.metadata}  # autoreset SAME_STEP: see step()

    def __init__(self, make: Callable[[], gym.Env], num_envs: int = 1, *,
                 device: str | torch.device = "cpu") -> None:
        super().__init__(num_envs, device=device, dtype="float64")
        self.envs = [make() for _ in range(num_envs)]
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self._finish_spaces()

    def _obs(self, obs: list[Any]) -> Any:
        return _stack(obs, self.device)

    def _reset(self, seeds: list[int], options: dict[str, Any]) -> tuple[Any, dict]:
        out = [env.reset(seed=derive(s, "gym") % 2**63)
               for env, s in zip(self.envs, seeds, strict=True)]
        return self._obs([o for o, _ in out]), {}

    def step(self, action: Any):
        acts = action.detach().cpu().numpy() if isinstance(action, Tensor) else np.asarray(action)
        discrete = isinstance(self.single_action_space, gym.spaces.Discrete)
        results = []
        for i, env in enumerate(self.envs):
            a = int(acts[i]) if discrete else acts[i]
            obs, reward, term, trunc, info = env.step(a)
            if term or trunc:
                obs, _ = env.reset()
            results.append((obs, reward, term, trunc, info))
        infos = [r[4] for r in results]
        for key in ("oracle", "feedback"):
            if any(not isinstance(i.get(key, {}), dict) for i in infos):
                raise EnvError(f"info[{key!r}] must be a dict")
        info = {"oracle": _stack([i.get("oracle", {}) for i in infos], self.device),
                "feedback": _stack([i.get("feedback", {}) for i in infos], self.device)}
        dev = self.device
        for i, r in enumerate(results):
            if isinstance(r[1], (str, bytes)) or not isinstance(r[1], (int, float, np.number)):
                msg = (f"replicate {i}: the environment returned a reward of type "
                       f"{type(r[1]).__name__} ({r[1]!r}); step must return a real number")
                raise ValueError(msg)
        return (self._obs([r[0] for r in results]),
                torch.tensor([float(r[1]) for r in results], dtype=torch.float64, device=dev),
                torch.tensor([bool(r[2]) for r in results], device=dev),
                torch.tensor([bool(r[3]) for r in results], device=dev), info)


class PerReplicateAgent:
    """``R`` copies of a single-replicate agent, batched."""

    vectorized = True

    def __init__(self, make: Callable[[], Any], *, first: Any = None) -> None:
        self._make = make
        proto = make() if first is None else first
        self.observation_space = getattr(proto, "observation_space", None)
        self.action_space = getattr(proto, "action_space", None)
        self.inner = proto

    def reset(self, *, seeds: Sequence[int], device: torch.device) -> None:
        self.device = torch.device(device)
        self.agents = [self._make() for _ in seeds]
        for agent, s in zip(self.agents, seeds, strict=True):
            if hasattr(agent, "reset"):
                agent.reset(seed=derive(s, "agent") % 2**63)

    def act(self, obs: Any) -> tuple[Tensor, dict[str, Tensor]]:
        rows = _unbatch(obs, len(self.agents))
        outs = [agent.act(o) for agent, o in zip(self.agents, rows, strict=True)]
        if not all(isinstance(o, tuple) and len(o) == 2 for o in outs):
            raise SpecError("a single-replicate agent's act(obs) must return (action, info_dict)")
        action = torch.as_tensor(np.asarray([o[0] for o in outs]), device=self.device)
        return action, _stack([o[1] for o in outs], self.device) if outs[0][1] else {}

    def update(self, step: Step) -> None:
        n = len(self.agents)
        parts = [_unbatch(x, n) for x in (step.obs, step.action, step.act_info, step.reward,
                                          step.feedback, step.next_obs, step.done)]
        for i, agent in enumerate(self.agents):
            agent.update(Step(step.t, *(p[i] for p in parts)))


def _unbatch(x: Any, n: int) -> list[Any]:
    if isinstance(x, Tensor):
        arr = x.detach().cpu().numpy()
        return [arr[i] for i in range(n)]
    if isinstance(x, dict):
        cols = {k: _unbatch(v, n) for k, v in x.items()}
        return [{k: c[i] for k, c in cols.items()} for i in range(n)]
    if isinstance(x, list) and len(x) == n:
        return x
    return [x] * n


class Frozen:
    """An agent that acts and never learns (``learn = false`` in its ``[[agents]]`` entry:
    evaluating a saved agent on a fresh environment)."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def act(self, obs: Any) -> Any:
        return self.agent.act(obs)

    def update(self, step: Any) -> None:
        """Feedback is dropped: the agent stays as it was saved."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["agent"], name)
