"""Regenerate the figures and tables of docs/aggregate.md (the aggregate-responses studies).

    python docs/aggregate_figure.py               # all three studies (sizes as in the doc)
    python docs/aggregate_figure.py --study 1     # one of them
    python docs/aggregate_figure.py --quick       # fewer replicates: a smoke run

Studies 1 and 2 run the committed specs (runs/aggregate_risk_vs_rho.toml,
runs/aggregate_dp_bag_size.toml) through ``olearn.simulate`` with the overrides printed beside
each row, and read the final round's ``excess_loss`` from the traces (mean over replicates,
Student-t 95% intervals). Study 3 runs runs/aggregate_diabetes.toml the same way (bag size,
horizon and replicates overridden) and evaluates the final models on the held-out rows: the
runner saves every trained agent with the run (``OUT/agents/<label>.pt``), read back with
``olearn.load_agent``, whose ``predict`` is applied to ``env.heldout()`` (the env's fixed split,
the same for every replicate). Outputs: docs/aggregate_*.png and the Markdown tables on stdout.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import torch  # noqa: E402
from scipy import stats  # noqa: E402

import olearn  # noqa: E402
from olearn.envs.aggregate.risk import exact_risk  # noqa: E402
from olearn.registry import make_env  # noqa: E402

DOCS = Path(__file__).parent
RUNS = DOCS.parent / "runs"
# papers §4.3, "our simulation of the representation" (30 reps)
PAPER_TABLE = {
    (1000, 100, 5, 1.0): [1.01, 0.49, 0.42, 0.46, 0.49, 0.56, 0.63, 0.70],
    (1000, 100, 5, 2.0): [3.99, 1.78, 1.16, 0.89, 0.79, 0.73, 0.74, 0.75],
    (600, 100, 5, 1.0): [5.02, 0.88, 0.67, 0.60, 0.60, 0.64, 0.69, 0.71],
    (2000, 100, 10, 1.0): [0.98, 0.41, 0.46, 0.55, 0.61, 0.70, 0.78, 0.82],
}
RHOS = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0]


def t_ci(x: np.ndarray) -> tuple[float, float]:
    """Mean and Student-t 95% half width."""
    x = np.asarray(x, dtype=float)
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean()), float(half)


def final_excess(spec: olearn.RunSpec) -> dict[str, tuple[float, float]]:
    out = Path(tempfile.mkdtemp()) / "run"
    olearn.simulate(spec, out=out, quiet=True)
    df = olearn.load(out).filter(pl.col("t") == spec.horizon).collect()
    return {a: t_ci(df.filter(pl.col("agent") == a)["excess_loss"].to_numpy())
            for a in df["agent"].unique().to_list()}


def with_overrides(path: Path, replicates: int | None, **env_kw) -> olearn.RunSpec:
    """The spec at ``path`` with ``--set`` style overrides (``horizon`` or env kwargs)."""
    sets = [f"horizon={env_kw.pop('horizon')}"] if "horizon" in env_kw else []
    sets += [f"replicates={replicates}"] if replicates is not None else []
    sets += [f"env.kwargs.{k}={v}" for k, v in env_kw.items()]
    return olearn.RunSpec.from_toml(path, sets)


def study1(quick: bool, replicates: int | None = None) -> None:
    reps = 6 if quick else replicates
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8), sharey=False)
    print("\n### Study 1: excess risk vs rho (online closed form at m = n/k bags)\n")
    print("| n, d, k, σ | source | " + " | ".join(f"ρ={r:g}" for r in RHOS) + " |")
    print("|---|---|" + "---|" * len(RHOS))
    for ax, ((n, d, k, sigma), paper) in zip(axes, PAPER_TABLE.items(), strict=True):
        spec = with_overrides(RUNS / "aggregate_risk_vs_rho.toml", reps, horizon=n // k + 1,
                              bag_size=k, noise=sigma, snr=1.0 / sigma**2)
        got = final_excess(spec)
        online = [got[f"rho{r:g}"] for r in RHOS]
        exact = exact_risk(n=n, dim=d, bag_size=k, noise=sigma, rho=RHOS,
                           reps=5 if quick else 30)
        mean = [m for m, _ in online]
        ax.errorbar(RHOS, mean, yerr=[h for _, h in online], fmt="o-", capsize=3,
                    label=f"olearn online, final excess_loss ({spec.replicates} reps, t 95%)")
        ax.plot(RHOS, exact["risk"].numpy(), "s--", label="exact representation (MC)")
        ax.plot(RHOS, paper, "x:", label="papers §4.3 table")
        ax.set_title(f"n={n}, d={d}, k={k}, σ={sigma:g}")
        ax.set_xlabel("ρ")
        ax.set_yscale("log")
        row = f"| {n}, {d}, {k}, {sigma:g} |"
        cells = " | ".join(f"{m:.2f}±{h:.2f}" for m, h in online)
        print(row + f" olearn online (±t95) | {cells} |")
        cells = " | ".join(f"{v:.2f}" for v in exact["risk"].tolist())
        print(row + f" exact repr. (MC, 30) | {cells} |")
        print(row + " papers §4.3 | " + " | ".join(f"{v:.2f}" for v in paper) + " |")
    axes[0].set_ylabel("excess risk ‖θ̂−θ*‖²")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(DOCS / "aggregate_risk_vs_rho.png", dpi=110)


def study2(quick: bool) -> None:
    ks = [1, 2, 4, 8, 16, 32, 64]
    eps_grid = [0.5, 1.0, 2.0]
    reps = 6 if quick else None
    fig, axes = plt.subplots(1, len(eps_grid), figsize=(13, 3.8), sharey=True)
    print("\n### Study 2: label-DP, excess risk vs bag size k (n = 2000, d = 20, σ = 0.5, C = 3)\n")
    print("| ε | agent | " + " | ".join(f"k={k}" for k in ks) + " |")
    print("|---|---|" + "---|" * len(ks))
    for ax, eps in zip(axes, eps_grid, strict=True):
        rows: dict[str, list[tuple[float, float]]] = {}
        for k in ks:
            spec = with_overrides(RUNS / "aggregate_dp_bag_size.toml", reps,
                                  horizon=2000 // k + 1, bag_size=k, dp_epsilon=eps)
            for label, v in final_excess(spec).items():
                rows.setdefault(label, []).append(v)
        tuned = [min(col, key=lambda v: v[0]) for col in zip(*rows.values(), strict=True)]
        for label in sorted(rows):
            ax.plot(ks, [m for m, _ in rows[label]], "o-", alpha=0.6, label=label)
            print(f"| {eps:g} | {label} | " + " | ".join(f"{m:.2f}" for m, _ in rows[label]) + " |")
        ax.errorbar(ks, [m for m, _ in tuned], yerr=[h for _, h in tuned], fmt="k*-", lw=2,
                    capsize=3, label="best ρ per k (t 95%)")
        print(f"| {eps:g} | **best ρ** | " + " | ".join(f"**{m:.2f}**" for m, _ in tuned) + " |")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(f"ε = {eps:g} (per-label clipping)")
        ax.set_xlabel("bag size k")
    axes[0].set_ylabel("final excess_loss")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(DOCS / "aggregate_dp_bag_size.png", dpi=110)


def heldout_mse(spec: olearn.RunSpec) -> dict[str, np.ndarray]:
    """Run ``spec``; the held-out MSE per replicate of each agent's saved final model."""
    out = Path(tempfile.mkdtemp()) / "run"
    olearn.simulate(spec, out=out, quiet=True)
    env = make_env(spec.env.id, num_envs=1, kwargs=spec.env.kwargs)
    X, y = env.heldout()
    return {e.label: ((olearn.load_agent(out, e.label).predict(X) - y) ** 2).mean(-1).numpy()
            for e in spec.agents}


