"""THE event loop: observe -> act -> step -> update -> record. The only copy in olearn.

One call runs one agent on one batched environment for ``horizon`` rounds. Cumulative
quantities stay on the device; rows are recorded on a schedule and flushed in chunks by a
:class:`olearn.trace.Recorder`. Feedback can be delayed by ``delay`` rounds (a queue of
steps); regret always counts at decision time. The loop never hands ``info["oracle"]`` to
the agent. Gradient mode is left to agents: one that trains a network enables autograd in
``update`` and should act under ``torch.no_grad()``.

What is recorded follows the run's :class:`olearn.trace.TraceSchema` (see :mod:`olearn.trace`
for the rule): :func:`trace_schema` makes it before round 1 from the env's ``oracle_keys``
and each agent's ``info_keys``/``info_dtypes``, probing a throwaway copy of whatever declares
nothing. At a recorded round the loop looks each recorded key up (``None`` when absent: a
null) and checks, with one set comparison per dict, that no per-replicate entry escapes the
schema.
"""

from __future__ import annotations

import copy
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from olearn.adapters import PerReplicateAgent, PerReplicateEnv
from olearn.errors import AgentError, EnvError
from olearn.trace import Recorder, TraceSchema, dtype_name, fits
from olearn.types import Step

__all__ = ["LoopState", "action_problem", "declared_info_keys", "declared_oracle_keys",
           "run_loop", "trace_schema"]


@dataclass
class LoopState:
    """Everything the loop carries between rounds; pickled into checkpoints."""

    t: int                      # rounds completed
    obs: Any
    cum_regret: Tensor          # (R,) float64: sum of per-round regret increments
    cum_loss: Tensor            # (R,) float64: sum of oracle losses (loss-based regret)
    cum_reward: Tensor          # (R,) float64
    queue: deque = field(default_factory=deque)
    seconds: float = 0.0        # wall time spent in the loop so far
    cum_obs: Tensor | None = None   # (R,) float64: sum of every observation entry (finiteness)
    checked_t: int = 0          # rounds whose observations were found finite

    @classmethod
    def start(cls, obs: Any, replicates: int, device: torch.device) -> LoopState:
        z = torch.zeros(replicates, dtype=torch.float64, device=device)
        return cls(0, obs, z.clone(), z.clone(), z.clone())


def _obs_sum(obs: Any) -> Tensor | None:
    """Per-replicate float64 sum of every floating entry of an observation (NaN/inf survive)."""
    if isinstance(obs, Tensor):
        return obs.flatten(1).sum(1, dtype=torch.float64) if obs.is_floating_point() else None
    if isinstance(obs, dict):
        sums = [s for s in map(_obs_sum, obs.values()) if s is not None]
        return torch.stack(sums).sum(0) if sums else None
    return None


def action_problem(action: Any, space: Any, replicates: int) -> str | None:
    """Describe why ``action`` is not a valid batch of actions, or ``None``."""
    if not isinstance(action, Tensor):
        return f"act must return a torch.Tensor of actions, got {type(action).__name__}"
    if action.shape[:1] != (replicates,):
        return (f"act returned actions of shape {tuple(action.shape)}, "
                f"expected leading dim {replicates}")
    n = getattr(space, "n", None)
    if n is not None:
        if action.is_floating_point() or action.dim() != 1:
            return (f"act must return integer actions of shape ({replicates},), "
                    f"got {action.dtype} {tuple(action.shape)}")
        bad = ((action < 0) | (action >= n)).nonzero()
        if len(bad):
            r = int(bad[0, 0])
            return f"action {int(action[r])} of replicate {r} is outside Discrete({n})"
    return None


def _per_replicate(v: Any, replicates: int) -> bool:
    return isinstance(v, Tensor) and v.shape == (replicates,)


def _observed(d: Mapping[str, Any], replicates: int) -> dict[str, str | None]:
    """The trace dtype of each entry of ``d`` holding one value per replicate (others, and
    private ``_`` keys: None)."""
    return {k: dtype_name(v) if _per_replicate(v, replicates) and not k.startswith("_") else None
            for k, v in d.items()}


def declared_oracle_keys(env: Any) -> dict[str, str] | None:
    """The env's ``oracle_keys`` (key -> trace dtype), or ``None`` if it declares none.

    A plain ``gymnasium.Env`` batched by :class:`olearn.adapters.PerReplicateEnv` may declare
    them on its (unwrapped) class.
    """
    if isinstance(env, PerReplicateEnv):
        env = env.envs[0].unwrapped
    keys = getattr(env, "oracle_keys", None)
    return None if keys is None else dict(keys)


