"""Aggregate-responses throughput: the batched interpolating learner vs single-replicate loops.

d = 100 features, bags of k = 10, ρ = 0.5. Contenders, each fed one bag per round from Python:

* ``numpy closed form``: a hand-written numpy loop doing the learner's arithmetic for one
  replicate (update S_bag, S_xx and Σ k·x̄ȳ; solve ``((1−ρ)S_bag + ρS_xx) θ = c`` with
  ``np.linalg.solve``, ``lstsq`` while singular; predict the next bag);
* ``olearn closed form``: ``olearn/Interpolating-v0`` (act + update; its default on the CPU:
  rank-k Householder updates of the augmented triangular factor, compiled, and one back
  substitution) at R = 1 and R = 256, on a pool of pre-drawn bags; and at R = 256 with
  ``inverse="woodbury"`` (rank-k Woodbury updates of ``M⁻¹`` in batched torch matmuls, the
  default before the factor updates, and still the default on a GPU);
* ``olearn closed form, whole loop``: ``olearn.simulate`` at R = 256 (env with its exact
  comparator by the same factor updates, loop, regret, Parquet trace recorded at 100
  log-spaced rounds);
* ``torch MLP (one replicate)``: a plain ``torch.nn`` 100-64-64-1 MLP with ``torch.optim.SGD``,
  one step per bag on L_int, and ``olearn`` SGD MLP (batched weights) at R = 1 and R = 256.

    python benchmarks/aggregate.py                  # T = 2000 bags (R = 256: 400)
    python benchmarks/aggregate.py --quick          # shorter, same rates
    python benchmarks/aggregate.py --repeat 5       # closed-form rows: 5 interleaved rounds
    python benchmarks/aggregate.py --steady 10      # closed form once M is definite, 10 pairs

``--steady N`` times the closed forms past the first bags (while ``M`` is singular the numpy
loop calls ``lstsq`` and olearn the row-space solve): numpy 150 bags, olearn R = 256 4 bags
(both inverses) and R = 1 300 bags, in N interleaved rounds of a few tenths of a second each,
and prints the median ratios (the VM's load drifts on the scale of seconds).
    python benchmarks/aggregate.py --device cuda    # the olearn rows on a GPU
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import numpy as np
import torch

D, K, RHO = 100, 10, 0.5


def bags(n: int, r: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=D) / np.sqrt(D)
    x = rng.normal(size=(n, r, K, D))
    y = (x @ theta + rng.normal(size=(n, r, K))).mean(-1)
    return x, y


def bench_numpy(horizon: int) -> float:
    x, y = bags(64, 1)
    s_bag, s_xx, c = np.zeros((D, D)), np.zeros((D, D)), np.zeros(D)
    theta = np.zeros(D)
    start = time.perf_counter()
    for t in range(horizon):
        xb, yb = x[t % 64, 0], y[t % 64, 0]
        pred = xb @ theta                       # act on the bag
        xbar = xb.mean(0)
        s_bag += K * np.outer(xbar, xbar)
        s_xx += xb.T @ xb
        c += K * xbar * yb
        m = (1 - RHO) * s_bag + RHO * s_xx
        theta = (np.linalg.solve(m, c) if (t + 1) * K >= D
                 else np.linalg.lstsq(m, c, rcond=None)[0])
    del pred
    return horizon / (time.perf_counter() - start)


def _agent(r: int, device: str, **kwargs):
    import gymnasium as gym

    from olearn.agents.aggregate.interpolating import Interpolating
    from olearn.seeding import replicate_seeds

    obs = gym.spaces.Box(-np.inf, np.inf, (K, D), dtype=np.float64)
    act = gym.spaces.Box(-np.inf, np.inf, (K,), dtype=np.float64)
    agent = Interpolating(obs, act, rho=RHO, **kwargs)
    agent.reset(seeds=replicate_seeds(0, "agent", range(r)), device=torch.device(device))
    return agent


def bench_olearn(horizon: int, r: int, device: str, **kwargs) -> float:
    from olearn.types import Step

    x, y = bags(16, r)
    xs = [torch.as_tensor(v, device=device) for v in x]
    ys = [torch.as_tensor(v, device=device) for v in y]
    agent = _agent(r, device, **kwargs)
    for t in range(D // K + 5):                # warm-up (allocations, kernels) past the
        xb, yb = xs[t % 16], ys[t % 16]        # bags that make M definite
        a, info = agent.act(xb)
        agent.update(Step(t + 1, xb, a, info, yb, {"bag_mean": yb}))
    agent = _agent(r, device, **kwargs)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    start = time.perf_counter()
    for t in range(horizon):
        xb, yb = xs[t % 16], ys[t % 16]
        a, info = agent.act(xb)
        agent.update(Step(t + 1, xb, a, info, yb, {"bag_mean": yb}))
    sync()
    return r * horizon / (time.perf_counter() - start)


def steady(rounds: int, device: str) -> None:
    """Interleaved steady-state rates of the closed forms (see the module docstring)."""
    from olearn.types import Step

    x1, y1 = bags(64, 1)
    s_bag, s_xx, c = np.zeros((D, D)), np.zeros((D, D)), np.zeros(D)
    state = {"theta": np.zeros(D), "t": 0}

    def numpy_bags(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            t = state["t"]
            xb, yb = x1[t % 64, 0], y1[t % 64, 0]
            xb @ state["theta"]
            xbar = xb.mean(0)
            s_bag[:] += K * np.outer(xbar, xbar)
            s_xx[:] += xb.T @ xb
            c[:] += K * xbar * yb
            m = (1 - RHO) * s_bag + RHO * s_xx
            state["theta"] = (np.linalg.solve(m, c) if (t + 1) * K >= D
                              else np.linalg.lstsq(m, c, rcond=None)[0])
            state["t"] += 1
        return n / (time.perf_counter() - start)

    def olearn_bags(r: int, **kwargs):
        x, y = bags(16, r)
        xs = [torch.as_tensor(v, device=device) for v in x]
        ys = [torch.as_tensor(v, device=device) for v in y]
        agent, done = _agent(r, device, **kwargs), [0]

        def run(n: int) -> float:
            start = time.perf_counter()
            for _ in range(n):
                t = done[0]
                a, info = agent.act(xs[t % 16])
                agent.update(Step(t + 1, xs[t % 16], a, info, ys[t % 16],
                                  {"bag_mean": ys[t % 16]}))
                done[0] += 1
            return r * n / (time.perf_counter() - start)
        return run

    fac, wood, fac1 = (olearn_bags(256), olearn_bags(256, inverse="woodbury"), olearn_bags(1))
    numpy_bags(D // K + 5)
    for run in (fac, wood, fac1):
        run(D // K + 5)                         # past the singular bags, kernels compiled
    rates = []
    for _ in range(rounds):
        rates.append((numpy_bags(150), fac(4), wood(4), fac1(300)))
        n, f, w, f1 = rates[-1]
        print(f"  numpy {n:,.0f}  olearn R=256 {f:,.0f} ({f / n:.2f}x)  woodbury R=256 "
              f"{w:,.0f} ({w / n:.2f}x)  olearn R=1 {f1:,.0f} ({f1 / n:.2f}x)", flush=True)
    a = np.array(rates)
    print(f"steady state, medians of {rounds} interleaved rounds (× the numpy loop): "
          f"olearn R=256 {np.median(a[:, 1] / a[:, 0]):.2f}, inverse=\"woodbury\" R=256 "
          f"{np.median(a[:, 2] / a[:, 0]):.2f}, olearn R=1 {np.median(a[:, 3] / a[:, 0]):.2f}; "
          f"numpy {np.median(a[:, 0]):,.0f} bags/s, olearn R=256 {np.median(a[:, 1]):,.0f} "
          "replicate-bags/s")


def bench_loop(horizon: int, r: int, device: str) -> float:
    import numba

    import olearn

    spec = olearn.RunSpec.from_dict({   # the threads this process was given (--threads)
        "name": "bench", "horizon": horizon, "replicates": r, "device": device,
        "threads": torch.get_num_threads(), "kernel_threads": numba.get_num_threads(),
        "record": {"log": 100},
        "env": {"id": "olearn/AggregateResponses-v0", "kwargs": {"dim": D, "bag_size": K}},
        "agents": [{"label": "int", "id": "olearn/Interpolating-v0", "kwargs": {"rho": RHO}}]})
    start = time.perf_counter()
    olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True)
    return r * horizon / (time.perf_counter() - start)


def bench_torch_mlp(horizon: int) -> float:
    x, y = bags(64, 1)
    xs = torch.as_tensor(x[:, 0], dtype=torch.float32)
    ys = torch.as_tensor(y[:, 0], dtype=torch.float32)
    torch.manual_seed(0)   # benchmark script only: library code never seeds globally
    net = torch.nn.Sequential(torch.nn.Linear(D, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                              torch.nn.ReLU(), torch.nn.Linear(64, 1))
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    start = time.perf_counter()
    for t in range(horizon):
        xb, yb = xs[t % 64], ys[t % 64]
        with torch.no_grad():
            net(xb)                             # act
        f = net(xb).squeeze(-1)
        loss = (f.mean() - yb) ** 2 + RHO * ((f - f.mean()) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return horizon / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None,
                   help="torch's and the compiled kernels' threads, as a spec's threads "
                        "(default: torch's and numba's own)")
    p.add_argument("--kernel-threads", type=int, default=None,
                   help="the compiled kernels' threads when not --threads (a spec's "
                        "kernel_threads)")
    p.add_argument("--repeat", type=int, default=3,
                   help="rounds of the closed-form contenders, interleaved (medians reported)")
    p.add_argument("--steady", type=int, default=0, metavar="N",
                   help="only the steady-state closed forms, N interleaved rounds")
    args = p.parse_args()
    if args.threads:   # both, as the runner does for a spec's threads (and kernel_threads)
        import numba

        kernels = args.kernel_threads or args.threads
        numba.set_num_threads(min(kernels, numba.config.NUMBA_NUM_THREADS))
        torch.set_num_threads(args.threads)
    if args.steady:
        steady(args.steady, args.device)
        return
    t1, t256 = (400, 100) if args.quick else (2000, 400)
    dev = args.device
    closed = [("numpy closed form (hand-written loop)", 1, t1, lambda: bench_numpy(t1)),
              ("olearn closed form", 1, t1, lambda: bench_olearn(t1, 1, dev)),
              ("olearn closed form", 256, t256, lambda: bench_olearn(t256, 256, dev)),
              ("olearn closed form, inverse=\"woodbury\"", 256, t256,
               lambda: bench_olearn(t256, 256, dev, inverse="woodbury")),
              ("olearn closed form, whole loop (env + exact regret + trace)", 256, t256,
               lambda: bench_loop(t256, 256, dev))]
    # round-robin: on a shared machine the load drifts; each ratio is taken within a round
    rates = [[fn() for *_, fn in closed] for _ in range(max(1, args.repeat))]
    rows = [(name, r, t, float(np.median([rr[i] for rr in rates])),
             float(np.median([rr[i] / rr[0] for rr in rates])))
            for i, (name, r, t, _) in enumerate(closed)]
    mlp = bench_torch_mlp(t1)
    rows.append(("torch MLP + SGD (one replicate, plain loop)", 1, t1, mlp, np.nan))
    mlp_kw = {"model": "mlp", "hidden": (64, 64), "optimizer": "sgd", "lr": 1e-3}
    rows.append(("olearn SGD MLP", 1, t1, bench_olearn(t1, 1, dev, **mlp_kw), np.nan))
    rows.append(("olearn SGD MLP", 256, t256, bench_olearn(t256, 256, dev, **mlp_kw), np.nan))
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {dev}"
          + (f" ({torch.cuda.get_device_name()})" if dev.startswith("cuda") else "")
          + f"; closed-form rows: medians of {len(rates)} interleaved rounds")
    print("\n| contender | R | T | replicate-bags/s | × numpy closed form |\n|---|---|---|---|---|")
    base = rows[0][3]
    for name, r, t, rate, ratio in rows:
        shown = ratio if ratio == ratio else rate / base   # MLP rows: against the median
        print(f"| {name} | {r} | {t} | {rate:,.0f} | {shown:.2f} |")
    if len(rates) > 1:
        print("\nper round (replicate-bags/s, closed-form rows in order):")
        for rr in rates:
            print("  " + " / ".join(f"{v:,.0f}" for v in rr))


if __name__ == "__main__":
    main()
