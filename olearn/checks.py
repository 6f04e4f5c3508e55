"""Contract checks for plug-in authors: ``check_env`` and ``check_agent``.

Each returns a list of problems in plain words (empty when all is well); ``olearn check``
prints them. Any action space whose points are arrays works (``Discrete``, ``MultiDiscrete``,
``MultiBinary``, ``Box`` and its subclasses); observations may be tensors or dicts of them.
Actions and observations are tested replicate by replicate with the single spaces'
``contains``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector.utils import iterate
from torch import Tensor

from olearn.loop import action_problem
from olearn.registry import make_agent, make_env
from olearn.seeding import replicate_seeds
from olearn.simulator import attach_simulators

__all__ = ["check_agent", "check_env", "space_problem"]

_CPU = torch.device("cpu")
_R = 3   # replicates of the checked batch


class _Problem(Exception):
    pass


def _call(what: str, fn: Any, *args: Any) -> Any:
    """``fn(*args)``, with an exception from plug-in code turned into a reported problem."""
    try:
        return fn(*args)
    except _Problem:
        raise
    except Exception as e:  # noqa: BLE001 - report whatever the plug-in raises
        raise _Problem(f"{what} raised {type(e).__name__}: {e}") from None


# ------------------------------------------------------------------ spaces and values
def _as_space_dtype(x: np.ndarray, dtype: Any) -> np.ndarray:
    """``x`` in the space's dtype when that loses nothing the space cares about.

    The engine stacks floats as float64 and ints as int64; a float32 ``Box`` or an int8
    ``MultiBinary`` should still accept them. Floats round to the float dtype; integers cast
    only when the values survive the cast.
    """
    if dtype is None or x.dtype == dtype:
        return x
    target = np.dtype(dtype)
    if x.dtype.kind == "f" and target.kind == "f":
        return x.astype(target)
    if x.dtype.kind in "biu" and target.kind in "biu":
        y = x.astype(target)
        return y if np.array_equal(y, x) else x
    return x


def space_problem(space: gym.Space, value: Any, where: str = "") -> str | None:
    """Why ``value`` (one replicate's) is not a point of ``space``, or ``None`` when it is.

    Examples
    --------
    >>> box = spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
    >>> space_problem(box, np.array([0.5, 0.0])) is None   # float64 rounds to float32
    True
    >>> space_problem(spaces.Dict({"pos": box}), {"pos": np.array([0.5, 3.0])})
    "value['pos'] has 3 outside the bounds [-1, 1]"
    >>> space_problem(spaces.Dict({"pos": box}), {})
    "value lacks the key 'pos' (the space's keys: ['pos'])"
    """
    at = where or "value"
    if isinstance(space, spaces.Dict):
        if not isinstance(value, dict):
            keys = sorted(space.spaces)
            return f"{at} must be a dict with keys {keys}, got {type(value).__name__}"
        missing = [k for k in space.spaces if k not in value]
        extra = [k for k in value if k not in space.spaces]
        if missing or extra:
            what = (f"lacks the key {missing[0]!r}" if missing
                    else f"has an unexpected key {extra[0]!r}")
            return f"{at} {what} (the space's keys: {sorted(space.spaces)})"
        for k, sub in space.spaces.items():
            problem = space_problem(sub, value[k], f"{at}[{k!r}]")
            if problem:
                return problem
        return None
    if isinstance(space, spaces.Tuple):
        if not isinstance(value, (tuple, list)) or len(value) != len(space.spaces):
            return f"{at} must be a tuple of {len(space.spaces)} values"
        for i, sub in enumerate(space.spaces):
            problem = space_problem(sub, value[i], f"{at}[{i}]")
            if problem:
                return problem
        return None
    x = np.asarray(value)
    shape = getattr(space, "shape", None)
    if shape is not None and x.shape != shape:
        return f"{at} has shape {x.shape} instead of {shape}"
    x = _as_space_dtype(x, getattr(space, "dtype", None))
    if space.contains(x):
        return None
    if type(space) is spaces.Box and x.dtype.kind in "biuf":
        out = (x < space.low) | (x > space.high)
        if out.any():
            pos = tuple(int(j) for j in np.argwhere(out)[0])
            lo, hi = space.low[pos], space.high[pos]
            return f"{at} has {x[pos]:.6g} outside the bounds [{lo:.6g}, {hi:.6g}]"
    if x.size <= 8:
        return f"{at} {x.tolist()} is not in {space}"
    return f"{at} is not in {space}"


def _replicate(x: Any, i: int) -> Any:
    """Replicate ``i`` of a batch (tensors, arrays, dicts and tuples of them) as numpy."""
    if isinstance(x, Tensor):
        return x[i].detach().cpu().numpy()
    if isinstance(x, dict):
        return {k: _replicate(v, i) for k, v in x.items()}
    if isinstance(x, tuple):
        return tuple(_replicate(v, i) for v in x)
    return np.asarray(x)[i]


def _batch_problem(x: Any, r: int, what: str) -> str | None:
    """Whether ``x`` is a tensor (or a dict/tuple of tensors) with leading dimension ``r``."""
    if isinstance(x, dict):
        return next((p for k, v in x.items() if (p := _batch_problem(v, r, f"{what}[{k!r}]"))),
                    None)
    if isinstance(x, tuple):
        return next((p for i, v in enumerate(x) if (p := _batch_problem(v, r, f"{what}[{i}]"))),
                    None)
    if not isinstance(x, Tensor):
        return f"{what} must be a torch tensor (or a dict of them), got {type(x).__name__}"
    if x.shape[:1] != (r,):
        return f"{what} has shape {tuple(x.shape)}; its first dimension must be the {r} replicates"
    return None


def _observation_problem(obs: Any, space: gym.Space, r: int, when: str) -> str | None:
    problem = _batch_problem(obs, r, "the observation")
    if problem:
        return f"{when}: {problem}"
    for i in range(r):
        problem = space_problem(space, _replicate(obs, i), "the observation")
        if problem:
            return f"{when}: {problem} (replicate {i})"
    return None


def _action_rows(space: gym.Space, r: int, rounds: int, seed: int) -> list[Tensor]:
    """``rounds`` batches of ``r`` sampled actions, or a problem if they are not arrays."""
    space.seed(seed)
    first = space.sample()
    if not isinstance(first, (np.ndarray, np.generic, int, float)):
        msg = (f"action space {space} is not supported: olearn passes a round's actions as one "
               "tensor with the replicates first; use Discrete, MultiDiscrete, MultiBinary or "
               "Box (flatten a Dict or Tuple action space into a Box)")
        raise _Problem(msg)
    space.seed(seed)
    return [torch.as_tensor(np.stack([space.sample() for _ in range(r)])) for _ in range(rounds)]


def _spaces_problems(env: Any) -> list[str]:
    """The single spaces are gymnasium spaces; the batched action space samples inside them."""
    bad = [f"{name} must be a gymnasium Space, got {type(getattr(env, name, None)).__name__}"
           for name in ("single_observation_space", "single_action_space")
           if not isinstance(getattr(env, name, None), gym.Space)]
    if bad:
        return bad
    single, batched = env.single_action_space, getattr(env, "action_space", None)
    if not isinstance(batched, gym.Space):
        return [f"action_space must be a gymnasium Space, got {type(batched).__name__}"]
    try:
        batched.seed(0)
        rows = list(iterate(batched, batched.sample()))
    except Exception as e:  # noqa: BLE001 - any failure is the space's problem
        return [f"action_space.sample() failed ({type(e).__name__}: {e})"]
    if len(rows) != env.num_envs:
        return [f"action_space.sample() gave {len(rows)} actions for {env.num_envs} replicates"]
    for i, row in enumerate(rows):
        problem = space_problem(single, row, "the action")
        if problem:
            return [f"action_space.sample() gives replicate {i} an action outside "
                    f"single_action_space: {problem}; make action_space with "
                    "gymnasium.vector.utils.batch_space(single_action_space, num_envs), and "
                    "register batch_space for a custom space"]
    return []


# ------------------------------------------------------------------ tensors kept by the engine
def _named(prefix: str, x: Any) -> dict[str, Any]:
    """``{name: tensor}`` of a tensor or of a dict of tensors (keys in the name)."""
    if isinstance(x, dict):
        return {f"{prefix}[{k!r}]": v for k, v in x.items()}
    return {prefix: x}


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


def _flat(x: Any) -> list[Tensor]:
    """The tensors of an observation (dict keys sorted), each as float64 rows."""
    if isinstance(x, dict):
        return [t for k in sorted(x) for t in _flat(x[k])]
    if isinstance(x, tuple):
        return [t for v in x for t in _flat(v)]
    return [torch.as_tensor(x).double().reshape(len(x), -1)]


def _rollout(env: Any, seeds: list[int], actions: list[Tensor]) -> list[Tensor]:
    obs, _ = _call("reset", lambda: env.reset(seed=seeds))
    out = _flat(obs)
    for t, a in enumerate(actions, 1):
        obs, reward, *_ = _call(f"round {t}: step", env.step, a[: env.num_envs])
        out += [*_flat(obs), reward.double().unsqueeze(1)]
    return out


# ------------------------------------------------------------------ check_env
def check_env(ref: str, kwargs: dict[str, Any] | None = None, *, rounds: int = 20) -> list[str]:
    """Check an environment against olearn's contract.

    Spaces (and that ``action_space.sample()`` lies in ``single_action_space`` row by row),
    ``reset``/``step`` return types and shapes, observations in ``single_observation_space``
    every round, the ``oracle`` and ``feedback`` dicts, tensors not reused across rounds,
    determinism under seeds, a replicate of a batch equal to the same replicate alone, and
    gymnasium's own ``check_env`` on the single-env view of a registered id.

    >>> check_env("olearn/ContextualBandit-v0", {"arms": 3, "dim": 2})
    []
    """
    kwargs = kwargs or {}
    r = _R
    env = make_env(ref, num_envs=r, device=_CPU, kwargs=kwargs)   # bad input raises SpecError
    problems = _spaces_problems(env)
    if problems:
        return problems
    seeds = replicate_seeds(0, "env", range(r))
    try:
        actions = _action_rows(env.single_action_space, r, rounds, 0)
        problems += _steps(env, seeds, actions)
        if problems:
            return problems
        a1, a2 = _rollout(env, seeds, actions), _rollout(env, seeds, actions)
        if any(not torch.equal(x, y) for x, y in zip(a1, a2, strict=True)):
            problems.append("not deterministic: two rollouts with the same seeds and actions "
                            "differ")
        alone = make_env(ref, num_envs=1, device=_CPU, kwargs=kwargs)
        solo = _rollout(alone, seeds[1:2], [a[1:2] for a in actions])
        if any(not torch.allclose(x[1:2], y) for x, y in zip(a1, solo, strict=True)):
            problems.append("replicate 1 of a batch differs from the same replicate run alone")
    except _Problem as p:
        return [*problems, str(p)]
    spec = gym.registry.get(ref.rpartition(":")[2])
    if spec is not None and spec.entry_point is not None:
        from gymnasium.utils.env_checker import check_env as gym_check

        try:
            single = gym.make(spec.id, disable_env_checker=True, **kwargs).unwrapped
            gym_check(single, skip_render_check=True)
        except Exception as e:  # noqa: BLE001 - report whatever gymnasium objects to
            problems.append(f"gymnasium's check_env failed on the single-env view: {e}")
    return problems


def _steps(env: Any, seeds: list[int], actions: list[Tensor]) -> list[str]:
    """Step through ``actions``; the first problem found, in a list."""
    r, obs_space = env.num_envs, env.single_observation_space
    out = _call("reset", lambda: env.reset(seed=seeds))
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
        return ["reset must return (obs, info_dict)"]
    obs = out[0]
    problem = _observation_problem(obs, obs_space, r, "reset")
    if problem:
        return [problem]
    kept = _snapshot(_named("obs", obs))
    for t, a in enumerate(actions, 1):
        out = _call(f"round {t}: step", env.step, a)
        if not (isinstance(out, tuple) and len(out) == 5):
            n = len(out) if isinstance(out, tuple) else type(out).__name__
            return [f"step must return 5 values (obs, reward, terminated, truncated, info), "
                    f"got {n}"]
        obs, reward, term, trunc, info = out
        if not (isinstance(reward, Tensor) and reward.shape == (r,)):
            got = getattr(reward, "shape", type(reward).__name__)
            return [f"round {t}: reward must be a tensor of shape ({r},), got {got}"]
        for name, flag in (("terminated", term), ("truncated", trunc)):
            if not (isinstance(flag, Tensor) and flag.dtype == torch.bool and flag.shape == (r,)):
                got = (f"{flag.dtype} {tuple(flag.shape)}" if isinstance(flag, Tensor)
                       else type(flag).__name__)
                return [f"round {t}: {name} must be a bool tensor of shape ({r},), got {got}"]
        problem = _observation_problem(obs, obs_space, r, f"round {t}")
        if problem:
            return [problem]
        if reward.is_floating_point() and not bool(reward.isfinite().all()):
            i = int((~reward.isfinite()).nonzero()[0, 0])
            return [f"round {t}: the reward of replicate {i} is {float(reward[i])}; rewards must "
                    "be finite"]
        bad = [name for name, x in _named("obs", obs).items() if isinstance(x, Tensor)
               and x.is_floating_point() and not bool(x.isfinite().all())]
        if bad:
            return [f"round {t}: the {bad[0]} holds NaN or inf; observations must be finite"]
        oracle = info.get("oracle") if isinstance(info, dict) else None
        if not isinstance(oracle, dict):
            return ["info must contain an 'oracle' dict with 'regret' or 'loss' + "
                    "'comparator_cum_loss'"]
        if "regret" not in oracle and not {"loss", "comparator_cum_loss"} <= set(oracle):
            return ["info['oracle'] needs 'regret' (this round's increment) or 'loss' and "
                    "'comparator_cum_loss'"]
        feedback = info.get("feedback", {})
        if not isinstance(feedback, dict):
            return ["info['feedback'] must be a dict"]
        changed = _changed(kept)
        if changed:
            return [f"round {t}: step modified the {', '.join(changed)} tensor(s) returned "
                    f"in round {t - 1}; {_KEPT}"]
        kept = _snapshot({**_named("obs", obs), "reward": reward,
                          **{f"oracle[{k!r}]": v for k, v in oracle.items()},
                          **{f"feedback[{k!r}]": v for k, v in feedback.items()}})
    return []


# ------------------------------------------------------------------ check_agent
def check_agent(ref: str, env: str, *, env_kwargs: dict[str, Any] | None = None,
                kwargs: dict[str, Any] | None = None, rounds: int = 30) -> list[str]:
    """Check an agent on an environment: valid actions, info keys, determinism, reset.

    Actions are tested replicate by replicate with the environment's
    ``single_action_space.contains`` (any array space: discrete arms, points of a ball...).

    >>> check_agent("olearn/LinUCB-v0", "olearn/ContextualBandit-v0",
    ...             env_kwargs={"arms": 3, "dim": 2})
    []
    >>> check_agent("olearn/OGD-v0", "olearn/SEA-v0", env_kwargs={"dim": 3})
    []
    """
    from olearn.types import Step

    problems: list[str] = []
    r = _R
    # bad input (unknown id, keyword or value) raises SpecError: it is not a failed check
    envs = [make_env(env, num_envs=r, device=_CPU, kwargs=env_kwargs or {}) for _ in range(2)]
    agent = make_agent(ref, envs[0].single_observation_space, envs[0].single_action_space,
                       **dict(kwargs or {}))
    attach_simulators(envs[0], [agent])   # agents with needs_simulator (olearn.simulator)
    keys = getattr(agent, "info_keys", None)
    space = envs[0].single_action_space

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
            problem = action_problem(action, space, r)
            if problem:
                raise _Problem(f"round {t}: {problem}")
            for i in range(r):
                problem = space_problem(space, _replicate(action, i), "the action")
                if problem:
                    raise _Problem(f"round {t}: {problem} (replicate {i})")
            if not isinstance(info, dict):
                raise _Problem(f"act must return (action, dict), got {type(info).__name__}")
            public = {k for k in info if not str(k).startswith("_")}  # "_": for update only
            if keys is not None and public != set(keys):
                raise _Problem(f"act_info keys {sorted(public)} differ from the declared "
                               f"info_keys {sorted(keys)}")
            for k, v in info.items():
                if not (isinstance(v, Tensor) and v.shape[:1] == (r,)):
                    raise _Problem(f"act_info[{k!r}] must be a tensor with leading dim {r}")
            kept = _snapshot({"action": action, **{f"act_info[{k!r}]": v for k, v in info.items()}})
            nxt, reward, term, trunc, einfo = e.step(action)
            agent.update(Step(t, obs, action, info, reward, einfo.get("feedback", {}), nxt,
                              term | trunc))
            obs = nxt
            taken.append(action.detach().cpu().clone())
        return taken

    try:
        first = rollout(envs[0])
        second = rollout(envs[1])
    except _Problem as p:
        return [str(p)]
    if any(not torch.equal(a, b) for a, b in zip(first, second, strict=True)):
        problems.append("reset with the same seeds does not restore the same behaviour "
                        "(actions differ between two seeded runs)")
    return problems