def study3(quick: bool) -> None:
    ks = [1, 4, 16, 32] if not quick else [1, 8]
    rhos = [0.0, 0.25, 0.5, 0.75, 1.0]
    passes, reps = (20, 5) if not quick else (2, 2)
    print(f"\n### Study 3: diabetes, MLP 10-64-64-1, held-out MSE (standardized target), "
          f"{passes} passes, {reps} replicates\n")
    print("| k | " + " | ".join(f"ρ={r:g}" for r in rhos) + " | best ρ |")
    print("|---|" + "---|" * (len(rhos) + 1))
    fig, ax = plt.subplots(figsize=(6, 4))
    for k in ks:
        spec = with_overrides(RUNS / "aggregate_diabetes.toml", reps,
                              horizon=passes * (354 // k), bag_size=k)
        labels = [f"rho{r:g}" for r in rhos]
        assert [e.label for e in spec.agents] == labels, "the spec's agents are the ρ grid"
        if k == 1:                          # every ρ coincides: run one
            spec = olearn.RunSpec.from_dict({**spec.to_dict(), "agents": [spec.to_dict()[
                "agents"][0]]})
        mse = heldout_mse(spec)
        res = [t_ci(mse[label]) for label in labels if label in mse]
        if k == 1:
            res = res * len(rhos)
        best = rhos[int(np.argmin([m for m, _ in res]))] if k > 1 else "any"
        print(f"| {k} | " + " | ".join(f"{m:.3f}±{h:.3f}" for m, h in res) + f" | {best} |")
        ax.errorbar(rhos, [m for m, _ in res], yerr=[h for _, h in res], fmt="o-", capsize=3,
                    label=f"k={k}")
    ax.set_xlabel("ρ")
    ax.set_ylabel("held-out MSE (t 95%)")
    ax.set_title("diabetes, MLP trained from bag means")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(DOCS / "aggregate_diabetes.png", dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--study", type=int, choices=(1, 2, 3), action="append")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--replicates", type=int, default=None,
                   help="study 1's replicates (default: the spec's 50)")
    args = p.parse_args()
    torch.set_num_threads(1)
    for s in args.study or (1, 2, 3):
        if s == 1:
            study1(args.quick, args.replicates)
        else:
            {2: study2, 3: study3}[s](args.quick)


if __name__ == "__main__":
    main()
