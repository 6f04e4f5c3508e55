"""Figures and numbers of docs/linear_mdp.md: regret vs K, regret vs A, the tabular case, the
switching, random-walk and anti-uniform adversaries.

Run from the repository root (CPU; about 40 minutes on the shared 2-core VM)::

    python docs/linear_mdp_figure.py     # writes docs/linear_mdp_{regret,actions,adversaries}.png
    python docs/linear_mdp_figure.py --stage main     # or tabular, per_replicate, actions,
                                                      # adversaries
    python docs/linear_mdp_figure.py --partial        # tables/figures from what is written so far

It runs ``runs/linear_mdp_{regret_vs_k,lb_eta,tabular,tabular_defaults,per_replicate}.toml``,
``runs/linear_mdp_actions.toml`` and
``runs/linear_mdp_{switching,random_walk,anti_uniform}.toml`` (into ``runs/out/``, reusing
finished runs; the actions study overrides ``actions`` per run) and prints the tables quoted
in linear_mdp.md (the adversaries stage: about 4 minutes per adversary). Slopes are
least-squares fits of log(mean regret) on log(K) over the recorded episodes with ``K ≥ 500``;
bands are 95% Student-t intervals over replicates. The curves are drawn by
:func:`olearn.plot.regret_figure` (reference slope 1/2 by :func:`olearn.plot.add_line`), regret
against A by :func:`olearn.plot.parameter_figure` (95% Student-t error bars).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from matplotlib.figure import Figure
from scipy import stats

import olearn
from olearn import plot
from olearn.errors import OlearnError
from olearn.registry import make_agent, make_env

ROOT = Path(__file__).resolve().parent.parent
ACTIONS = (2, 4, 8)
ADVERSARIES = ("switching", "random_walk", "anti_uniform")


PARTIAL = "--partial" in sys.argv   # read what the runs have written so far; run nothing


def _run(spec: olearn.RunSpec | Path, out: Path) -> pl.DataFrame:
    """Simulate ``spec`` into ``out`` unless a run of the same spec digest is there (complete:
    reused; interrupted: continued); a run of an edited spec is redone."""
    if isinstance(spec, Path):
        spec = olearn.RunSpec.from_toml(spec)
    meta = out / "meta.json"
    done = json.loads(meta.read_text()) if meta.is_file() else None
    if PARTIAL:
        pass
    elif done is None or done.get("digest") != spec.digest():
        olearn.simulate(spec, out=out, force=True, quiet=True)
    elif done.get("status") != "complete":        # an interrupted run: continue it
        olearn.simulate(spec, out=out, resume=True, quiet=True)
    return (olearn.load(out).group_by("agent", "t")
            .agg(pl.col("regret").mean().alias("m"), pl.col("regret").std().alias("s"),
                 pl.len().alias("n"))
            .sort("t").collect())


def _slope(t: np.ndarray, m: np.ndarray, start: int = 500) -> float:
    keep = t >= start
    return float(np.polyfit(np.log(t[keep]), np.log(np.maximum(m[keep], 1e-9)), 1)[0])


def _band(d: pl.DataFrame) -> np.ndarray:
    n = d["n"].to_numpy()
    return stats.t.ppf(0.975, np.maximum(n - 1, 1)) * d["s"].fill_null(0).to_numpy() / np.sqrt(n)


def curves(name: str, title: str, png: str | None) -> list[str]:
    out = ROOT / "runs" / "out" / name
    df = _run(ROOT / "runs" / f"{name}.toml", out)
    fig = Figure(figsize=(7, 4.5), dpi=120) if png else None
    rows = _curves(df, title, fig.subplots() if fig else None, out)
    if fig:
        fig.tight_layout()
        fig.savefig(ROOT / "docs" / png)
    return rows


def _curves(df: pl.DataFrame, title: str, ax: Any, out: Path) -> list[str]:
    """The table rows of one run and, given ``ax``, its regret curves (log-log when every
    curve is positive from K = 500 on, else symlog-y)."""
    rows = []
    signed = True          # every curve positive from K = 500 on: log axes
    for agent in sorted(df["agent"].unique().to_list()):
        d = df.filter(pl.col("agent") == agent)
        t, m, half = d["t"].to_numpy(), d["m"].to_numpy(), _band(d)
        # a drifting loss can let a learner beat the best fixed policy: no log-log slope then
        positive = bool((m[t >= 500] > 0).all())
        signed &= positive
        slope = f"{_slope(t, m):.2f}" if positive else "n/a"
        at = [f"{float(m[np.searchsorted(t, k)]):.1f}" if k <= t[-1] else "—"
              for k in (500, 2000)]
        rows.append(f"| {title} | {agent} | {' | '.join(at)} | {int(t[-1])} | "
                    f"{m[-1]:.1f} ± {half[-1]:.1f} | {slope} |")
    if ax is not None:     # colours in the specs' agent order: the same in every panel
        plot.regret_figure([out], ax=ax, log_x=True, log_y=signed, floor=0.1 if signed else None,
                           slopes=True, slope_from=500, title=title)
        if signed:
            ks = np.array([500.0, float(df["t"].max())])
            base = float(df.filter(pl.col("t") >= 500)["m"].min())
            plot.add_line(ax, ks, base * (ks / ks[0]) ** 0.5, label="slope 1/2")
            ax.set_ylim(bottom=0.1)
        else:                                   # negative regret: log-like but signed
            ax.set_yscale("symlog", linthresh=10.0)
        ax.set(xlabel="episode K", ylabel="regret (mean, 95% t band)")
        ax.title.set_fontsize(11)
        ax.grid(alpha=0.3, which="both")
    return rows


def _etas(spec_path: Path) -> dict[str, str]:
    """The step size each agent of a spec actually uses (its ``eta_``), by label."""
    spec = olearn.RunSpec.from_toml(spec_path)
    env = make_env(spec.env.id, num_envs=1, device=torch.device("cpu"), kwargs=spec.env.kwargs)
    out = {}
    for e in spec.agents:
        agent = make_agent(e.id, env.single_observation_space, env.single_action_space,
                           **e.kwargs)
        eta = getattr(agent, "eta_", None)
        out[e.label] = "—" if eta is None else f"{eta:.3g}"
    return out


def _paired_ratio(name: str, agent: str, reference: str) -> str:
    """Mean over replicates of agent/reference final regret (same instance per replicate)."""
    last = (olearn.load(ROOT / "runs" / "out" / name).collect()
            .filter(pl.col("t") == pl.col("t").max()))
    a, b = (last.filter(pl.col("agent") == x).sort("replicate")["regret"].to_numpy()
            for x in (agent, reference))
    ratio = a / b
    half = stats.t.ppf(0.975, len(ratio) - 1) * ratio.std(ddof=1) / np.sqrt(len(ratio))
    return (f"| paired, per replicate | {agent} ÷ {reference} | | | | "
            f"{ratio.mean():.2f} ± {half:.2f} (range {ratio.min():.2f}–{ratio.max():.2f}) | |")


def adversaries_study() -> list[str]:
    """Regret vs K for every agent under the switching, random-walk and anti-uniform losses:
    one table per adversary (regret at K = 500, 2000 and the last K, the 95% t interval, the
    ratio to uniform play's regret, the log-log slope) and one figure with a panel each."""
    rows = []
    fig = Figure(figsize=(18, 4.8), dpi=110)
    axes = fig.subplots(1, len(ADVERSARIES))
    for adv, ax in zip(ADVERSARIES, axes, strict=True):
        name = f"linear_mdp_{adv}"
        out = ROOT / "runs" / "out" / name
        try:
            df = _run(ROOT / "runs" / f"{name}.toml", out)
        except OlearnError:
            if not PARTIAL:
                raise
            continue                                   # --partial: nothing written yet
        _curves(df, f"{adv} adversary (H=3, S=5, A=4, d=4)", ax, out)
        etas = _etas(ROOT / "runs" / f"{name}.toml")
        last = df.filter(pl.col("t") == pl.col("t").max())
        uniform = last.filter(pl.col("agent") == "UniformPolicy")["m"]
        rows += [f"\n{adv} (`olearn simulate runs/{name}.toml`, K = {int(df['t'].max())}, "
                 f"R = {int(df['n'].max())}):\n",
                 "| agent | η | regret K=500 | K=2000 | regret at last K (± 95% t) "
                 "| ÷ uniform | slope (K ≥ 500) |",
                 "|---|---|---|---|---|---|---|"]
        table = []
        for agent in df["agent"].unique().to_list():
            d = df.filter(pl.col("agent") == agent)
            t, m, half = d["t"].to_numpy(), d["m"].to_numpy(), _band(d)
            at = [f"{float(m[np.searchsorted(t, k)]):.1f}" if k <= t[-1] else "—"
                  for k in (500, 2000)]
            ratio = f"{m[-1] / float(uniform[0]):.2f}" if len(uniform) else "—"
            # a drifting loss can let a learner beat the best fixed policy: no log-log slope
            slope = f"{_slope(t, m):.2f}" if (m[t >= 500] > 0).all() else "n/a (regret < 0)"
            part = "" if len(last.filter(pl.col("agent") == agent)) else f" (at K = {t[-1]})"
            table.append((float(m[-1]), f"| {agent} | {etas.get(agent, '?')} | "
                          f"{' | '.join(at)} | {m[-1]:.1f} ± {half[-1]:.1f}{part} | {ratio} | "
                          f"{slope} |"))
        rows += [row for _, row in sorted(table)]
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "linear_mdp_adversaries.png")
    return rows


