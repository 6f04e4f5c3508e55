"""Where sweep tasks run: a local process pool, or Ray.

Both take the same payloads (a task's run spec, its run directory, its log, its thread count)
and call :func:`olearn.sweep.task.run_task` where the work is; both report each task's small
result dict through ``on_done`` as soon as it finishes, so a driver killed mid-sweep loses
nothing finished. A worker that dies (a crash, ``os._exit``, the OOM killer) fails only the
task it was running, with the exit code in the error line; the others go on.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import types
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from olearn.errors import UsageError

__all__ = ["run_local", "run_ray", "start_local", "task_modules"]

Payload = dict[str, Any]
OnDone = Callable[[Payload, dict[str, Any]], None]


def failure(payload: Payload, error: str) -> dict[str, Any]:
    return {"task": os.path.basename(payload["out"]), "status": "failed", "error": error,
            "seconds": None, "summary": None}


# ---------------------------------------------------------------------------- local pool
@dataclass
class _Worker:
    process: Any
    conn: Any
    payload: Payload | None = None


def run_local(payloads: list[Payload], *, workers: int, threads: int,
              on_start: Callable[[Payload], None], on_done: OnDone) -> None:
    """Run ``payloads`` (in order) on ``workers`` long-lived processes of ``threads`` each.

    Workers are forked from the fork server of :func:`start_local` (started now unless it
    runs already), so each starts with torch and olearn imported; they ask the kernel to
    SIGTERM them when their parent dies, and the fork server exits with the driver, so a killed
    driver leaves each running task ``interrupted`` with its checkpoint, ready for
    ``--resume``.
    """
    from multiprocessing.connection import wait

    ctx = start_local()
    queue = deque(payloads)
    pool: list[_Worker] = []

    def start() -> _Worker:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker_main, args=(child, threads, os.getpid()), daemon=True,
                           name="olearn-sweep-worker")
        with _without_main():
            proc.start()
        child.close()
        return _Worker(proc, parent)

    def assign(w: _Worker) -> None:
        w.payload = queue.popleft()
        on_start(w.payload)
        w.conn.send(w.payload)

    try:
        for _ in range(min(workers, len(queue))):
            pool.append(start())
            assign(pool[-1])
        while any(w.payload is not None for w in pool):
            busy = [w for w in pool if w.payload is not None]
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for w in busy:
                if w.conn not in ready and w.process.sentinel not in ready:
                    continue
                payload = w.payload
                assert payload is not None
                try:
                    result = w.conn.recv()
                except (EOFError, OSError):
                    w.process.join(5)
                    code = w.process.exitcode
                    result = failure(payload, f"worker process died (exit code {code}) while "
                                              "running this task; see its log")
                    pool.remove(w)
                    w = start()
                    pool.append(w)
                w.payload = None
                if queue:   # the worker gets its next task before the index is written
                    assign(w)
                on_done(payload, result)
    finally:
        for w in pool:
            if w.process.is_alive() and w.payload is None:
                try:
                    w.conn.send(None)
                except OSError:
                    pass
        for w in pool:
            w.process.join(2 if w.payload is None else 30)
            if w.process.is_alive():
                w.process.terminate()
                w.process.join(5)


PRELOAD = ("torch", "polars", "olearn.runner", "olearn.trace", "olearn.metrics",
           "olearn.sweep.task", "olearn.sweep.backends")


def start_local(modules: Iterable[str] = (), *, kernels: bool = True) -> Any:
    """Start the local pool's fork server (if it is not running) and return its context.

    The server is a fresh interpreter (``spawn``-clean: nothing of the caller's torch, OpenMP
    or Polars threads) that imports torch, Polars, the runner and ``modules`` (the sweep's
    env and agent modules) once, and with ``kernels`` (tasks that may run on the CPU) builds
    numba's registries (:mod:`olearn.sweep.numba_warm`); workers are forked from it ready to
    run, instead of each paying that start-up again. It does this while the driver validates
    the grid. Only imports happen there, so no thread pool of torch, Polars or numba exists
    when it forks. Where ``forkserver`` is not available (not POSIX), workers are spawned.
    """
    import multiprocessing as mp
    from multiprocessing import forkserver

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    warm = ["olearn.sweep.numba_warm"] if kernels else []
    ctx.set_forkserver_preload([*PRELOAD, *modules, *warm])   # used when the server (re)starts
    with _without_main():
        forkserver.ensure_running()
    return ctx


def task_modules(specs: Iterable[dict[str, Any]]) -> list[str]:
    """The modules of olearn's own envs and agents in ``specs`` (for :func:`start_local`),
    found without importing them; plug-ins (files, entry points) and unknown ids are left to
    the workers, so a plug-in that fails to import fails its task with its own error."""
    import gymnasium as gym

    from olearn.registry import agent_registry

    refs: set[str] = set()
    for spec in specs:
        env = gym.registry.get(str(spec.get("env", {}).get("id", "")))
        if env is not None:
            refs.update(str(e) for e in (env.entry_point, env.vector_entry_point) if e)
        for agent in spec.get("agents", []):
            known = agent_registry.get(str(agent.get("id", "")))
            if known is not None and isinstance(known.entry_point, str):
                refs.add(known.entry_point)
    modules = {r.split(":")[0] for r in refs if ":" in r}
    return sorted(m for m in modules if m.startswith("olearn.") and not m.endswith(".py"))


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _without_main() -> Iterator[None]:
    """Start a worker or the fork server without re-running the caller's ``__main__`` in it
    (``spawn`` and the fork server would, which fails for a script read from stdin and
    recurses for one without a ``__main__`` guard): workers need only olearn, and plug-ins
    come by their import paths."""
    with _MAIN_LOCK:   # sweeps started from several threads: each restores the real one
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main


def _worker_main(conn: Any, threads: int, parent: int) -> None:
    """A pool worker: run payloads from ``conn`` until ``None``; die with the driver."""
    _die_with_parent(parent)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(threads)
    from olearn.sweep.task import run_task

    while True:
        try:
            payload = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if payload is None:
            return
        try:
            result = run_task(payload)
        except KeyboardInterrupt:
            return
        conn.send(result)


def _die_with_parent(driver: int) -> None:
    """Stop this worker's run as ``interrupted`` (checkpoint kept) when the driver dies.

    A worker's parent is the fork server, which outlives a killed driver for as long as any of
    its children runs (they hold its "alive" pipe), so the kernel's parent-death signal alone
    does not fire: a daemon thread waits on the driver itself (a pidfd on Linux, else a poll
    every second) and sends this process SIGTERM, which the runner turns into an interrupted
    run. A spawned worker (no fork server) also asks for the parent-death signal.
    """
    import signal

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    try:
        fd = os.pidfd_open(driver) if hasattr(os, "pidfd_open") else None
    except ProcessLookupError:   # the driver died before we looked
        os._exit(0)
    except OSError:
        fd = None

    def watch() -> None:
        if fd is not None:
            import select

            select.select([fd], [], [])
        else:
            import time

            while _alive(driver):
                time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="olearn-driver-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


# ---------------------------------------------------------------------------- Ray
def ray_module() -> Any:
    """``ray``, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UsageError("the ray backend needs Ray: pip install \"olearn[distributed]\"") \
            from None
    return ray


