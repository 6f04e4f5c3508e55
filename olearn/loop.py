"""THE event loop: observe -> act -> step -> update -> record. The only copy in olearn.

One call runs one agent on one batched environment for ``horizon`` rounds. Cumulative
quantities stay on the device; rows are recorded on a schedule and flushed in chunks by a
:class:`olearn.trace.Recorder`. Feedback can be delayed by ``delay`` rounds (a queue of
steps); regret always counts at decision time. The loop never hands ``info["oracle"]`` to
the agent. Gradient mode is left to agents: one that trains a network enables autograd in
``update`` and should act under ``torch.no_grad()``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from olearn.errors import AgentError, EnvError
from olearn.trace import Recorder
from olearn.types import Step

__all__ = ["LoopState", "action_problem", "run_loop"]


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

    @classmethod
    def start(cls, obs: Any, replicates: int, device: torch.device) -> LoopState:
        z = torch.zeros(replicates, dtype=torch.float64, device=device)
        return cls(0, obs, z.clone(), z.clone(), z.clone())


def action_problem(action: Any, space: Any, replicates: int) -> str | None:
    """Describe why ``action`` is not a valid batch of actions, or ``None``."""
    if not isinstance(action, Tensor):
        return f"act must return a torch.Tensor of actions, got {type(action).__name__}"
    if action.shape[:1] != (replicates,):
        return f"act returned actions of shape {tuple(action.shape)}, expected leading dim {replicates}"
    n = getattr(space, "n", None)
    if n is not None:
        if action.is_floating_point() or action.dim() != 1:
            return f"act must return integer actions of shape ({replicates},), got {action.dtype} {tuple(action.shape)}"
        bad = ((action < 0) | (action >= n)).nonzero()
        if len(bad):
            r = int(bad[0, 0])
            return f"action {int(action[r])} of replicate {r} is outside Discrete({n})"
    return None


def _scalar_keys(d: dict[str, Any], replicates: int, taken: set[str]) -> list[str]:
    """Keys of ``d`` holding one scalar per replicate: these become trace columns."""
    return [k for k, v in d.items()
            if isinstance(v, Tensor) and v.shape == (replicates,) and k not in taken]


def run_loop(env: Any, agent: Any, state: LoopState, *, horizon: int, record_at: np.ndarray,
             recorder: Recorder, replicate_ids: list[int], delay: int = 0,
             on_flush: Callable[[LoopState], None] | None = None,
             flush_seconds: float = 60.0, progress: Callable[[int], None] | None = None) -> LoopState:
    """Run rounds ``state.t + 1 .. horizon``; returns the final state.

    ``on_flush(state)`` is called after every flushed chunk (the runner checkpoints there);
    a chunk is also flushed when ``flush_seconds`` of wall time passed since the last one.
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
    taken = {"regret", "reward", "cum_reward"}
    first = state.t + 1
    columns: tuple[list[str], list[str]] | None = None

    def flush() -> None:
        nonlocal last_flush
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
        if t == next_rec:
            if columns is None:  # which oracle and act_info entries are per-replicate scalars
                from_oracle = _scalar_keys(oracle, replicates, taken)
                columns = (from_oracle, _scalar_keys(act_info, replicates, taken | set(from_oracle)))
                recorder.columns(["regret", "reward", "cum_reward", *columns[0], *columns[1]])
            recorder.record(t, (regret, reward, state.cum_reward, *[oracle[k] for k in columns[0]],
                                *[act_info[k] for k in columns[1]]))
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


def _regret_kind(oracle: dict[str, Any], t: int) -> bool:
    if "regret" in oracle:
        return False
    if "loss" in oracle and "comparator_cum_loss" in oracle:
        return True
    msg = (f"round {t}: the environment's info['oracle'] has neither 'regret' nor 'loss' + "
           "'comparator_cum_loss', so olearn cannot compute regret; add one of them")
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
