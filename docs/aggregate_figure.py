"""Regenerate the figures and tables of docs/aggregate.md (the aggregate-responses studies).

    python docs/aggregate_figure.py               # all three studies (sizes as in the doc)
    python docs/aggregate_figure.py --study 1     # one of them
    python docs/aggregate_figure.py --quick       # fewer replicates: a smoke run

Studies 1 and 2 run the committed specs (runs/aggregate_risk_vs_rho.toml,
runs/aggregate_dp_bag_size.toml) through ``olearn.simulate`` with the overrides printed beside
each row, and read the final round's ``excess_loss`` from the traces (mean over replicates,
Student-t 95% intervals). Study 3 runs runs/aggregate_diabetes_fixed.toml (the paper's fixed
bags, ``rebag = false``; ``--bags fresh`` overrides ``rebag = true``) once per bag size, with
the bag size and horizon overridden, and evaluates the final models on the held-out rows: the
runner saves every trained agent with the run (``OUT/agents/<label>.pt``), read back with
``olearn.load_agent``, whose ``predict`` is applied to ``env.heldout()`` (the env's fixed split,
the same for every replicate); it prints the mean ± t 95% table and a paired comparison of
the best interior ρ with ρ = 0 and ρ = 1 over the shared replicates.

Every run goes to ``runs/out/<study>_<point>-<spec digest>`` and is reused once complete
(an interrupted one resumes), so the figures can be redrawn without rerunning. The figures
are drawn with ``olearn.plot.parameter_figure`` (reference lines with ``add_line``).
Outputs: docs/aggregate_*.png and the Markdown tables on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
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
from olearn.metrics import mean_ci  # noqa: E402
from olearn.plot import add_line, parameter_figure  # noqa: E402
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


def final_excess(spec: olearn.RunSpec, name: str) -> dict[str, tuple[float, float]]:
    """Final round's ``excess_loss`` per agent: mean and t 95% half width over replicates."""
    out = cached_run(spec, name)
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
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2), sharey=False)
    print("\n### Study 1: excess risk vs rho (online closed form at m = n/k bags)\n")
    print("| n, d, k, σ | source | " + " | ".join(f"ρ={r:g}" for r in RHOS) + " |")
    print("|---|---|" + "---|" * len(RHOS))
    for ax, ((n, d, k, sigma), paper) in zip(axes, PAPER_TABLE.items(), strict=True):
        spec = with_overrides(RUNS / "aggregate_risk_vs_rho.toml", reps, horizon=n // k + 1,
                              bag_size=k, noise=sigma, snr=1.0 / sigma**2)
        got = final_excess(spec, f"aggregate_risk_vs_rho_n{n}_k{k}_s{sigma:g}")
        online = [got[f"rho{r:g}"] for r in RHOS]
        exact = exact_risk(n=n, dim=d, bag_size=k, noise=sigma, rho=RHOS,
                           reps=5 if quick else 30)
        table = pl.DataFrame({"source": f"olearn online, final excess_loss "
                                        f"({spec.replicates} reps)",
                              "rho": RHOS, "mean": [m for m, _ in online],
                              "ci95": [h for _, h in online]})
        parameter_figure(table, "rho", by=["source"], ax=ax, log_y=True, xlabel="ρ",
                         ylabel="excess risk ‖θ̂−θ*‖²" if ax is axes[0] else "",
                         title=f"n={n}, d={d}, k={k}, σ={sigma:g}")
        add_line(ax, RHOS, exact["risk"].numpy(), label="exact representation (MC, 30)",
                 fmt="s--", color="C1")
        add_line(ax, RHOS, paper, label="papers §4.3 table", fmt="x:", color="C2")
        if ax is not axes[0]:
            ax.get_legend().remove()          # one legend (the first panel's) for all four
        row = f"| {n}, {d}, {k}, {sigma:g} |"
        cells = " | ".join(f"{m:.2f}±{h:.2f}" for m, h in online)
        print(row + f" olearn online (±t95) | {cells} |")
        cells = " | ".join(f"{v:.2f}" for v in exact["risk"].tolist())
        print(row + f" exact repr. (MC, 30) | {cells} |")
        print(row + " papers §4.3 | " + " | ".join(f"{v:.2f}" for v in paper) + " |")
    fig.tight_layout()
    fig.savefig(DOCS / "aggregate_risk_vs_rho.png", dpi=110)


