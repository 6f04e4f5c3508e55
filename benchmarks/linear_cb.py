"""Linear contextual bandit throughput: olearn LinUCB vs Vowpal Wabbit, MABWiser and numpy.

d = 20 features, K = 10 arms, shared context, linear rewards with Gaussian noise. Every
contender is fed round by round from Python, T = 100,000 rounds (``--quick``: shorter). olearn
runs through ``olearn.simulate`` (env, loop, regret and the Parquet trace) with R = 1 and with
R = 256 replicates, recording every round and, to show what recording costs, only 100
log-spaced rounds; peers run one replicate at a time, so their replicate-rounds/s equal
rounds/s.

    python benchmarks/linear_cb.py                 # full sizes (~10 min on 2 cores;
                                                   # 17 with --threads 1 2)
    python benchmarks/linear_cb.py --quick         # smaller horizons, same rates
    python benchmarks/linear_cb.py --threads 1 2   # the batched rows on one and on two threads

Peers are optional (``pip install -e ".[benchmark]"``); a missing one is reported as such.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

D, K = 20, 10


def problem(horizon: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(K, D))
    theta /= np.linalg.norm(theta, axis=1, keepdims=True)
    x = rng.normal(size=(horizon, D))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    noise = 0.1 * rng.normal(size=(horizon,))
    return theta, x, noise


def bench_numpy(horizon: int) -> tuple[float, float]:
    """Hand-written numpy LinUCB (disjoint, Sherman–Morrison), the per-round floor."""
    theta, xs, noise = problem(horizon)
    a_inv = np.stack([np.eye(D)] * K)
    b = np.zeros((K, D))
    th = np.zeros((K, D))
    regret = 0.0
    start = time.perf_counter()
    for t in range(horizon):
        x = xs[t]
        v = a_inv @ x
        score = th @ x + np.sqrt(np.einsum("kd,d->k", v, x))
        a = int(score.argmax())
        mu = theta @ x
        r = mu[a] + noise[t]
        regret += mu.max() - mu[a]
        u = v[a]
        a_inv[a] -= np.outer(u, u) / (1.0 + x @ u)
        b[a] += r * x
        th[a] = a_inv[a] @ b[a]
    return horizon / (time.perf_counter() - start), regret


def bench_vw(horizon: int) -> tuple[float, float] | str:
    """Vowpal Wabbit fed as a competent user would: contexts and expected rewards turned into
    Python lists once, the example strings built from floats, the arm drawn by inverse CDF in
    plain Python (no numpy call in the round)."""
    try:
        import vowpalwabbit
    except ImportError:
        return "not installed (pip install vowpalwabbit)"
    import random

    theta, xs, noise = problem(horizon)
    features = [" ".join(f"{i}:{v:.5f}" for i, v in enumerate(x)) for x in xs.tolist()]
    means, noise_l = (xs @ theta.T).tolist(), noise.tolist()
    vw = vowpalwabbit.Workspace("--cb_explore_adf --squarecb -q sa --quiet --random_seed 0")
    actions = [f"|a a{k}" for k in range(K)]
    draw = random.Random(1).random
    regret = 0.0
    start = time.perf_counter()
    for t in range(horizon):
        shared = "shared |s " + features[t]
        lines = [shared, *actions]
        pmf = vw.predict(lines)
        u, a, acc = draw() * sum(pmf), K - 1, 0.0
        for k, p in enumerate(pmf):
            acc += p
            if u < acc:
                a = k
                break
        mu = means[t]
        r = mu[a] + noise_l[t]
        regret += max(mu) - mu[a]
        lines[1 + a] = f"0:{-r:.5f}:{pmf[a]:.5f} " + actions[a]
        vw.learn(lines)
    rate = horizon / (time.perf_counter() - start)
    vw.finish()
    return rate, regret


def bench_vw_numpy_feed(horizon: int) -> tuple[float, float] | str:
    """The feed the earlier tables used (numpy scalars formatted every round,
    ``rng.choice``): kept to show how much of the old "× VW" was the feed, not VW."""
    try:
        import vowpalwabbit
    except ImportError:
        return "not installed (pip install vowpalwabbit)"
    theta, xs, noise = problem(horizon)
    vw = vowpalwabbit.Workspace("--cb_explore_adf --squarecb -q sa --quiet --random_seed 0")
    actions = [f"|a a{k}" for k in range(K)]
    rng = np.random.default_rng(1)
    regret = 0.0
    start = time.perf_counter()
    for t in range(horizon):
        x = xs[t]
        shared = "shared |s " + " ".join(f"{i}:{v:.5f}" for i, v in enumerate(x))
        pmf = np.asarray(vw.predict([shared, *actions]))
        a = int(rng.choice(K, p=pmf / pmf.sum()))
        mu = theta @ x
        r = mu[a] + noise[t]
        regret += mu.max() - mu[a]
        lines = [shared, *actions]
        lines[1 + a] = f"0:{-r:.5f}:{pmf[a]:.5f} " + actions[a]
        vw.learn(lines)
    rate = horizon / (time.perf_counter() - start)
    vw.finish()
    return rate, regret


def bench_mabwiser(horizon: int) -> tuple[float, float] | str:
    try:
        from mabwiser.mab import MAB, LearningPolicy
    except ImportError:
        return "not installed (pip install mabwiser)"
    theta, xs, noise = problem(horizon + K)
    mab = MAB(arms=list(range(K)), learning_policy=LearningPolicy.LinUCB(alpha=1.0), seed=0)
    mab.fit(decisions=list(range(K)), rewards=[0.0] * K, contexts=xs[:K])
    regret = 0.0
    start = time.perf_counter()
    for t in range(K, horizon + K):
        x = xs[t : t + 1]
        a = int(mab.predict(x))
        mu = theta @ x[0]
        r = mu[a] + noise[t]
        regret += mu.max() - mu[a]
        mab.partial_fit(decisions=[a], rewards=[r], contexts=x)
    return horizon / (time.perf_counter() - start), regret


def bench_olearn(horizon: int, replicates: int, device: str, threads: int,
                 record: dict | None = None) -> tuple[float, float]:
    import olearn

    spec = olearn.RunSpec.from_dict({
        "name": "bench", "horizon": horizon, "replicates": replicates, "device": device,
        "threads": threads, "record": record or {"every": 1},
        "env": {"id": "olearn/ContextualBandit-v0",
                "kwargs": {"arms": K, "dim": D, "reward": "linear", "noise": 0.1}},
        "agents": [{"label": "linucb", "id": "olearn/LinUCB-v0", "kwargs": {"alpha": 1.0}}]})
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        res = olearn.simulate(spec, out=f"{tmp}/run", quiet=True)
        rate = res.meta["agents"]["linucb"]["replicate_rounds_per_s"]
        return rate, res.final_regret()["linucb"]


def _median(results: list) -> tuple[float, float] | str:
    """The run with the median rate (a peer that is missing reports a string every time)."""
    if isinstance(results[0], str):
        return results[0]
    return sorted(results)[len(results) // 2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="shorter horizons (rates stay comparable)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--replicates", type=int, nargs="+", default=[256],
                   help="R of the batched runs (several: one pair of rows each)")
    p.add_argument("--threads", type=int, nargs="+", default=[1],
                   help="CPU threads of olearn (torch and its compiled kernels; several: rows "
                        "for each at every R > 1; R = 1 uses the first)")
    p.add_argument("--repeat", type=int, default=3,
                   help="interleaved repeats of every contender; the table shows the median rate")
    args = p.parse_args()
    t1 = 20_000 if args.quick else 100_000
    tr = 2_000 if args.quick else 100_000
    tm = 1_000 if args.quick else 5_000
    import torch

    contenders = [
        ("numpy LinUCB (hand-written loop)", 1, t1, lambda: bench_numpy(t1)),
        ("Vowpal Wabbit --cb_explore_adf --squarecb", 1, t1, lambda: bench_vw(t1)),
        ("Vowpal Wabbit, the earlier numpy-scalar feed", 1, t1,
         lambda: bench_vw_numpy_feed(t1)),
        ("MABWiser LinUCB", 1, tm, lambda: bench_mabwiser(tm)),
        ("olearn LinUCB", 1, t1, lambda: bench_olearn(t1, 1, args.device, args.threads[0])),
        ("olearn LinUCB, 100 log-spaced records", 1, t1,
         lambda: bench_olearn(t1, 1, args.device, args.threads[0], {"log": 100}))]
    for r in args.replicates:
        for th in args.threads:
            tag = f" ({th} threads)" if len(args.threads) > 1 else ""
            contenders += [
                ("olearn LinUCB" + tag, r, tr,
                 lambda r=r, th=th: bench_olearn(tr, r, args.device, th)),
                ("olearn LinUCB, 100 log-spaced records" + tag, r, tr,
                 lambda r=r, th=th: bench_olearn(tr, r, args.device, th, {"log": 100}))]
    # interleaved repeats: every contender sees the same spells of a noisy (shared) machine
    results: list[list] = [[] for _ in contenders]
    for _ in range(args.repeat):
        for out, (*_, run) in zip(results, contenders, strict=True):
            out.append(run())
    rows = [(name, r, t, _median(res))
            for (name, r, t, _), res in zip(contenders, results, strict=True)]
    spread = {name + str(r): [round(x[0]) for x in res if isinstance(x, tuple)]
              for (name, r, _, _), res in zip(contenders, results, strict=True)}
    vw = rows[1][3][0] if isinstance(rows[1][3], tuple) else None
    mw = rows[3][3][0] if isinstance(rows[3][3], tuple) else None
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    dev = torch.cuda.get_device_name() if args.device.startswith("cuda") else cpu
    print(f"# linear CB d={D} K={K}; machine: {cpu}; olearn device: {dev}; "
          f"torch {torch.__version__}; "
          f"median of {args.repeat} interleaved repeats")
    print("| contender | R | T | replicate-rounds/s | × VW | × MABWiser | regret/replicate at T |")
    print("|---|---|---|---|---|---|---|")
    for name, r, t, res in rows:
        if isinstance(res, str):
            print(f"| {name} | {r} | {t} | {res} | | | |")
            continue
        rate, regret = res
        xv = f"{rate / vw:.2f}" if vw else "-"
        xm = f"{rate / mw:.1f}" if mw else "-"
        print(f"| {name} | {r} | {t} | {rate:,.0f} | {xv} | {xm} | {regret:.1f} |")
    if args.repeat > 1:
        print("\nevery repeat's rate, in run order:")
        for key, rates in spread.items():
            print(f"  {key}: {rates}")


if __name__ == "__main__":
    main()