def run_ray(payloads: list[Payload], *, address: str | None, workers: int, threads: int,
            on_start: Callable[[Payload], None], on_done: OnDone) -> None:
    """Run ``payloads`` as Ray tasks of ``threads`` CPUs each (and one GPU for a cuda spec).

    With ``address`` the tasks go to that cluster; without, to the Ray already initialised in
    this process, else to a local Ray started here with ``workers × threads`` CPUs and shut
    down at the end. Workers write their results to the sweep directory, which must be a path
    every node sees (a shared filesystem); only the small result dict comes back.
    """
    ray = ray_module()
    from ray.exceptions import RayError

    from olearn.sweep.task import run_task

    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, num_cpus=None if address else workers * threads,
                     include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"at {address}" if address else "locally"
            raise UsageError(f"cannot start or reach Ray {where}: {e}".splitlines()[0]) from None
    remote = ray.remote(max_retries=0)(run_task)
    refs: dict[Any, Payload] = {}
    try:
        for payload in payloads:
            gpu = 1 if str(payload["spec"].get("device", "auto")).startswith("cuda") else 0
            ref = remote.options(num_cpus=threads, num_gpus=gpu).remote(payload)
            refs[ref] = payload
            on_start(payload)
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                payload = refs.pop(ref)
                try:
                    result = ray.get(ref)
                except RayError as e:
                    line = next((s for s in str(e).splitlines() if s.strip()), type(e).__name__)
                    result = failure(payload, f"{type(e).__name__}: {line}")
                on_done(payload, result)
    finally:
        for ref in refs:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()
