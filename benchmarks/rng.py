"""Random-stream throughput: the portable blocks against Philox (the fast kind), per device.

Times the per-round streams the engine serves (``olearn.seeding.BlockStream`` and
``PhiloxStream``): Gaussian draws of ``d`` numbers per replicate per round, ``R`` replicates,
read round by round as the SEA env does; reports numbers per second (median of ``--repeat``
interleaved runs).

    python benchmarks/rng.py                                  # CPU, R = 1000, d = 100
    python benchmarks/rng.py --device cuda --replicates 16384
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from olearn.seeding import BlockStream, PhiloxStream, replicate_seeds


def rate(cls: type, seeds: list[int], d: int, rounds: int, device: torch.device,
         kind: str) -> float:
    s = cls(seeds, "xi", (d,), kind=kind, device=device, dtype=torch.float32)
    s(0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    acc = None
    for i in range(1, rounds + 1):
        x = s(i)
        acc = x[0, 0] if acc is None else acc + x[0, 0]   # touch every round
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(seeds) * d * rounds / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--replicates", type=int, default=1000)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--rounds", type=int, default=512)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    print(f"device: {args.device} ({name}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; R = {args.replicates}, d = {args.dim}, "
          f"{args.rounds} rounds")
    seeds = replicate_seeds(0, "env", range(args.replicates))
    rows = [(f"{label} {kind}", cls, kind) for kind in ("normal", "uniform")
            for label, cls in (("portable (BlockStream)", BlockStream),
                               ("fast (PhiloxStream)", PhiloxStream))]
    rates: dict[str, list[float]] = {r[0]: [] for r in rows}
    for _ in range(args.repeat):
        for label, cls, kind in rows:
            rates[label].append(rate(cls, seeds, args.dim, args.rounds, dev, kind))
    print("| stream | numbers/s (median) | repeats |")
    print("|---|---|---|")
    for label, _, _ in rows:
        v = rates[label]
        print(f"| {label} | {statistics.median(v):,.0f} | "
              + " / ".join(f"{x:,.0f}" for x in v) + " |")


if __name__ == "__main__":
    main()
