"""Online-regression regret of NeuSquareCB's oracle on a teacher-network stream, with and
without the prediction perturbation (issue 17, item 9; papers §3.1, §3.5 claim 4).

    nice python docs/neural_cb_regression.py 1000 4     # T = 1,000, R = 4 (budget: minutes)

writes docs/neural_cb_regression.json (the numbers docs/neural_cb.md shows).

The stream: contexts ``x_t ~ N(0, I_d)/√d`` (d = 5), a fixed random teacher network
``f*(x) = sigmoid(v·tanh(W x))`` (width 16) as the mean reward, reward ``r_t = f*(x_t) + 0.1 ξ_t``.
The oracle sees every example (full information, one arm always played), predicts the loss
``1 − r_t`` before each OGD step, and its regression regret is
``Σ_t (ŷ_t − y_t)² − Σ_t (f*_loss(x_t) − y_t)²`` against the teacher (the realizable comparator).
The prediction is the agent's own: the perturbed ensemble mean (with c_p > 0) or the network.
Printed: cumulative regret at T/8, T/4, T/2, T (mean ± Student-t 95% over replicates, same
streams for every configuration) and the log-log slope between T/8 and T (log T growth shows
as a slope falling towards 0, √T as 0.5).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

CONFIGS: dict[str, dict[str, Any]] = {
    "off": {"perturbation": "none"},
    "c_p=0.01": {"c_p": 0.01, "S": 4},
    "c_p=0.1": {"c_p": 0.1, "S": 4},
}


def teacher_stream(horizon: int, replicates: int, dim: int = 5, width: int = 16,
                   noise: float = 0.1, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Contexts (T, R, d), rewards (T, R) and the teacher's mean reward (T, R)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(replicates, width, dim, generator=g) * 2.0
    v = torch.randn(replicates, width, generator=g) * 1.5
    x = torch.randn(horizon, replicates, dim, generator=g) / math.sqrt(dim)
    mean = torch.sigmoid((torch.tanh(torch.einsum("rwd,trd->trw", w, x)) * v).sum(-1))
    r = mean + noise * torch.randn(horizon, replicates, generator=g)
    return x, r, mean


def regression_regret(config: dict[str, Any], horizon: int = 2000, replicates: int = 4,
                      lr: float = 0.2, seed: int = 0) -> torch.Tensor:
    """Cumulative regression regret (T, R) of NeuSquareCB's oracle under ``config``."""
    from olearn.agents.bandits.networks import encode_arms
    from olearn.agents.bandits.neural_cb import NeuSquareCB
    from olearn.types import Step

    x, r, mean = teacher_stream(horizon, replicates, seed=seed)
    dim = x.shape[-1]
    agent = NeuSquareCB(gym.spaces.Box(-3, 3, (dim,)), gym.spaces.Discrete(2), hidden=(100,),
                        lr=lr, **config)
    agent.reset(seeds=list(range(seed, seed + replicates)), device=torch.device("cpu"))
    zero = torch.zeros(replicates, dtype=torch.long)
    inc = torch.empty(horizon, replicates)
    for t in range(1, horizon + 1):
        obs = x[t - 1]
        with torch.no_grad():
            feats = encode_arms(obs, agent.arms, agent.per_arm)
            f = agent._net.scalar(agent._params, feats)[:, :1]
            yhat = agent._predict(f, agent._offsets(torch.randn(replicates, agent.S)))[:, 0]
        y, ystar = 1.0 - r[t - 1], 1.0 - mean[t - 1]
        inc[t - 1] = (yhat - y) ** 2 - (ystar - y) ** 2
        agent.update(Step(t=t, obs=obs, action=zero, act_info={}, reward=r[t - 1]))
    return inc.cumsum(0)


def summary(cum: torch.Tensor) -> dict[str, Any]:
    from olearn.metrics import t975

    horizon, reps = cum.shape
    marks = [horizon // 8, horizon // 4, horizon // 2, horizon]
    out: dict[str, Any] = {}
    for m in marks:
        v = cum[m - 1].double()
        out[str(m)] = [float(v.mean()), float(t975(reps - 1) * v.std() / math.sqrt(reps))]
    slope = (cum[-1].log() - cum[marks[0] - 1].log()) / math.log(horizon / marks[0])
    out["slope"] = [float(slope.mean()), float(t975(reps - 1) * slope.std() / math.sqrt(reps))]
    return out


def main(horizon: int = 2000, replicates: int = 4) -> dict[str, Any]:
    torch.set_num_threads(1)
    results = {name: summary(regression_regret(cfg, horizon, replicates))
               for name, cfg in CONFIGS.items()}
    print(markdown(results))
    return results


def markdown(results: dict[str, Any]) -> str:
    marks = [k for k in results["off"] if k != "slope"]
    lines = ["| oracle | " + " | ".join(f"R({m})" for m in marks) + " | slope T/8→T |",
             "|---|" + "---|" * (len(marks) + 1)]
    for name, res in results.items():
        cells = [f"{res[m][0]:.1f} ± {res[m][1]:.1f}" for m in marks]
        cells.append(f"{res['slope'][0]:.2f} ± {res['slope'][1]:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]] or [2000, 4]
    res = main(*args)
    path = Path(__file__).with_name("neural_cb_regression.json")
    path.write_text(json.dumps({"horizon": args[0], "replicates": args[1],
                                "command": "nice python docs/neural_cb_regression.py "
                                           + " ".join(map(str, args)),
                                "results": res}, indent=1) + "\n")