def actions_study() -> list[str]:
    finals: dict[str, list[float]] = {}
    points: list[dict[str, Any]] = []
    rows = []
    for a in ACTIONS:
        if PARTIAL and not (ROOT / "runs" / "out" / f"linear_mdp_actions_A{a}").is_dir():
            continue
        spec = olearn.RunSpec.from_toml(ROOT / "runs" / "linear_mdp_actions.toml")
        spec.env.kwargs["actions"] = a
        spec.name = f"linear_mdp_actions_A{a}"
        df = _run(spec, ROOT / "runs" / "out" / spec.name)
        last = df.filter(pl.col("t") == pl.col("t").max())
        for agent, m, s, n in last.select("agent", "m", "s", "n").iter_rows():
            finals.setdefault(agent, []).append(m)
            half = stats.t.ppf(0.975, max(n - 1, 1)) * (s or 0.0) / np.sqrt(n)
            rows.append(f"| A = {a} | {agent} | {m:.1f} ± {half:.1f} |")
            points.append({"agent": agent, "A": a, "mean": m, "ci95": half})
    labels = {}
    for agent, ms in finals.items():
        acts = ACTIONS[: len(ms)]
        if len(ms) < 2:
            continue
        slope = float(np.polyfit(np.log(acts), np.log(np.maximum(ms, 1e-9)), 1)[0])
        labels[agent] = f"{agent} (slope in A {slope:.2f})"
        rows.append(f"| slope in A | {agent} | {slope:.2f} |")
    table = (pl.DataFrame(points, schema={"agent": pl.String, "A": pl.Int64,
                                          "mean": pl.Float64, "ci95": pl.Float64})
             .filter(pl.col("agent").is_in(list(labels)))
             .with_columns(pl.col("agent").replace_strict(labels)))
    fig = Figure(figsize=(5.5, 4), dpi=120)
    ax = fig.subplots()
    plot.parameter_figure(table, "A", ax=ax, log_x=True, log_y=True, xlabel="actions A",
                          ylabel="regret at the last episode", title="regret vs A (claim 2)")
    ax.set_xticks(ACTIONS, [str(a) for a in ACTIONS], minor=False)
    ax.set_xticks([], minor=True)
    fig.savefig(ROOT / "docs" / "linear_mdp_actions.png")
    return rows


