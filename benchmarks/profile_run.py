"""Where a run's time goes: cProfile of ``olearn.simulate`` on the linear CB benchmark problem.

    python benchmarks/profile_run.py --replicates 256 --horizon 2000 [--device cuda] [--threads 2] [--top 25]

Prints replicate-rounds/s and the functions with the most own time (per round, in µs), so a
change to the engine can be aimed at what dominates on a given machine and R.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replicates", type=int, default=256)
    p.add_argument("--horizon", type=int, default=2000)
    p.add_argument("--device", default="cpu")
    p.add_argument("--agent", default="olearn/LinUCB-v0")
    p.add_argument("--every", type=int, default=1, help="record every this many rounds")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (torch and kernels)")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    import olearn

    def spec(horizon: int) -> olearn.RunSpec:
        return olearn.RunSpec.from_dict({
            "name": "profile", "horizon": horizon, "replicates": args.replicates,
            "device": args.device, "threads": args.threads, "record": {"every": args.every},
            "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 10, "dim": 20}},
            "agents": [{"label": "a", "id": args.agent}]})

    with tempfile.TemporaryDirectory() as tmp:
        olearn.simulate(spec(min(200, args.horizon)), out=f"{tmp}/warm", quiet=True)
        prof = cProfile.Profile()
        start = time.perf_counter()
        prof.enable()
        olearn.simulate(spec(args.horizon), out=f"{tmp}/run", quiet=True)
        prof.disable()
        wall = time.perf_counter() - start
    rate = args.replicates * args.horizon / wall
    print(f"R={args.replicates} T={args.horizon} device={args.device}: {rate:,.0f} replicate-rounds/s "
          f"under cProfile ({wall / args.horizon * 1e6:.0f} µs/round)")
    stats = pstats.Stats(prof)
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[: args.top]
    print("| own µs/round | calls/round | function |\n|---|---|---|")
    for (file, line, name), (_, calls, own, _, _) in rows:
        where = "/".join(file.rsplit("/", 2)[-2:]) + f":{line}"
        print(f"| {own / args.horizon * 1e6:.1f} | {calls / args.horizon:.2f} | {name} ({where}) |")


if __name__ == "__main__":
    main()