def declared_info_keys(agent: Any) -> dict[str, str | None] | None:
    """The agent's ``act_info`` keys (key -> trace dtype, None: not recorded), or ``None``.

    From ``info_keys`` (float64 each) and ``info_dtypes`` (the exceptions); a single-replicate
    agent batched by :class:`olearn.adapters.PerReplicateAgent` may declare them on its class.
    """
    if isinstance(agent, PerReplicateAgent):
        agent = agent.inner
    keys = getattr(agent, "info_keys", None)
    if keys is None:
        return None
    dtypes = getattr(agent, "info_dtypes", None) or {}
    return {k: dtypes.get(k, "float64") for k in keys}


def trace_schema(env: Any, agents: Mapping[str, Any], *, env_seeds: list[int],
                 agent_seeds: Mapping[str, list[int]], device: torch.device) -> TraceSchema:
    """The run's trace schema, from the declarations of ``env`` and ``agents`` (by label).

    What declares nothing is probed: ``env`` (a fresh environment, used for nothing else) is
    reset with ``env_seeds``, a deep copy of each undeclared agent is reset with its
    ``agent_seeds`` and acts once, and, if the env is undeclared, the env steps once with the
    first such action. The agents themselves and the global random states are left untouched.
    """
    replicates = len(env_seeds)
    oracle: Mapping[str, str | None] | None = declared_oracle_keys(env)
    infos = {label: declared_info_keys(a) for label, a in agents.items()}
    probe = [label for label, keys in infos.items() if keys is None]
    if oracle is None and not probe and agents:
        probe = [next(iter(agents))]
    if probe:
        with _global_rng_kept(device):
            obs, _ = env.reset(seed=env_seeds)
            action = None
            for label in probe:
                try:
                    twin = copy.deepcopy(agents[label])
                except Exception as e:  # noqa: BLE001 - any copy failure means: declare instead
                    msg = (f"cannot copy agent {label!r} to find its act_info keys before round "
                           f"1 ({type(e).__name__}: {e}); declare them: info_keys = (...) on "
                           "its class")
                    raise AgentError(msg) from None
                twin.reset(seeds=agent_seeds[label], device=device)
                act, info = twin.act(obs)
                if not isinstance(info, dict):
                    raise AgentError(f"act must return (action, dict), got {type(info).__name__}")
                if infos[label] is None:
                    infos[label] = _observed(info, replicates)
                action = act if action is None else action
            if oracle is None:
                problem = action_problem(action, env.single_action_space, replicates)
                if problem:
                    raise AgentError(f"round 1: {problem}")
                info = env.step(action)[4]
                oracle = _observed(info.get("oracle", {}) if isinstance(info, dict) else {},
                                   replicates)
    return TraceSchema.build(oracle or {}, {k: v or {} for k, v in infos.items()},
                             discrete=isinstance(env.single_action_space, gym.spaces.Discrete))


