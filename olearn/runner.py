"""Run a spec: build the env and agents, run the loop, write spec, meta, trace and agents.

Crash safety: trace parts are atomic; after a flushed chunk, at most every
``checkpoint_seconds``, the env, agent and loop state are pickled to
``OUT/checkpoints/<label>.pt`` (atomically). ``resume=True`` truncates parts written after the
checkpoint and continues; the finished trace equals an uninterrupted run's.

Trained agents: an agent that finishes its horizon saves its state to ``OUT/agents/<label>.pt``
(atomically; skipped with a warning if it cannot be saved), for held-out evaluation or a warm
start: :func:`olearn.load_agent` reads it back on the CPU. ``save_agents=False``
(``--no-save-agents``) skips that, e.g. for very large neural runs.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import pickle
import platform
import shutil
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import torch

from olearn import rundir
from olearn.adapters import Frozen
from olearn.device import resolve_device
from olearn.errors import OlearnError, RunFailedError, SpecError
from olearn.loop import LoopState, run_loop, trace_schema
from olearn.memory import check_fits
from olearn.progress import RunProgress
from olearn.registry import make_agent, make_env, plugin_failure, where
from olearn.saved import check_init, load_saved, save_agent
from olearn.seeding import replicate_seeds, stream_kind
from olearn.simulator import attach_simulators
from olearn.spec import RunSpec
from olearn.trace import Recorder, TraceSchema, TraceWriter, load, schedule

__all__ = ["RunResult", "simulate"]

_ROWS_PER_PART = 1 << 18  # recorded rows (replicates × rounds) per Parquet part


@dataclass
class RunResult:
    """Where a run went and what it produced: ``trace`` (a Polars DataFrame), ``summary``
    (final regret per agent), ``plot(ax=None)`` (a matplotlib Figure)."""

    out: Path
    spec: RunSpec
    meta: dict[str, Any]

    def load(self) -> pl.LazyFrame:
        return load(self.out)

    @property
    def trace(self) -> pl.DataFrame:
        """The whole trace in memory (``load()`` for a lazy scan of a large one)."""
        return self.load().collect()

    @property
    def summary(self) -> pl.DataFrame:
        """Final regret per agent: mean, Student-t 95% half width ``ci95``, rounds/s."""
        from olearn.plot import summary

        return summary(self.out)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """The regret curves as a matplotlib Figure (into ``ax`` if given); keywords as
        :func:`olearn.plot.regret_figure` (``normalize``, ``band``, ``exclude``, ``slopes``...)."""
        from olearn.plot import regret_figure

        return regret_figure([self.out], ax=ax, **kwargs)

    def final_regret(self) -> dict[str, float]:
        """Mean cumulative regret at the last round, per agent label."""
        df = (self.load().filter(pl.col("t") == self.spec.horizon)
              .group_by("agent").agg(pl.col("regret").mean()).collect())
        return dict(zip(df["agent"].to_list(), df["regret"].to_list(), strict=True))


def default_out(spec: RunSpec) -> Path:
    return Path("runs") / "out" / f"{spec.name}-{spec.digest()[:8]}"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_meta(out: Path, meta: dict[str, Any]) -> None:
    _atomic_write(out / "meta.json", json.dumps(meta, indent=2))


def _git_sha() -> str | None:
    try:
        import subprocess

        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _versions() -> dict[str, str]:
    import gymnasium
    import numpy

    from olearn import __version__

    return {"olearn": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "polars": pl.__version__,
            "gymnasium": gymnasium.__version__}


def build(spec: RunSpec, device: torch.device) -> dict[str, Any]:
    """Build the env and every agent of ``spec`` (checking every kwarg) before any round runs.

    Returns the agents by label; a typo in the last agent's kwargs fails here, not after the
    first agent has run its whole horizon.
    """
    env = make_env(spec.env.id, num_envs=len(spec.replicate_ids), device=device,
                   kwargs=spec.env.kwargs)
    obs_space, act_space = env.single_observation_space, env.single_action_space
    agents = {e.label: make_agent(e.id, obs_space, act_space, label=e.label, **e.kwargs)
              for e in spec.agents}
    attach_simulators(env, agents.values())   # agents with needs_simulator (olearn.simulator)
    return agents


def simulate(spec: RunSpec | str | Path | dict[str, Any], *, out: str | Path | None = None,
             force: bool = False, resume: bool = False, quiet: bool = False,
             save_agents: bool = True) -> RunResult:
    """Run every agent of ``spec`` and write ``OUT/{spec.toml, meta.json, trace/, agents/}``
    (``agents/`` only with ``save_agents``, the default).

    ``spec`` is a :class:`RunSpec`, a dict or a TOML path. Without ``out`` the run goes to a
    new temporary directory (``result.out``), so a notebook cell can be run again as it is;
    ``olearn simulate`` on the command line uses ``runs/out/<name>-<digest>`` instead.

    Examples
    --------
    >>> import olearn
    >>> spec = olearn.RunSpec.from_dict({"name": "doc", "horizon": 100, "replicates": 2,
    ...     "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 3, "dim": 4}},
    ...     "agents": [{"label": "ts", "id": "olearn/LinTS-v0"}]})
    >>> import tempfile
    >>> result = olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True)
    >>> result.meta["status"]
    'complete'
    """
    if isinstance(spec, dict):
        spec = RunSpec.from_dict(spec)
    elif not isinstance(spec, RunSpec):
        spec = RunSpec.from_toml(spec)
    device = resolve_device(spec.device)
    if out is None:
        import tempfile

        out = Path(tempfile.mkdtemp(prefix=f"olearn-{spec.name}-")) / "run"
    out = Path(out)
    meta, existed, lock = rundir.prepare(out, spec.digest(), force=force, resume=resume)
    resuming = meta is not None
    if meta is None:
        meta = {"name": spec.name, "digest": spec.digest(), "status": "running",
                "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                "device": str(device), "versions": _versions(), "git_sha": _git_sha(),
                "seed": spec.seed, "replicates": spec.replicate_ids, "agents": {}}
        if device.type == "cuda":
            meta["device_name"] = torch.cuda.get_device_name(device)
        _atomic_write(out / "spec.toml", spec.to_toml())
    meta["status"] = "running"
    meta.pop("error", None)
    _write_meta(out, meta)
    progress = RunProgress(not quiet)
    cpu_threads = spec.threads if device.type == "cpu" else 0
    kernel_threads = spec.kernel_threads if device.type == "cpu" else 0
    threads = _cpu_threads(cpu_threads, kernel_threads)   # caps; each kernel picks under it
    started: list[str] = []               # labels of agents that have played a round
    try:
        with _sigterm_as_interrupt(), stream_kind(spec.rng):   # components take it at reset
            try:
                agents = build(spec, device)
                check_fits(spec.env.id, spec.env.kwargs, list(agents.values()),
                           len(spec.replicate_ids), device)
                schema = _schema(spec, meta, agents, device)
                inits = _warm_starts(spec, agents)
            except (MemoryError, torch.OutOfMemoryError) as e:
                raise _too_big(spec, e) from None
            _write_meta(out, meta)
            for entry in spec.agents:
                if meta["agents"].get(entry.label, {}).get("status") == "complete":
                    continue
                meta["agents"][entry.label] = _run_agent(spec, entry, agents[entry.label], out,
                                                         device, progress, schema, started,
                                                         inits.get(entry.label), save_agents)
                _write_meta(out, meta)
    except BaseException as e:
        raise _failed(e, out, meta, started=bool(started) or resuming, existed=existed,
                      label=started[-1] if started else None) from None
    finally:
        _cpu_threads(*threads)
        lock.release()
    meta["status"] = "complete"
    meta["finished"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    _write_meta(out, meta)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    return RunResult(out, spec, meta)


def _failed(e: BaseException, out: Path, meta: dict[str, Any], *, started: bool, existed: bool,
            label: str | None) -> BaseException:
    """Record how the run ended and return the exception to raise.

    Before any round (bad spec, kwargs, a plug-in that raises when built or reset, too many
    replicates) nothing is left behind and the error is bad input (exit 2). After the first
    round: Ctrl-C or SIGTERM marks the run ``interrupted`` (resumable); anything else marks it
    ``failed`` and is a failed run (exit 1): olearn's own errors (a NaN reward, an invalid
    action) already name the round and replicate; any other exception is wrapped in a
    :class:`RunFailedError` saying where it was raised, its traceback in ``OUT/error.log``.
    """
    if not started:
        rundir.discard(out, existed=existed)
        if isinstance(e, (OlearnError, KeyboardInterrupt)):
            return e
        return plugin_failure("the run failed before its first round", e)
    if isinstance(e, KeyboardInterrupt):
        meta["status"] = "interrupted"
        _write_meta(out, meta)
        return e
    meta["status"] = "failed"
    meta["error"] = f"{type(e).__name__}: {e}"
    _write_meta(out, meta)
    if isinstance(e, OlearnError):   # already says which round and replicate went wrong
        e.exit_code = 1
        return e
    log = out / "error.log"
    log.write_text("".join(traceback.format_exception(e)))
    at = where(e)
    who = f"agent {label}" if label else "the run"
    msg = f"{who} failed: {type(e).__name__}: {e}" + (f" (at {at})" if at else "")
    failure = RunFailedError(f"{msg}; traceback in {log}")
    failure.__cause__ = e
    return failure


def _too_big(spec: RunSpec, e: BaseException) -> SpecError:
    return SpecError(f"{spec.replicates} replicates need more memory than this machine has "
                     f"({type(e).__name__} while building the run); lower --replicates, or run "
                     "the replicates in parts with --first-replicate and --replicates")


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt while a run is in progress (main thread only)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _cpu_threads(torch_threads: int, kernel_threads: int | None = None) -> tuple[int, int]:
    """Set torch's threads and the compiled kernels' cap (0: leave as is); return the old ones
    (0 for one left as is), so that ``_cpu_threads(*old)`` restores exactly what was changed.

    With small per-round operations a second torch thread only adds synchronisation, hence a
    default of 1. The same setting caps numba's threads unless ``kernel_threads`` says
    otherwise (a spec's ``kernel_threads``: e.g. ``threads = 1, kernel_threads = 2`` runs the
    compiled replicate-parallel kernels on two cores without torch's OpenMP threads spinning
    beside them); each compiled backend decides how many of them it uses (e.g. one for few
    replicates). Results never depend on either (a spec's digest leaves them out).
    """
    old_torch, old_kernels = torch.get_num_threads(), 0
    if torch_threads:
        kernel_threads = kernel_threads or torch_threads
    if kernel_threads:   # numba only where the kernels may run: a GPU run never imports it
        import numba

        old_kernels = numba.get_num_threads()
        cap = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined,unused-ignore]
        numba.set_num_threads(min(kernel_threads, cap))
    if torch_threads:    # after numba's: setting numba's count resets torch's OpenMP threads
        torch.set_num_threads(torch_threads)
    # what was changed, to restore; 0 for what was left alone (a restore must not set it)
    return (old_torch if torch_threads else 0), old_kernels


def _schema(spec: RunSpec, meta: dict[str, Any], agents: dict[str, Any],
            device: torch.device) -> TraceSchema:
    """The run's trace schema: ``meta["trace_schema"]`` (a resumed run), or made and put there."""
    if "trace_schema" in meta:
        return TraceSchema.from_json(meta["trace_schema"])
    ids = spec.replicate_ids
    env = make_env(spec.env.id, num_envs=len(ids), device=device, kwargs=spec.env.kwargs)
    schema = trace_schema(env, agents, env_seeds=replicate_seeds(spec.seed, "env", ids),
                          agent_seeds={e.label: replicate_seeds(spec.seed, f"agent:{e.label}", ids)
                                       for e in spec.agents}, device=device)
    meta["trace_schema"] = schema.to_json()
    return schema


def _warm_starts(spec: RunSpec, agents: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The saved states the ``init`` entries name, each checked against its agent before any
    round runs (id, spaces, replicates)."""
    records = {}
    for entry in spec.agents:
        if entry.init is None:
            continue
        agent = agents[entry.label]
        record = load_saved(entry.init, entry.label)
        spaces = (agent.observation_space, agent.action_space)
        check_init(record, entry, spaces, len(spec.replicate_ids), entry.init)
        records[entry.label] = record
    return records


def _run_agent(spec: RunSpec, entry: Any, agent: Any, out: Path, device: torch.device,
               progress: RunProgress, schema: TraceSchema, started: list[str],
               init: dict[str, Any] | None = None, save: bool = True) -> dict[str, Any]:
    ids = spec.replicate_ids
    env = make_env(spec.env.id, num_envs=len(ids), device=device, kwargs=spec.env.kwargs)
    ckpt = out / "checkpoints" / f"{entry.label}.pt"
    writer = TraceWriter(out / "trace" / f"agent={entry.label}")
    if ckpt.is_file():
        saved = torch.load(ckpt, weights_only=False, map_location=device)
        env, agent, state, writer.next_part = (saved["env"], saved["agent"], saved["state"],
                                               saved["part"])
    else:
        try:
            obs, _ = env.reset(seed=replicate_seeds(spec.seed, "env", ids))
            attach_simulators(env, [agent])   # the env that runs, reset: its dynamics exist
            agent.reset(seeds=replicate_seeds(spec.seed, f"agent:{entry.label}", ids),
                        device=device)
            if init is not None:   # a warm start: the saved state, its random streams too
                from olearn.agent_state import load_state

                load_state(agent, init["state"])
        except (MemoryError, torch.OutOfMemoryError) as e:
            raise _too_big(spec, e) from None
        state = LoopState.start(obs, len(ids), device)
    writer.truncate()
    rec = spec.record
    record_at = schedule(spec.horizon, every=rec.every, log=rec.log, at=rec.at)
    rows = rec.chunk or max(1, _ROWS_PER_PART // len(ids))
    recorder = Recorder(writer, ids, rows=min(rows, len(record_at)))
    last_ckpt: list[float | None] = [time.monotonic()]  # None once a plug-in proved unpicklable

    def on_flush(s: LoopState) -> None:
        if (last_ckpt[0] is None or s.t >= spec.horizon
                or time.monotonic() - last_ckpt[0] < spec.checkpoint_seconds):
            return
        ckpt.parent.mkdir(exist_ok=True)
        writer.wait()  # the checkpoint vouches for every part numbered below writer.next_part
        tmp = ckpt.with_name(ckpt.name + ".tmp")
        try:
            torch.save({"env": env, "agent": agent, "state": s, "part": writer.next_part}, tmp)
        except (TypeError, AttributeError, RuntimeError, pickle.PicklingError) as e:
            print(f"warning: cannot checkpoint agent {entry.label} (--resume will restart it): {e}",
                  file=sys.stderr)
            tmp.unlink(missing_ok=True)
            last_ckpt[0] = None
            return
        os.replace(tmp, ckpt)
        last_ckpt[0] = time.monotonic()

    tick = progress.start(entry.label, spec.horizon, state.t)
    started.append(entry.label)
    try:
        player = agent if entry.learn else Frozen(agent)
        state = run_loop(env, player, state, horizon=spec.horizon, record_at=record_at,
                         recorder=recorder, replicate_ids=ids, delay=spec.delay,
                         on_flush=on_flush,
                         flush_seconds=min(60.0, spec.checkpoint_seconds or 60.0),
                         progress=tick, schema=schema, label=entry.label)
    finally:
        progress.stop()
        writer.close()
    if save:   # (saved before the checkpoint goes: a crash here resumes)
        save_agent(out, entry, agent, (env.single_observation_space, env.single_action_space))
    ckpt.unlink(missing_ok=True)
    rate = spec.horizon / state.seconds if state.seconds > 0 else float("inf")
    return {"status": "complete", "seconds": round(state.seconds, 4),
            "rounds_per_s": round(rate, 1), "replicate_rounds_per_s": round(rate * len(ids), 1)}
