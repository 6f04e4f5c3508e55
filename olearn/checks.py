"""Contract checks for plug-in authors: ``check_env`` and ``check_agent``.

Each returns a list of problems in plain words (empty when all is well); ``olearn check``
prints them.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from olearn.registry import make_agent, make_env
from olearn.errors import OlearnError
from olearn.loop import action_problem
from olearn.seeding import replicate_seeds

__all__ = ["check_agent", "check_env"]

_CPU = torch.device("cpu")


def _actions(env: Any, rounds: int, seed: int) -> list[Tensor]:
    space = env.single_action_space
    space.seed(seed)
    return [torch.as_tensor(np.stack([space.sample() for _ in range(env.num_envs)]))
            for _ in range(rounds)]


def _rollout(env: Any, seeds: list[int], actions: list[Tensor]) -> list[Tensor]:
    obs, _ = env.reset(seed=seeds)
    out = [torch.as_tensor(obs).double().flatten(1)]
    for a in actions:
        obs, reward, _, _, info = env.step(a[: env.num_envs])
        out += [torch.as_tensor(obs).double().flatten(1), reward.double().unsqueeze(1)]
    return out


def _snapshot(values: dict[str, Any]) -> dict[str, tuple[Tensor, Tensor]]:
    return {k: (v, v.clone()) for k, v in values.items() if isinstance(v, Tensor)}


def _changed(snapshot: dict[str, tuple[Tensor, Tensor]]) -> list[str]:
    """Names of snapshotted tensors modified in place since (NaN equals NaN)."""
    def same(v: Tensor, c: Tensor) -> bool:
        if v.is_floating_point():
            return bool(((v == c) | (v.isnan() & c.isnan())).all())
        return torch.equal(v, c)
    return [k for k, (v, c) in snapshot.items() if not same(v, c)]


_KEPT = ("the engine keeps returned tensors (trace recording, delayed feedback); "
         "return a new tensor each round instead of reusing a buffer")


def check_env(ref: str, kwargs: dict[str, Any] | None = None, *, rounds: int = 20) -> list[str]:
    """Check an environment against olearn's contract.

    >>> check_env("olearn/ContextualBandit-v0", {"arms": 3, "dim": 2})
    []
    """
    kwargs = kwargs or {}
    problems: list[str] = []
    r = 3
    try:
        env = make_env(ref, num_envs=r, device=_CPU, kwargs=kwargs)
    except OlearnError as e:
        return [str(e)]
    seeds = replicate_seeds(0, "env", range(r))
    actions = _actions(env, rounds, 0)
    obs, info = env.reset(seed=seeds)
    if not isinstance(info, dict):
        problems.append(f"reset must return (obs, info_dict), got info of type {type(info).__name__}")
    kept = _snapshot({"obs": obs})
    for t, a in enumerate(actions, 1):
        out = env.step(a)
        if len(out) != 5:
            return problems + [f"step must return 5 values (obs, reward, terminated, truncated, info), got {len(out)}"]
        _, reward, term, trunc, info = out
        if not (isinstance(reward, Tensor) and reward.shape == (r,)):
            problems.append(f"round {t}: reward must be a tensor of shape ({r},), got {getattr(reward, 'shape', type(reward))}")
            break
        oracle = info.get("oracle") if isinstance(info, dict) else None
        if not isinstance(oracle, dict):
            problems.append("info must contain an 'oracle' dict with 'regret' or 'loss' + 'comparator_cum_loss'")
            break
        if "regret" not in oracle and not {"loss", "comparator_cum_loss"} <= set(oracle):
            problems.append("info['oracle'] needs 'regret' (this round's increment) or 'loss' and 'comparator_cum_loss'")
            break
        if not isinstance(info.get("feedback", {}), dict):
            problems.append("info['feedback'] must be a dict")
            break
        changed = _changed(kept)
        if changed:
            problems.append(f"round {t}: step modified the {', '.join(changed)} tensor(s) returned "
                            f"in round {t - 1}; {_KEPT}")
            break
        kept = _snapshot({"obs": out[0], "reward": reward,
                          **{f"oracle[{k!r}]": v for k, v in oracle.items()},
                          **{f"feedback[{k!r}]": v for k, v in info.get("feedback", {}).items()}})
    a1, a2 = _rollout(env, seeds, actions), _rollout(env, seeds, actions)
    if any(not torch.equal(x, y) for x, y in zip(a1, a2)):
        problems.append("not deterministic: two rollouts with the same seeds and actions differ")
    alone = make_env(ref, num_envs=1, device=_CPU, kwargs=kwargs)
    solo = _rollout(alone, seeds[1:2], [a[1:2] for a in actions])
    if any(not torch.allclose(x[1:2], y) for x, y in zip(a1, solo)):
        problems.append("replicate 1 of a batch differs from the same replicate run alone")
    spec = gym.registry.get(ref.rpartition(":")[2])
    if spec is not None and spec.entry_point is not None:
        from gymnasium.utils.env_checker import check_env as gym_check

        try:
            gym_check(gym.make(spec.id, disable_env_checker=True, **kwargs).unwrapped, skip_render_check=True)
        except Exception as e:  # noqa: BLE001 - report whatever gymnasium objects to
            problems.append(f"gymnasium's check_env failed on the single-env view: {e}")
    return problems


def check_agent(ref: str, env: str, *, env_kwargs: dict[str, Any] | None = None,
                kwargs: dict[str, Any] | None = None, rounds: int = 30) -> list[str]:
    """Check an agent on an environment: valid actions, info keys, determinism, reset.

    >>> check_agent("olearn/LinUCB-v0", "olearn/ContextualBandit-v0", env_kwargs={"arms": 3, "dim": 2})
    []
    """
    from olearn.types import Step

    problems: list[str] = []
    r = 3
    try:
        envs = [make_env(env, num_envs=r, device=_CPU, kwargs=env_kwargs or {}) for _ in range(2)]
        agent = make_agent(ref, envs[0].single_observation_space, envs[0].single_action_space,
                           **dict(kwargs or {}))
    except OlearnError as e:
        return [str(e)]
    keys = getattr(agent, "info_keys", None)

    def rollout(e: Any) -> list[Tensor]:
        obs, _ = e.reset(seed=replicate_seeds(0, "env", range(r)))
        agent.reset(seeds=replicate_seeds(0, "agent", range(r)), device=_CPU)
        taken = []
        kept: dict[str, tuple[Tensor, Tensor]] = {}
        for t in range(1, rounds + 1):
            action, info = agent.act(obs)
            changed = _changed(kept)
            if changed:
                raise _Problem(f"round {t}: the agent modified the {', '.join(changed)} tensor(s) "
                               f"it returned from act in round {t - 1}; {_KEPT}")
            problem = action_problem(action, e.single_action_space, r)
            if problem:
                raise _Problem(f"round {t}: {problem}")
            if not isinstance(info, dict):
                raise _Problem(f"act must return (action, dict), got {type(info).__name__}")
            if keys is not None and set(info) != set(keys):
                raise _Problem(f"act_info keys {sorted(info)} differ from the declared info_keys {sorted(keys)}")
            for k, v in info.items():
                if not (isinstance(v, Tensor) and v.shape[:1] == (r,)):
                    raise _Problem(f"act_info[{k!r}] must be a tensor with leading dim {r}")
            kept = _snapshot({"action": action, **{f"act_info[{k!r}]": v for k, v in info.items()}})
            nxt, reward, term, trunc, einfo = e.step(action)
            agent.update(Step(t, obs, action, info, reward, einfo.get("feedback", {}), nxt, term | trunc))
            obs = nxt
            taken.append(action.detach().cpu().clone())
        return taken

    try:
        first = rollout(envs[0])
        second = rollout(envs[1])
    except _Problem as p:
        return [str(p)]
    if any(not torch.equal(a, b) for a, b in zip(first, second)):
        problems.append("reset with the same seeds does not restore the same behaviour "
                        "(actions differ between two seeded runs)")
    return problems


class _Problem(Exception):
    pass