class _global_rng_kept:
    """Restore Python's, numpy's and torch's global random states on exit."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def __enter__(self) -> None:
        self.states = (random.getstate(), np.random.get_state(), torch.get_rng_state(),
                       torch.cuda.get_rng_state_all() if self.cuda else None)

    def __exit__(self, *exc: object) -> None:
        py, npy, cpu, cuda = self.states
        random.setstate(py)
        np.random.set_state(npy)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def run_loop(env: Any, agent: Any, state: LoopState, *, horizon: int, record_at: np.ndarray,
             recorder: Recorder, replicate_ids: list[int], delay: int = 0,
             on_flush: Callable[[LoopState], None] | None = None,
             flush_seconds: float = 60.0, progress: Callable[[int], None] | None = None,
             schema: TraceSchema | None = None, label: str = "agent") -> LoopState:
    """Run rounds ``state.t + 1 .. horizon``; returns the final state.

    ``on_flush(state)`` is called after every flushed chunk (the runner checkpoints there);
    a chunk is also flushed when ``flush_seconds`` of wall time passed since the last one.
    Rows follow ``schema`` (the run's; this agent's ``act_info`` keys are
    ``schema.act_info[label]``); without one, the schema is made at the first recorded round
    from the declarations of ``env`` and ``agent``, or from the values of that round for what
    declares nothing.
    """
    replicates = len(replicate_ids)
    space = env.single_action_space
    rec_idx = int(np.searchsorted(record_at, state.t, side="right"))
    points: list[int] = record_at.tolist()  # Python ints: cheaper to compare each round
    next_rec = points[rec_idx] if rec_idx < len(points) else horizon + 1
    recorder.last_t = points[rec_idx - 1] if rec_idx else 0
    last_flush = time.monotonic()
    start = time.monotonic() - state.seconds
    loss_based: bool | None = None
    obs = state.obs
    first = state.t + 1
    keys: tuple[tuple[str, ...], tuple[str, ...]] | None = None  # recorded oracle, act_info keys
    known: tuple[set[str], set[str]] = (set(), set())   # keys that need no column (or have one)
    with_action = False
    # observations with floating entries, from an env that does not vouch for them
    check_obs = not getattr(env, "finite_observations", False) and _obs_sum(obs) is not None
    if check_obs and state.t == 0 and state.cum_obs is None:
        state.cum_obs = _obs_sum(obs)

    def flush() -> None:
        nonlocal last_flush
        _check_finite_obs(state, replicate_ids)
        _check_finite(recorder, replicate_ids)
        recorder.flush()
        last_flush = time.monotonic()
        state.seconds = last_flush - start
        if on_flush is not None:
            on_flush(state)

    for t in range(state.t + 1, horizon + 1):
        action, act_info = agent.act(obs)
        if t == first or t == horizon:
            problem = action_problem(action, space, replicates)
            if problem:
                raise AgentError(f"round {t}: {problem}")
        try:
            next_obs, reward, term, trunc, info = env.step(action)
        except (IndexError, RuntimeError, ValueError) as e:
            problem = action_problem(action, space, replicates)
            if problem:
                raise AgentError(f"round {t}: {problem}") from None
            if isinstance(e, ValueError):
                raise EnvError(f"round {t}: {e}") from None
            raise
        oracle = info.get("oracle", {})
        if loss_based is None:
            loss_based = _regret_kind(oracle, t)
        # out of place: every round's cumulative tensors are new, so the recorder may keep them
        if loss_based:
            state.cum_loss = state.cum_loss + oracle["loss"]
            regret = state.cum_loss - oracle["comparator_cum_loss"]
        else:
            regret = state.cum_regret = state.cum_regret + oracle["regret"]
        state.cum_reward = state.cum_reward + reward
        step = Step(t, obs, action, act_info, reward, info.get("feedback", {}), next_obs,
                    term if term is trunc else term | trunc)
        if delay:
            state.queue.append(step)
            if len(state.queue) > delay:
                agent.update(state.queue.popleft())
        else:
            agent.update(step)
        obs = state.obs = next_obs
        state.t = t
        if check_obs:
            s = _obs_sum(obs)
            # check_obs: the observations have floating entries, so s is a tensor every round
            state.cum_obs = s if state.cum_obs is None else state.cum_obs + s  # type: ignore[operator]
        if t == next_rec:
            if keys is None:
                if schema is None:
                    schema = _first_round_schema(env, agent, oracle, act_info, replicates, label)
                keys = (schema.oracle, schema.act_info.get(label, ()))
                known = ({"regret", *keys[0], *(declared_oracle_keys(env) or ())},
                         {*keys[1], *(declared_info_keys(agent) or ())})
                with_action = schema.action
                _check_values(schema, keys, oracle, act_info, replicates, t, label)
                recorder.columns(["regret", "reward", "cum_reward", *(["action"] * with_action),
                                  *keys[0], *keys[1]], schema.columns)
            if not (oracle.keys() <= known[0] and act_info.keys() <= known[1]):
                _unknown_keys(oracle, act_info, known, replicates, t, label)
            head = ((regret, reward, state.cum_reward, action) if with_action else
                    (regret, reward, state.cum_reward))
            recorder.record(t, (*head, *[oracle.get(k) for k in keys[0]],
                                *[act_info.get(k) for k in keys[1]]))
            rec_idx += 1
            next_rec = points[rec_idx] if rec_idx < len(points) else horizon + 1
            if recorder.full:
                flush()
        if t & 255 == 0:
            if progress is not None:
                progress(t)
            if time.monotonic() - last_flush >= flush_seconds:
                flush()
    flush()
    if progress is not None:
        progress(horizon)
    return state


def _first_round_schema(env: Any, agent: Any, oracle: dict[str, Any], act_info: dict[str, Any],
                        replicates: int, label: str) -> TraceSchema:
    """A one-agent schema from the declarations, or else the first recorded round's values."""
    oracle_keys = declared_oracle_keys(env)
    info_keys = declared_info_keys(agent)
    return TraceSchema.build(
        _observed(oracle, replicates) if oracle_keys is None else oracle_keys,
        {label: _observed(act_info, replicates) if info_keys is None else info_keys},
        discrete=isinstance(env.single_action_space, gym.spaces.Discrete))