def study2(quick: bool) -> None:
    ks = [1, 2, 4, 8, 16, 32, 64]
    eps_grid = [0.5, 1.0, 2.0]
    reps = 6 if quick else None
    fig, axes = plt.subplots(1, len(eps_grid), figsize=(15, 4.2), sharey=True)
    print("\n### Study 2: label-DP, excess risk vs bag size k (n = 2000, d = 20, σ = 0.5, C = 3)\n")
    print("| ε | agent | " + " | ".join(f"k={k}" for k in ks) + " |")
    print("|---|---|" + "---|" * len(ks))
    for ax, eps in zip(axes, eps_grid, strict=True):
        rows: dict[str, list[tuple[float, float]]] = {}
        for k in ks:
            spec = with_overrides(RUNS / "aggregate_dp_bag_size.toml", reps,
                                  horizon=2000 // k + 1, bag_size=k, dp_epsilon=eps)
            for label, v in final_excess(spec, f"aggregate_dp_bag_size_eps{eps:g}_k{k}").items():
                rows.setdefault(label, []).append(v)
        tuned = [min(col, key=lambda v: v[0]) for col in zip(*rows.values(), strict=True)]
        for label in sorted(rows):
            print(f"| {eps:g} | {label} | " + " | ".join(f"{m:.2f}" for m, _ in rows[label]) + " |")
        print(f"| {eps:g} | **best ρ** | " + " | ".join(f"**{m:.2f}**" for m, _ in tuned) + " |")
        table = pl.DataFrame(
            [(label, k, m, h) for label in [*sorted(rows), "best ρ per k"]
             for k, (m, h) in zip(ks, rows.get(label, tuned), strict=True)],
            schema=["agent", "k", "mean", "ci95"], orient="row")
        parameter_figure(table, "k", by=["agent"], ax=ax, log_y=True, xlabel="bag size k",
                         ylabel="final excess_loss" if ax is axes[0] else "",
                         title=f"ε = {eps:g} (per-label clipping)")
        ax.set_xscale("log", base=2)
        for c in ax.containers:               # the tuned curve in black, thicker
            if c.get_label() == "best ρ per k":
                c.lines[0].set(color="k", lw=2.5)
                for part in (*c.lines[1], *c.lines[2]):
                    part.set_color("k")
        title = ax.get_legend().get_title().get_text()
        ax.get_legend().remove()              # one legend, redrawn where the curves are not
    axes[-1].legend(fontsize=8, title=title, title_fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(DOCS / "aggregate_dp_bag_size.png", dpi=110)


DIABETES_SPEC = RUNS / "aggregate_diabetes_fixed.toml"
DIABETES_RHOS = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0]
DIABETES_KS = [1, 4, 8, 16, 32]
DIABETES_TRAIN_ROWS = 354      # 442 rows, 20% held out


def cached_run(spec: olearn.RunSpec, name: str) -> Path:
    """Run ``spec`` into ``runs/out/<name>-<digest>``, or reuse that directory once complete.

    The digest covers every override, so a finished run is reused only for the same spec; an
    interrupted one is resumed."""
    out = RUNS / "out" / f"{name}-{spec.digest()[:12]}"
    meta = out / "meta.json"
    if not (meta.is_file() and json.loads(meta.read_text()).get("status") == "complete"):
        olearn.simulate(spec, out=out, quiet=True, resume=out.exists())
    return out


def heldout_mse(spec: olearn.RunSpec, name: str) -> pl.DataFrame:
    """Run ``spec`` (or reuse it); held-out MSE of each agent's saved final model per replicate.

    Columns ``agent, replicate, mse``. Every agent's replicate ``r`` saw the same bags (the env
    seeds are per replicate, shared across agents), so rows are paired across agents."""
    out = cached_run(spec, name)
    env = make_env(spec.env.id, num_envs=1, kwargs=spec.env.kwargs)
    X, y = env.heldout()
    rows = []
    for e in spec.agents:
        mse = ((olearn.load_agent(out, e.label).predict(X) - y) ** 2).mean(-1).tolist()
        rows += [(e.label, r, v) for r, v in zip(spec.replicate_ids, mse, strict=True)]
    return pl.DataFrame(rows, schema=["agent", "replicate", "mse"], orient="row")


def diabetes_runs(bags: str, ks: list[int], passes: int, reps: int | None) -> pl.DataFrame:
    """Per replicate held-out MSE for every ``k`` and ρ: columns ``bags, k, rho, replicate, mse``.

    ``bags="fixed"`` is the spec (``rebag = false``: one partition per replicate, served every
    pass, as in the paper); ``"fresh"`` overrides ``rebag = true`` (a new partition per pass).
    At k = 1 every ρ is the same learner (test claim 2): one agent runs and stands for all."""
    frames = []
    for k in ks:
        spec = with_overrides(DIABETES_SPEC, reps, horizon=passes * (DIABETES_TRAIN_ROWS // k),
                              bag_size=k, rebag=str(bags == "fresh").lower())
        labels = [f"rho{r:g}" for r in DIABETES_RHOS]
        assert [e.label for e in spec.agents] == labels, "the spec's agents are the ρ grid"
        if k == 1:
            d = spec.to_dict()
            spec = olearn.RunSpec.from_dict({**d, "agents": d["agents"][:1]})
        mse = heldout_mse(spec, f"aggregate_diabetes_{bags}_k{k}")
        if k == 1:
            mse = pl.concat([mse.with_columns(agent=pl.lit(lab)) for lab in labels])
        rho = pl.col("agent").str.strip_prefix("rho").cast(pl.Float64)
        frames.append(mse.with_columns(bags=pl.lit(bags), k=pl.lit(k), rho=rho))
    return pl.concat(frames).select("bags", "k", "rho", "replicate", "mse")


def paired(df: pl.DataFrame, a: float, b: float) -> pl.DataFrame:
    """Per ``(bags, k)``: the paired difference MSE(ρ=a) − MSE(ρ=b) over replicates, mean and
    Student-t 95% half width (``olearn.metrics.mean_ci``); negative favours ``a``."""
    wide = df.filter(pl.col("rho").is_in([a, b])).pivot(
        "rho", index=["bags", "k", "replicate"], values="mse")
    diff = wide.with_columns(diff=pl.col(str(a)) - pl.col(str(b)))
    return diff.group_by("bags", "k").agg(mean_ci("diff")).sort("bags", "k")


def study3_tables(df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The mean ± t 95% table (``bags, k, rho, mean, ci95, replicates``) and, per ``(bags, k)``,
    the best interior ρ (lowest mean, picked on the same replicates) paired against ρ = 0 and
    ρ = 1 (columns ``d0, h0, d1, h1``: mean paired difference and t 95% half width;
    ``h0_bonf, h1_bonf``: the half widths Bonferroni-widened for the choice among the
    ``candidates`` interior values, t quantile at 1 − 0.025/candidates).

    "Beats both" needs both intervals below 0: an intersection-union test, valid at the
    intervals' level without a further correction for the two comparisons."""
    table = df.group_by("bags", "k", "rho").agg(mean_ci("mse")).sort("bags", "k", "rho")
    interior = table.filter((pl.col("rho") > 0) & (pl.col("rho") < 1) & (pl.col("k") > 1))
    best = interior.sort("mean").group_by("bags", "k", maintain_order=True).first()
    rows = []
    for bags, k, rho in best.select("bags", "k", "rho").sort("bags", "k").iter_rows():
        one = df.filter((pl.col("bags") == bags) & (pl.col("k") == k))
        vs0 = paired(one, rho, 0.0).row(0, named=True)
        vs1 = paired(one, rho, 1.0).row(0, named=True)
        n = vs0["replicates"]
        m = interior.filter((pl.col("bags") == bags) & (pl.col("k") == k)).height
        widen = stats.t.ppf(1 - 0.025 / m, n - 1) / stats.t.ppf(0.975, n - 1)
        rows.append({"bags": bags, "k": k, "best_rho": rho, "d0": vs0["mean"], "h0": vs0["ci95"],
                     "d1": vs1["mean"], "h1": vs1["ci95"], "replicates": n, "candidates": m,
                     "h0_bonf": vs0["ci95"] * widen, "h1_bonf": vs1["ci95"] * widen})
    return table, pl.DataFrame(rows)


def print_study3(table: pl.DataFrame, pairs: pl.DataFrame, passes: int) -> None:
    for bags in ("fixed", "fresh"):
        t = table.filter(pl.col("bags") == bags)
        if t.is_empty():
            continue
        reps = t["replicates"].max()
        print(f"\n### Study 3 ({bags} bags): diabetes, MLP 10-64-64-1, held-out MSE "
              f"(standardized target), {passes} passes, {reps} replicates, mean ± t 95%\n")
        print("| k | " + " | ".join(f"ρ={r:g}" for r in DIABETES_RHOS) + " | lowest mean |")
        print("|---|" + "---|" * (len(DIABETES_RHOS) + 1))
        for k in t["k"].unique().sort().to_list():
            row = t.filter(pl.col("k") == k).sort("rho")
            cells = [f"{m:.3f}±{h:.3f}" for m, h in zip(row["mean"], row["ci95"], strict=True)]
            best = "any" if k == 1 else f"ρ={row['rho'][int(row['mean'].arg_min())]:g}"
            print(f"| {k} | " + " | ".join(cells) + f" | {best} |")
        p = pairs.filter(pl.col("bags") == bags)
        print(f"\nPaired over the {reps} replicates (same bags for every ρ): best interior ρ* "
              "(lowest mean, chosen on these replicates) minus ρ = 0 and minus ρ = 1, "
              "mean ± t 95% [± Bonferroni-widened for the choice among the interior values]; "
              "negative favours ρ*.\n")
        print("| k | ρ* | MSE(ρ*) − MSE(0) | MSE(ρ*) − MSE(1) | ρ* beats both (t 95%) | "
              "with Bonferroni |")
        print("|---|---|---|---|---|---|")
        for r in p.iter_rows(named=True):
            both = r["d0"] + r["h0"] < 0 and r["d1"] + r["h1"] < 0
            bonf = r["d0"] + r["h0_bonf"] < 0 and r["d1"] + r["h1_bonf"] < 0
            print(f"| {r['k']} | {r['best_rho']:g} | {r['d0']:+.3f} ± {r['h0']:.3f} "
                  f"[± {r['h0_bonf']:.3f}] | {r['d1']:+.3f} ± {r['h1']:.3f} "
                  f"[± {r['h1_bonf']:.3f}] | {'**yes**' if both else 'no'} | "
                  f"{'**yes**' if bonf else 'no'} |")


def study3(quick: bool, replicates: int | None = None,
           bags: tuple[str, ...] = ("fixed", "fresh")) -> pl.DataFrame:
    ks = DIABETES_KS if not quick else [1, 8]
    passes, reps = (20, replicates) if not quick else (2, 2)
    df = pl.concat([diabetes_runs(b, ks, passes, reps) for b in bags])
    table, pairs = study3_tables(df)
    print_study3(table, pairs, passes)
    draw_study3(table)
    return df


def draw_study3(table: pl.DataFrame) -> None:
    """One panel per bag regime: held-out MSE vs ρ, one line per k (t 95% error bars)."""
    bags = table["bags"].unique(maintain_order=True).to_list()
    fig, axes = plt.subplots(1, len(bags), figsize=(6.5 * len(bags), 4.3), squeeze=False,
                             sharey=True)
    for ax, b in zip(axes[0], bags, strict=True):
        t = table.filter(pl.col("bags") == b).sort("k", "rho")
        reps = t["replicates"].max()
        parameter_figure(t.filter(pl.col("k") > 1).with_columns(bag=pl.format("k={}", "k")),
                         "rho", by=["bag"], ax=ax, xlabel="ρ",
                         ylabel="held-out MSE (standardized target)" if ax is axes[0][0] else "",
                         title=f"diabetes, MLP from bag means: {b} bags, {reps} replicates")
        one = t.filter(pl.col("k") == 1)
        if not one.is_empty():            # k = 1: one learner whatever ρ (mean, no interval)
            add_line(ax, [0.0, 1.0], [one["mean"][0]] * 2, fmt="k--",
                     label=f"k=1 (every ρ the same learner): {one['mean'][0]:.3f}")
    fig.tight_layout()
    fig.savefig(DOCS / "aggregate_diabetes.png", dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--study", type=int, choices=(1, 2, 3), action="append")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--replicates", type=int, default=None,
                   help="study 1's and 3's replicates (default: the specs' 50)")
    p.add_argument("--bags", choices=("fixed", "fresh"), action="append",
                   help="study 3: the paper's fixed bags and/or a fresh partition every pass "
                        "(default: both)")
    args = p.parse_args()
    torch.set_num_threads(1)
    for s in args.study or (1, 2, 3):
        if s == 1:
            study1(args.quick, args.replicates)
        elif s == 2:
            study2(args.quick)
        else:
            study3(args.quick, args.replicates, tuple(args.bags or ("fixed", "fresh")))


if __name__ == "__main__":
    main()