def main() -> None:
    """``--stage main|tabular|per_replicate|actions|adversaries`` runs one study only (stages
    can run in parallel)."""
    stage = sys.argv[sys.argv.index("--stage") + 1] if "--stage" in sys.argv else "all"
    rows = []
    if stage in ("all", "main"):
        rows += curves("linear_mdp_regret_vs_k", "linear MDP (H=3, S=5, A=4, d=4), stochastic",
                       "linear_mdp_regret.png")
        rows += curves("linear_mdp_lb_eta", "same instance, LogBarrierPO η = 0.1", None)
    if stage in ("all", "tabular"):
        rows += curves("linear_mdp_tabular", "tabular MDP (H=3, S=3, A=3, d=9)", None)
        rows += curves("linear_mdp_tabular_defaults", "tabular, default η", None)
    if stage in ("all", "per_replicate"):
        rows += curves("linear_mdp_per_replicate", "stochastic, one instance per replicate", None)
        rows.append(_paired_ratio("linear_mdp_per_replicate", "SimulatorFreePO", "UniformPolicy"))
    if rows:
        print("| setting | agent | regret K=500 | K=2000 | last K | regret at last K (± 95% t) "
              "| slope (K ≥ 500) |")
        print("|---|---|---|---|---|---|---|")
        print("\n".join(rows))
    if stage in ("all", "actions"):
        print("\n".join(actions_study()))
    if stage in ("all", "adversaries"):
        print("\n".join(adversaries_study()))


if __name__ == "__main__":
    main()