def _check_values(schema: TraceSchema, keys: tuple[tuple[str, ...], tuple[str, ...]],
                  oracle: dict[str, Any], act_info: dict[str, Any], replicates: int, t: int,
                  label: str) -> None:
    """Refuse a recorded value that is not one value per replicate or does not fit its column."""
    for d, names, where in ((oracle, keys[0], "info['oracle']"), (act_info, keys[1], "act_info")):
        for k in names:
            v = d.get(k)
            if v is None:
                continue
            column = schema.columns[k]
            if not _per_replicate(v, replicates):
                shape = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
                problem = f"holds {shape}, not a tensor of shape ({replicates},)"
            elif not fits(dtype_name(v), column):
                problem = f"holds {v.dtype} values, which the {column} column cannot store"
            else:
                continue
            if d is oracle:
                raise EnvError(f"round {t}: {where}[{k!r}] {problem}; fix the value or its "
                               "dtype in the env's oracle_keys (or drop it there)")
            raise AgentError(f"round {t}: agent {label!r}'s {where}[{k!r}] {problem}; fix the "
                             f"value or set info_dtypes = {{{k!r}: ...}} on its class (None: "
                             "not recorded)")


def _unknown_keys(oracle: dict[str, Any], act_info: dict[str, Any],
                  known: tuple[set[str], set[str]], replicates: int, t: int, label: str) -> None:
    """Refuse a per-replicate entry outside the schema; remember the others (not recorded)."""
    for d, seen in ((oracle, known[0]), (act_info, known[1])):
        for k in d.keys() - seen:
            if k.startswith("_") or not _per_replicate(d[k], replicates):
                seen.add(k)
            elif d is oracle:
                raise EnvError(f"round {t}: info['oracle'][{k!r}] is not in the run's trace "
                               "schema and would be lost; declare it in the env class's "
                               f"oracle_keys, e.g. {{{k!r}: {dtype_name(d[k])!r}}} (a resumed "
                               "run keeps its schema)")
            else:
                raise AgentError(f"round {t}: agent {label!r}'s act_info[{k!r}] is not in the "
                                 f"run's trace schema and would be lost; add {k!r} to the agent "
                                 "class's info_keys (a resumed run keeps its schema)")


def _regret_kind(oracle: dict[str, Any], t: int) -> bool:
    if "regret" in oracle:
        return False
    if "loss" in oracle and "comparator_cum_loss" in oracle:
        return True
    msg = (f"round {t}: the environment's info['oracle'] has neither 'regret' nor 'loss' + "
           "'comparator_cum_loss', so olearn cannot compute regret; add one of them")
    raise EnvError(msg)


def _check_finite_obs(state: LoopState, replicate_ids: list[int]) -> None:
    """Refuse observations holding NaN/inf since the last check (a cumulative sum keeps them)."""
    cum = getattr(state, "cum_obs", None)
    if cum is None or bool(cum.isfinite().all()):
        state.checked_t = state.t
        return
    i = int((~cum.isfinite()).nonzero()[0, 0])
    first = getattr(state, "checked_t", 0) + 1
    where = f"at round {state.t}" if first == state.t else f"between rounds {first} and {state.t}"
    msg = (f"the environment returned a non-finite observation (NaN/inf) {where}, replicate "
           f"{replicate_ids[i]}; agents cannot learn from it")
    raise EnvError(msg)


def _check_finite(recorder: Recorder, replicate_ids: list[int]) -> None:
    """Refuse a chunk whose recorded regret or cumulative reward is NaN/inf.

    Both are cumulative, so a non-finite value from the environment stays visible until the
    next recorded round: checking once per chunk costs nothing per round.
    """
    hit = recorder.first_nonfinite(("regret", "cum_reward"))
    if hit is None:
        return
    before, t, i = hit
    where = (f"at round {t}" if before == t - 1 else
             f"between rounds {before + 1} and {t} (record every round to pinpoint it)")
    msg = (f"the environment returned a non-finite reward or regret (NaN/inf) {where}, "
           f"replicate {replicate_ids[i]}")
    raise EnvError(msg)
