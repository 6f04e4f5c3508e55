"""Sweep throughput: 36 small tasks on the local pool (2 workers) and on Ray, against running
the same tasks one after another in one process.

Each task is LinUCB and ε-greedy on a 5-arm, 10-dim linear bandit (T = 2,000, R = 8): a grid
of 6 LinUCB α × 6 seeds. The sequential baseline calls ``olearn.simulate`` for each task in this
process (imports and the compiled kernels' loading paid once, before the clock starts); each
pool and Ray row runs in a fresh process of its own that imports olearn's runner and torch
before the clock (what any driver has loaded) and times ``olearn.sweep.run_sweep`` end to end:
starting the pool's fork server (or Ray), validation, the workers' first kernel loads and the
index writes are all inside the clock, and no row inherits a warm pool from another.
Overhead per task = (wall × slots − Σ task seconds) / tasks, where the task seconds are the
ones the sequential baseline measured. The one-worker pool row has the same start-up and
bookkeeping as the two-worker one, so their ratio is the pool's parallel scaling. The "again"
row is a second sweep from the same process as the two-worker row (a notebook running one
sweep after another): its fork server is already running, so only the forks remain.

    python benchmarks/sweep.py               # local pool and sequential
    python benchmarks/sweep.py --ray         # also Ray (pip install "olearn[distributed]")
    python benchmarks/sweep.py --tasks 12    # fewer tasks (6 α × tasks/6 seeds)
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

BASE = {"name": "bench-sweep", "horizon": 2000, "replicates": 8, "device": "cpu",
        "record": {"log": 50},
        "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 5, "dim": 10}},
        "agents": [{"label": "linucb", "id": "olearn/LinUCB-v0"},
                   {"label": "egreedy", "id": "olearn/EpsilonGreedy-v0"}]}
ALPHAS = [0.03, 0.1, 0.3, 1.0, 3.0, 10.0]


def grid(tasks: int) -> dict[str, list[object]]:
    return {"agents.linucb.kwargs.alpha": ALPHAS, "seed": list(range(max(1, tasks // 6)))}


def sequential(tasks: int) -> tuple[float, float]:
    import olearn
    from olearn.sweep.grid import expand

    todo = expand(BASE, grid(tasks))
    olearn.simulate(todo[0].spec, out=tempfile.mkdtemp() + "/warm", quiet=True)  # imports, JIT
    start = time.perf_counter()
    for task in todo:
        olearn.simulate(task.spec, out=tempfile.mkdtemp() + "/run", quiet=True)
    wall = time.perf_counter() - start
    return wall, wall


def swept(tasks: int, backend: str, workers: int) -> list[float]:
    """One row, timed in a fresh process (no fork server or Ray left from another row): the
    first sweep's wall, and for the local pool a second sweep's from the same process."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, __file__, "--row", f"{backend}:{workers}",
                          "--tasks", str(tasks)], check=True, capture_output=True, text=True)
    return [float(w) for w in json.loads(out.stdout.strip().splitlines()[-1])["wall"]]


def row(tasks: int, backend: str, workers: int) -> float:
    import torch  # noqa: F401  - a driver has these loaded before it runs a sweep

    import olearn.runner  # noqa: F401
    from olearn.sweep import run_sweep

    start = time.perf_counter()
    result = run_sweep(BASE, grid(tasks), out=tempfile.mkdtemp() + "/sweep", backend=backend,
                       workers=workers, quiet=True)
    wall = time.perf_counter() - start
    assert not result.failed, result.failed
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=36)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ray", action="store_true", help="also time the Ray backend")
    parser.add_argument("--row", help=argparse.SUPPRESS)   # BACKEND:WORKERS, in a subprocess
    args = parser.parse_args()
    if args.row:
        import json

        backend, workers = args.row.split(":")
        n, w = 6 * max(1, args.tasks // 6), int(workers)
        again = backend == "local" and w > 1   # a second sweep, its fork server running
        walls = [row(n, backend, w) for _ in range(2 if again else 1)]
        print(json.dumps({"wall": walls}))
        return
    n = 6 * max(1, args.tasks // 6)
    print(f"# {platform.machine()} {os.cpu_count()} cores, {platform.python_version()}; "
          f"{n} tasks of T = {BASE['horizon']}, R = {BASE['replicates']}, 2 agents")
    seq_wall, busy = sequential(n)
    print(f"{'sequential (one process)':32s} {seq_wall:7.1f} s   1.00x   "
          f"({seq_wall / n:.2f} s/task)")
    rows = [("local pool", "local", 1), ("local pool", "local", args.workers)]
    if args.ray:
        rows.append(("ray (local)", "ray", args.workers))
    for name, backend, workers in rows:
        walls = swept(n, backend, workers)
        for what, wall in zip(("", ", again"), walls, strict=False):
            overhead = (wall * workers - busy) / n
            print(f"{name + what:19s} {workers} worker(s) {wall:7.1f} s   {seq_wall / wall:.2f}x   "
                  f"overhead {overhead:+.2f} s/task")


if __name__ == "__main__":
    main()
