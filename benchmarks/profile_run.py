"""Where a run's time goes: cProfile of ``olearn.simulate`` on the linear CB benchmark problem.

    python benchmarks/profile_run.py --replicates 256 --horizon 2000 \\
        [--device cuda] [--threads 2] [--top 25]
    python benchmarks/profile_run.py --replicates 256 --horizon 20000 --threads 2 --phases

Prints replicate-rounds/s and the functions with the most own time (per round, in µs), so a
change to the engine can be aimed at what dominates on a given machine and R. cProfile
inflates Python-level work several times over; ``--phases`` instead times the loop's phases
(act, env step and its block generation, update, recording) with a clock around each call,
without the profiler.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import pstats
import tempfile
import time
from typing import Any


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replicates", type=int, default=256)
    p.add_argument("--horizon", type=int, default=2000)
    p.add_argument("--device", default="cpu")
    p.add_argument("--agent", default="olearn/LinUCB-v0")
    p.add_argument("--every", type=int, default=1, help="record every this many rounds")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (torch and kernels)")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--phases", action="store_true", help="time the loop's phases, no profiler")
    args = p.parse_args()
    import olearn

    def spec(horizon: int) -> olearn.RunSpec:
        return olearn.RunSpec.from_dict({
            "name": "profile", "horizon": horizon, "replicates": args.replicates,
            "device": args.device, "threads": args.threads, "record": {"every": args.every},
            "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 10, "dim": 20}},
            "agents": [{"label": "a", "id": args.agent}]})

    if args.phases:
        _phases(olearn, spec, args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        olearn.simulate(spec(min(200, args.horizon)), out=f"{tmp}/warm", quiet=True)
        prof = cProfile.Profile()
        start = time.perf_counter()
        prof.enable()
        olearn.simulate(spec(args.horizon), out=f"{tmp}/run", quiet=True)
        prof.disable()
        wall = time.perf_counter() - start
    rate = args.replicates * args.horizon / wall
    print(f"R={args.replicates} T={args.horizon} device={args.device}: "
          f"{rate:,.0f} replicate-rounds/s "
          f"under cProfile ({wall / args.horizon * 1e6:.0f} µs/round)")
    stats = pstats.Stats(prof)
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[: args.top]
    print("| own µs/round | calls/round | function |\n|---|---|---|")
    for (file, line, name), (_, calls, own, _, _) in rows:
        where = "/".join(file.rsplit("/", 2)[-2:]) + f":{line}"
        print(f"| {own / args.horizon * 1e6:.1f} | {calls / args.horizon:.2f} | {name} ({where}) |")


def _phases(olearn: Any, spec: Any, args: argparse.Namespace) -> None:
    """Wall time of each phase of the loop, per round: a clock around each call, no profiler."""
    import olearn.runner
    from olearn.seeding import BlockStream

    spent: collections.Counter = collections.Counter()

    def clocked(fn: Any, key: str) -> Any:
        def call(*a: Any, **kw: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[key] += time.perf_counter() - start
        return call

    loop = olearn.runner.run_loop

    def run_loop(env: Any, agent: Any, state: Any, **kw: Any) -> Any:
        agent.act, agent.update = clocked(agent.act, "act"), clocked(agent.update, "update")
        env.step = clocked(env.step, "env step (with its blocks)")
        rec = kw["recorder"]
        rec.record, rec.flush = clocked(rec.record, "record"), clocked(rec.flush, "flush")
        return clocked(loop, "total")(env, agent, state, **kw)

    olearn.runner.run_loop = run_loop
    BlockStream._fill = clocked(BlockStream._fill, "random blocks (in env step)")
    with tempfile.TemporaryDirectory() as tmp:
        olearn.simulate(spec(min(200, args.horizon)), out=f"{tmp}/warm", quiet=True)
        spent.clear()
        olearn.simulate(spec(args.horizon), out=f"{tmp}/run", quiet=True)
    total = spent.pop("total")
    print(f"R={args.replicates} T={args.horizon} device={args.device}: "
          f"{args.replicates * args.horizon / total:,.0f} replicate-rounds/s in the loop "
          f"({total / args.horizon * 1e6:.0f} µs/round)")
    print("| phase | µs/round |\n|---|---|")
    for key, seconds in spent.most_common():
        print(f"| {key} | {seconds / args.horizon * 1e6:.1f} |")
    rest = total - sum(v for k, v in spent.items() if "(in env step)" not in k)
    print(f"| the loop itself (the rest) | {rest / args.horizon * 1e6:.1f} |")


if __name__ == "__main__":
    main()
