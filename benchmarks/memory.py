"""Peak memory against the horizon: streaming keeps it flat in T.

Runs LinUCB (d = 20, K = 10, R = 8, recording every round) for growing horizons, each in a
fresh process, and prints the peak resident set size and the trace size on disk.

    python benchmarks/memory.py [--horizons 10000 100000 300000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import sys, resource, olearn
spec = olearn.RunSpec.from_dict({"name": "mem", "horizon": int(sys.argv[1]), "replicates": 8,
    "record": {"every": 1},
    "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 10, "dim": 20}},
    "agents": [{"label": "linucb", "id": "olearn/LinUCB-v0"}]})
res = olearn.simulate(spec, out=sys.argv[2], quiet=True)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
      res.meta["agents"]["linucb"]["rounds_per_s"])
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--horizons", type=int, nargs="+", default=[10_000, 100_000, 300_000])
    args = p.parse_args()
    print("| T | rows in trace | peak RSS (MiB) | trace on disk (MiB) | rounds/s |")
    print("|---|---|---|---|---|")
    for horizon in args.horizons:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            line = subprocess.run([sys.executable, "-c", CHILD, str(horizon), str(out)],
                                  capture_output=True, text=True, check=True).stdout.split()
            size = sum(f.stat().st_size for f in out.rglob("*.parquet")) / 2**20
            print(f"| {horizon:,} | {8 * horizon:,} | {int(line[0]) / 1024:.0f} | {size:.1f} | "
                  f"{float(line[1]):,.0f} |")


if __name__ == "__main__":
    main()
