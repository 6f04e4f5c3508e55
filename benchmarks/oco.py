"""OCO throughput: olearn optimistic OMD on SEA-v0 vs hand-written numpy OGD loops.

d = 100, linear losses ⟨c + σz, x⟩ on the unit ball (σ = 0.1), R = 1000 replicates,
T = 10000 rounds, CPU. olearn runs through ``olearn.simulate`` (env with its exact comparator,
the loop, regret and a Parquet trace of 100 log-spaced rounds). The numpy contenders do the
same arithmetic by hand (noise, loss, gradient step, projection, comparator −‖Σc‖):
one batched over the R replicates as (R, d) arrays, one a plain single-replicate loop.

    python benchmarks/oco.py            # full size (about a minute)
    python benchmarks/oco.py --quick    # T = 1000, same rates
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np
import torch

D, SIGMA = 100, 0.1


def bench_olearn(replicates: int, horizon: int, threads: int,
                 noise: str = "gaussian", device: str = "cpu") -> tuple[float, float]:
    import olearn

    spec = olearn.RunSpec.from_dict({
        "name": "bench-oco", "horizon": horizon, "replicates": replicates, "seed": 0,
        "device": device, "threads": threads, "record": {"log": 100},
        "env": {"id": "olearn/SEA-v0", "kwargs": {"dim": D, "sigma": SIGMA, "noise": noise}},
        "agents": [{"label": "oomd", "id": "olearn/OptimisticOMD-v0", "kwargs": {"G": 2.0}}]})
    start = time.perf_counter()
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
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--device", default="cpu", help="where olearn runs (numpy stays on the CPU)")
    args = p.parse_args()
    horizon = 1000 if args.quick else 10000
    r = args.replicates
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({args.threads} threads), numpy {np.__version__}")
    print(f"d = {D}, linear SEA losses, sigma = {SIGMA}, R = {r}, T = {horizon}\n")
    rows = []
    if args.device != "cpu":
        print(f"olearn device: {args.device} ({torch.cuda.get_device_name()})")
    rate, reg = bench_olearn(r, horizon, args.threads, device=args.device)
    rows.append((f"olearn OptimisticOMD-v0 (simulate, R={r}, Gaussian noise)", rate, reg))
    rate, reg = bench_olearn(r, horizon, args.threads, noise="uniform", device=args.device)
    rows.append((f"olearn OptimisticOMD-v0 (simulate, R={r}, uniform noise)", rate, reg))
    rate, reg = bench_numpy(r, horizon)
    rows.append((f"numpy OGD, batched (R={r})", rate, reg))
    rate, reg = bench_numpy(1, horizon)
    rows.append(("numpy OGD, one replicate (R=1)", rate, reg))
    base = rows[2][1]
    print("| contender | replicate-rounds/s | × numpy batched | mean final regret |")
    print("|---|---|---|---|")
    for name, rate, reg in rows:
        print(f"| {name} | {rate:,.0f} | {rate / base:.2f} | {reg:.1f} |")


if __name__ == "__main__":
    main()
