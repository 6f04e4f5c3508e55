"""Linear-MDP throughput: episodes/s of LogBarrierPO and ExpWeightsPO, and the oracle's share.

H = 5 layers, 10 states per layer, A = 4, d = 8 (features on the simplex), the stochastic
adversary; each agent with its default rollouts. olearn runs through ``olearn.simulate`` (env
with its exact DP oracle, the loop, regret, a Parquet trace of 100 log-spaced episodes). The
oracle's share is the time of the env's two DPs per episode (``V^{π_k}_k(s_1)`` and the
comparator on the running loss sum), timed apart on the same policies, over the run's time.

    python benchmarks/linear_mdp.py                 # K = 500 per row
    python benchmarks/linear_mdp.py --episodes 2000 --threads 1
    python benchmarks/linear_mdp.py --oracle-only   # the oracle alone: shared vs per-replicate

``--oracle-only`` times the two DPs per episode alone, for one instance shared by the
replicates and for one instance per replicate (``instance="per_replicate"``: R transition
kernels and loss tables, a batched DP per replicate), interleaved (``--pairs`` rounds).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import torch

ENV = {"H": 5, "states": 10, "actions": 4, "d": 8, "adversary": "stochastic"}


def bench_agent(agent_id: str, replicates: int, episodes: int, threads: int,
                device: str) -> tuple[float, float]:
    import olearn

    spec = olearn.RunSpec.from_dict({
        "name": "bench-mdp", "horizon": episodes, "replicates": replicates, "seed": 0,
        "device": device, "threads": threads, "record": {"log": 100},
        "env": {"id": "olearn/LinearMDP-v0", "kwargs": ENV},
        "agents": [{"label": "a", "id": agent_id,
                    "kwargs": {} if "Uniform" in agent_id else {"horizon": 8000}}]})
    start = time.perf_counter()
    result = olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True)
    elapsed = time.perf_counter() - start
    return episodes / elapsed, result.final_regret()["a"]


def bench_oracle(replicates: int, episodes: int, device: str, instance: str = "shared") -> float:
    """Seconds per episode of the env's exact oracle (two backward DPs) on R policies."""
    from olearn.envs.mdp.dynamics import best_value, policy_value
    from olearn.envs.mdp.linear_mdp import LinearMDPVector

    env = LinearMDPVector(num_envs=replicates, device=device, instance=instance, **ENV)
    env.reset(seed=0)
    table = env.loss_table(env.theta(1))
    pi = torch.full((replicates, 5, 10, 4), 0.25, dtype=torch.float64, device=device)
    start = time.perf_counter()
    for _ in range(episodes):
        policy_value(env.P, table, pi)
        best_value(env.P, table)
    if device != "cpu":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / episodes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=500)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--replicates", type=int, nargs="+", default=[1, 64])
    p.add_argument("--oracle-only", action="store_true")
    p.add_argument("--pairs", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({args.threads} threads), device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device != "cpu" else ""))
    if args.oracle_only:
        print(f"LinearMDP-v0 {ENV}, oracle alone, {args.episodes} episodes per timing\n")
        print("| R | shared: µs/episode | per_replicate: µs/episode | ratio |")
        print("|---|---|---|---|")
        for r in args.replicates:
            times: dict[str, list[float]] = {"shared": [], "per_replicate": []}
            for _ in range(args.pairs):
                for inst in times:
                    times[inst].append(bench_oracle(r, args.episodes, args.device, inst))
            a, b = (1e6 * min(times[k]) for k in ("shared", "per_replicate"))
            print(f"| {r} | {a:,.0f} | {b:,.0f} | {b / a:.2f} |", flush=True)
        return
    print(f"LinearMDP-v0 {ENV}, K = {args.episodes} episodes per row\n")
    print("| agent | R | episodes/s | replicate-episodes/s | oracle share | regret/replicate |")
    print("|---|---|---|---|---|---|")
    for agent in ("olearn/LogBarrierPO-v0", "olearn/ExpWeightsPO-v0", "olearn/UniformPolicy-v0"):
        for r in args.replicates:
            rate, reg = bench_agent(agent, r, args.episodes, args.threads, args.device)
            share = bench_oracle(r, min(args.episodes, 300), args.device) * rate
            print(f"| {agent.split('/')[1]} | {r} | {rate:,.1f} | {rate * r:,.0f} | "
                  f"{100 * share:.0f}% | {reg:.1f} |", flush=True)


if __name__ == "__main__":
    main()
