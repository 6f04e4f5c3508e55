"""Neural CB throughput: per-round cost of NeuSquareCB with R = 1 vs R replicates (DESIGN §10).

digits (64 features, 10 classes) as a 10-armed bandit; one-hidden-layer MLP of width 100 on the
disjoint arm encoding (input 10·64 = 640, so 640-100-1: 64 features per arm block), one OGD step
per round. Runs through ``olearn.simulate`` (the engine's loop, recording every 100 rounds), next
to a hand-written plain torch loop (nn.Module + SGD, R = 1, no perturbation) measured in the same
process. Target: R = 32 costs at most 4x one replicate per round.

    python benchmarks/neural_cb.py                      # CPU, T = 5000, R = 1 and 32
    python benchmarks/neural_cb.py --horizon 1000       # quicker
    python benchmarks/neural_cb.py --device cuda --replicates 1 1024
    python benchmarks/neural_cb.py --rng portable fast --repeat 3   # stream kinds, interleaved

The perturbed rows run once per stream kind (``--rng``; ``auto`` = the device's default, see
``olearn.seeding``): ``portable`` draws the perturbation's Gaussian from one seeded generator
per replicate, ``fast`` from Philox made where it is used. Under ``fast`` on a CPU the step is
the compiled kernel of ``olearn.agents.bandits.neural_cb_kernels``; ``--step fused torch`` also
runs the torch ops it replaced (``NeuSquareCB.fused_step = False``), interleaved:

    python benchmarks/neural_cb.py --horizon 200 --rng fast --threads 1 --repeat 2 \
        --step fused torch                              # the kernel against the torch step

``--kernel-threads`` sets the spec's ``kernel_threads`` (numba's threads; 0: as the runner
leaves them, which after the warm-up's run is torch's count, here one).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import tempfile
import time
from typing import Any

import torch

import olearn
from olearn.envs.bandits.classification import ClassificationBanditVector


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(
            line.split(":", 1)[1].strip()
            for line in out.splitlines()
            if line.startswith("Model name")
        )
    except Exception:  # noqa: BLE001
        return platform.processor() or "unknown CPU"


def olearn_run(replicates: int, horizon: int, device: str, kwargs: dict,
               rng: str = "auto", step: str = "fused", kernel_threads: int = 0) -> float:
    from olearn.agents.bandits.neural_cb import NeuSquareCB
    from olearn.seeding import stream_kind

    NeuSquareCB.fused_step = step == "fused"
    spec = {"name": "bench-neural-cb", "horizon": horizon, "replicates": replicates, "seed": 0,
            "device": device, "threads": 0, "kernel_threads": kernel_threads,
            "record": {"every": 100}, "rng": rng,
            "env": {"id": "olearn/ClassificationBandit-v0", "kwargs": {"dataset": "digits"}},
            "agents": [{"label": "neusquarecb", "id": "olearn/NeuSquareCB-v0", "kwargs": kwargs}]}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with stream_kind(rng):   # the spec's rng, also where the runner does not enter it
            olearn.simulate(spec, out=f"{tmp}/out", quiet=True)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return (time.perf_counter() - start) / horizon


def hand_loop(horizon: int, device: str) -> float:
    """A plain single-replicate SquareCB + MLP loop written directly in torch."""
    env = ClassificationBanditVector(num_envs=1, dataset="digits", device=device)
    obs, _ = env.reset(seed=0)
    k, d = env.arms, env.dim
    net = torch.nn.Sequential(torch.nn.Linear(k * d, 100), torch.nn.ReLU(),
                              torch.nn.Linear(100, 1)).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.2)
    eye = torch.eye(k, device=device)
    start = time.perf_counter()
    for t in range(1, horizon + 1):
        x = (eye.unsqueeze(2) * obs[0].unsqueeze(0).unsqueeze(0)).reshape(k, k * d)
        with torch.no_grad():
            y = net(x).squeeze(1)
        b = int(y.argmin())
        p = 1.0 / (k + 10.0 * t ** 0.5 * (y - y[b]))
        p[b] = 0.0
        p[b] = 1.0 - p.sum()
        a = int(torch.multinomial(p, 1))
        obs, reward, _, _, _ = env.step(torch.tensor([a]))
        loss = (net(x[a]).squeeze() - (1.0 - reward[0])) ** 2
        opt.zero_grad()
        loss.backward()
        opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / horizon


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--horizon", type=int, default=5000)
    ap.add_argument("--replicates", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--rng", nargs="+", default=["auto"],
                    help="stream kinds of the perturbed rows (auto | portable | fast)")
    ap.add_argument("--step", nargs="+", default=["fused"], choices=["fused", "torch"],
                    help="the fast kind's perturbed step on a CPU: the compiled kernel "
                         "(fused, the default) or the torch ops (torch); several: interleaved")
    ap.add_argument("--kernel-threads", type=int, default=0,
                    help="the spec's kernel_threads: numba's threads (0: as the runner "
                         "leaves them: torch's count after the first run)")
    ap.add_argument("--no-off", action="store_true", help="skip the perturbation-off rows")
    ap.add_argument("--repeat", type=int, default=1,
                    help="every configuration this many times, interleaved; medians")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    kt = args.kernel_threads
    dev = (torch.cuda.get_device_name(0) if args.device.startswith("cuda") else cpu_name())
    print(f"device: {args.device} ({dev}), torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, kernel threads {kt or 'default'}, "
          f"T = {args.horizon}")
    configs: list[tuple[str, dict[str, Any], str, str]] = []
    if not args.no_off:
        configs.append(("perturbation off", {"perturbation": "none"}, "auto", "fused"))
    for rng in args.rng:
        for step in args.step if rng == "fast" else ["fused"]:
            tag = f", {step} step" if rng == "fast" and len(args.step) > 1 else ""
            configs.append((f"perturbation on (c_p=0.01, S=4), rng={rng}{tag}",
                            {"c_p": 0.01, "S": 4}, rng, step))
    for _, kw, rng, step in configs:   # warm-up: imports and compiled kernels load outside
        olearn_run(args.replicates[0], 3, args.device, kw, rng, step, kt)   # the clock
    hand: list[float] = []
    costs: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.repeat):
        hand.append(hand_loop(args.horizon, args.device))
        for label, kw, rng, step in configs:
            for r in args.replicates:
                costs.setdefault((label, r), []).append(
                    olearn_run(r, args.horizon, args.device, kw, rng, step, kt))
    med = statistics.median
    print(f"hand-written torch loop, R=1, no perturbation: {med(hand) * 1e3:.3f} ms/round")
    r0 = args.replicates[0]
    for label, *_ in configs:
        base = med(costs[(label, r0)])
        for r in args.replicates:
            cost = med(costs[(label, r)])
            print(f"olearn NeuSquareCB {label:45s} R={r:<5d} {cost * 1e3:8.3f} ms/round  "
                  f"{cost / base:6.2f}x R={r0}  {r / cost:10.0f} replicate-rounds/s")
        if args.repeat > 1:
            for r in args.replicates:
                print(f"    repeats R={r}: " + " / ".join(f"{c * 1e3:.3f}"
                                                      for c in costs[(label, r)]) + " ms/round")
            ratios = [b / a for a, b in zip(costs[(label, r0)], costs[(label, args.replicates[-1])],
                                            strict=True)]
            print(f"    paired R={args.replicates[-1]}/R={r0} per repeat: "
                  + " / ".join(f"{x:.2f}" for x in ratios))


if __name__ == "__main__":
    main()
