"""OCO throughput: olearn optimistic OMD on SEA-v0 vs hand-written numpy OGD loops.

d = 100, linear losses ⟨c + σz, x⟩ on the unit ball (σ = 0.1), R = 1000 replicates,
T = 10000 rounds, CPU. olearn runs through ``olearn.simulate`` (env with its exact comparator,
the loop, regret and a Parquet trace of 100 log-spaced rounds). The numpy contenders do the
same arithmetic by hand (noise, loss, gradient step, projection, comparator −‖Σc‖):
one batched over the R replicates as (R, d) arrays, one a plain single-replicate loop.

    python benchmarks/oco.py            # full size (about a minute)
    python benchmarks/oco.py --quick    # T = 1000, same rates
    python benchmarks/oco.py --quick --repeat 3   # contenders interleaved, medians

olearn runs once per stream kind (``rng``: ``portable``, the CPU default, per-replicate
seeded blocks; ``fast``, Philox made where it is used, and on a CPU the env's round and the
agent's steps as compiled passes; see ``olearn.seeding``), with one thread by default (the
spec's default; ``--threads`` to change it).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time

import numpy as np
import torch

D, SIGMA = 100, 0.1


def bench_olearn(replicates: int, horizon: int, threads: int,
                 noise: str = "gaussian", device: str = "cpu",
                 rng: str = "auto") -> tuple[float, float]:
    import olearn
    from olearn.seeding import stream_kind

    spec = olearn.RunSpec.from_dict({
        "name": "bench-oco", "horizon": horizon, "replicates": replicates, "seed": 0,
        "device": device, "threads": threads, "record": {"log": 100}, "rng": rng,
        "env": {"id": "olearn/SEA-v0", "kwargs": {"dim": D, "sigma": SIGMA, "noise": noise}},
        "agents": [{"label": "oomd", "id": "olearn/OptimisticOMD-v0", "kwargs": {"G": 2.0}}]})
    start = time.perf_counter()
    with stream_kind(rng):   # the spec's rng, also where the runner does not enter it itself
        result = olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True)
    elapsed = time.perf_counter() - start
    return replicates * horizon / elapsed, result.final_regret()["oomd"]


def bench_numpy(replicates: int, horizon: int) -> tuple[float, float]:
    """Projected OGD with η_t = D/(G√t), batched over replicates with numpy (R, d) arrays."""
    rng = np.random.default_rng(0)
    c = rng.normal(size=(replicates, D))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    x = np.zeros((replicates, D))
    s = np.zeros((replicates, D))
    cum = np.zeros(replicates)
    start = time.perf_counter()
    for t in range(1, horizon + 1):
        g = c + SIGMA * rng.standard_normal((replicates, D))
        cum += np.einsum("rd,rd->r", c, x)                 # expected loss F_t(x_t)
        s += c
        x -= (2.0 / (2.0 * np.sqrt(t))) * g
        n = np.linalg.norm(x, axis=1, keepdims=True)
        x /= np.maximum(n, 1.0)
    regret = cum + np.linalg.norm(s, axis=1)              # comparator: −‖Σc‖
    return replicates * horizon / (time.perf_counter() - start), float(regret.mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="T = 1000 instead of 10000")
    p.add_argument("--replicates", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1,
                   help="olearn's CPU threads (the spec's default, 1: the numpy loop runs on one "
                        "core too; on a shared machine a second thread waits on barriers)")
    p.add_argument("--device", default="cpu", help="where olearn runs (numpy stays on the CPU)")
    p.add_argument("--rng", nargs="+", default=["portable", "fast"],
                   help="stream kinds olearn runs with (one row each)")
    p.add_argument("--noise", nargs="+", default=["gaussian", "uniform"])
    p.add_argument("--repeat", type=int, default=1,
                   help="run every contender this many times, interleaved; report medians")
    args = p.parse_args()
    horizon = 1000 if args.quick else 10000
    r = args.replicates
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({args.threads} threads), numpy {np.__version__}")
    print(f"d = {D}, linear SEA losses, sigma = {SIGMA}, R = {r}, T = {horizon}\n")
    if args.device != "cpu":
        print(f"olearn device: {args.device} ({torch.cuda.get_device_name()})")
    contenders = [(f"olearn OptimisticOMD-v0 (simulate, R={r}, {noise} noise, rng={rng})",
                   lambda noise=noise, rng=rng: bench_olearn(r, horizon, args.threads, noise,
                                                             args.device, rng))
                  for noise in args.noise for rng in args.rng]
    numpy_row = f"numpy OGD, batched (R={r})"
    contenders += [(numpy_row, lambda: bench_numpy(r, horizon)),
                   ("numpy OGD, one replicate (R=1)", lambda: bench_numpy(1, horizon))]
    for noise in args.noise:   # warm-up: imports and compiled kernels load outside the clock
        for rng in args.rng:
            bench_olearn(2, 3, args.threads, noise, args.device, rng)
    rates: dict[str, list[float]] = {name: [] for name, _ in contenders}
    regret: dict[str, float] = {}
    for _ in range(args.repeat):
        for name, fn in contenders:
            rate, regret[name] = fn()
            rates[name].append(rate)
    base = statistics.median(rates[numpy_row])
    print("| contender | replicate-rounds/s | × numpy batched | mean final regret |")
    print("|---|---|---|---|")
    for name, _ in contenders:
        rate = statistics.median(rates[name])
        print(f"| {name} | {rate:,.0f} | {rate / base:.2f} | {regret[name]:.1f} |")
    if args.repeat > 1:
        print("\nevery repeat, in run order:")
        for name, _ in contenders:
            print(f"  {name}: " + " / ".join(f"{x:,.0f}" for x in rates[name]))
        print("paired with the same repeat's batched numpy loop:")
        for name, _ in contenders[:-2]:
            ratios = [a / b for a, b in zip(rates[name], rates[numpy_row], strict=True)]
            print(f"  {name}: " + " / ".join(f"{x:.2f}" for x in ratios))

if __name__ == "__main__":
    main()
