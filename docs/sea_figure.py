"""Figures and numbers of docs/sea.md: SEA regret curves and regret vs the SEA variance terms.

Run from the repository root (about an hour from scratch on two busy CPU cores; seconds
when ``runs/out/`` already holds the finished runs)::

    python docs/sea_figure.py            # writes docs/sea_regret.png, docs/sea_bound.png

It runs ``runs/sea_{iid_sigma0,iid_sigma01,iid_sigma04,adversarial}.toml`` (into
``runs/out/``, reusing finished runs), a σ sweep, ``runs/sea_dynamic{,_switching}.toml``
(dynamic regret) and ``runs/sea_exp_concave{_d2,,_d8}.toml``, then prints the tables quoted
in sea.md. The curves are drawn by :func:`olearn.plot.regret_figure` (Student-t 95% bands),
final regret against σ²₁:T + Σ²₁:T by :func:`olearn.plot.parameter_figure` (Student-t 95%
error bars; the corrupted streams' negative regret is left off the log scale).

The specs record rounds 1000 and 4000 exactly (``record.at``) on top of their log-spaced
rounds; the table reads exactly the rounds it names and fails if one was not recorded.
Cells are ``mean ± half width`` of the Student-t 95% interval over replicates
(:func:`olearn.metrics.mean_ci`; ``n/a`` with one replicate). Which regret each row reports:
the env's ``regret`` column, ``Σ F_t(x_t) − min_x Σ F_t(x)`` with ``F_t = E_{D_t} f_t``. For
the i.i.d. rows that is the SEA pseudo-regret (noise averaged out); the last column adds the
regret against the realized losses (``realized_regret``). For the random-sign rows the env
treats the signs as the adversary's (``D_t`` a Dirac mass), so ``regret`` is regret against
the realized sign sequence; averaged over the fair signs every ``F_t`` is 0 and the SEA
pseudo-regret is exactly 0 for every learner (the last column), while constant play ``x = 0``
already has regret ``‖c‖·E|Σ_t s_t| ≈ ‖c‖√(2T/π)`` against the realized signs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.figure import Figure

import olearn
from olearn import plot
from olearn.metrics import mean_ci

ROOT = Path(__file__).resolve().parent.parent
PANELS = [("sea_iid_sigma0", "i.i.d., σ = 0"), ("sea_iid_sigma01", "i.i.d., σ = 0.1"),
          ("sea_iid_sigma04", "i.i.d., σ = 0.4"), ("sea_adversarial", "adversarial (random signs)")]
AGENTS = ("oomd", "ogd", "oftrl")   # the specs' order: colours C0, C1, C2 in both figures
ROUNDS = (1000, 4000, 16000)


def _cell(mean: float, half: float | None) -> str:
    """``mean ± half`` (Student-t 95% half width), ``n/a`` for the interval of one replicate."""
    return f"{mean:.2f} ± " + ("n/a" if half is None or not np.isfinite(half) else f"{half:.2f}")


def _run(spec: olearn.RunSpec | Path, out: Path) -> pl.LazyFrame:
    """Simulate ``spec`` into ``out`` unless a complete run of the same spec digest is there."""
    if isinstance(spec, Path):
        spec = olearn.RunSpec.from_toml(spec)
    meta = out / "meta.json"
    done = meta.is_file() and json.loads(meta.read_text())
    if not (done and done.get("status") == "complete" and done.get("digest") == spec.digest()):
        olearn.simulate(spec, out=out, force=True, quiet=True)
    return olearn.load(out)


def regret_figure() -> list[str]:
    """Regret curves of the four streams (:func:`olearn.plot.regret_figure`, log-log, values
    below 0.001 drawn at 0.001) and the table of regret at rounds 1000, 4000 and 16000."""
    fig = Figure(figsize=(17, 4.2), dpi=110)
    axes = fig.subplots(1, 4)
    rows = []
    for ax, (name, title) in zip(axes, PANELS, strict=True):
        out = ROOT / "runs" / "out" / name
        lf = _run(ROOT / "runs" / f"{name}.toml", out)
        plot.regret_figure([out], ax=ax, include=AGENTS, log_x=True, log_y=True, floor=1e-3,
                           title=title)
        ax.title.set_fontsize(11)
        df = lf.group_by("agent", "t").agg(mean_ci("regret")).sort("t").collect()
        real = (lf.group_by("agent", "t").agg(mean_ci("realized_regret"))
                .filter(pl.col("t") == ROUNDS[-1]).collect())
        random_signs = name == "sea_adversarial"
        for agent in AGENTS:
            d = df.filter(pl.col("agent") == agent)
            t, m = d["t"].to_numpy(), d["mean"].to_numpy()
            cells = []
            for T in ROUNDS:   # exactly the rounds the table names (record.at), or fail
                row = d.filter(pl.col("t") == T)
                if row.height != 1:
                    raise SystemExit(f"{name}: round {T} was not recorded (record.at)")
                cells.append(_cell(row["mean"][0], row["ci95"][0]))
            keep = t >= 250
            slope = float(np.polyfit(np.log(t[keep]), np.log(np.maximum(m[keep], 1e-9)), 1)[0])
            if random_signs:   # F_t = E_s f_t = 0 for every x: pseudo-regret 0 exactly
                other = "0 (exact)"
            else:
                r = real.filter(pl.col("agent") == agent)
                other = _cell(r["mean"][0], r["ci95"][0])
            rows.append(f"| {title} | {agent} | " + " | ".join(cells)
                        + f" | {slope:.2f} | {other} |")
        if random_signs:
            ts = np.geomspace(1, ROUNDS[-1], 60)
            plot.add_line(ax, ts, np.sqrt(2 * ts / np.pi), label="x = 0: √(2t/π)")
        ax.grid(alpha=0.3, which="both")
        ax.set_ylabel("")
    for ax in axes[1:-1]:                 # the same three agents: one legend each side
        ax.get_legend().remove()
    axes[0].set_ylabel("regret (mean of 8 replicates)")
    fig.suptitle("SEA-v0, linear losses on the unit ball in R^5: optimistic OMD vs OGD vs "
                 "optimistic FTRL")
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "sea_regret.png")
    return rows


def bound_figure() -> list[str]:
    sigmas = [0.0, 0.05, 0.1, 0.2, 0.4, 0.8]
    settings = [("iid", {"regime": "iid", "sigma": s}) for s in sigmas]
    settings += [("adversarial", {"regime": "adversarial", "sigma": s}) for s in (0.0, 0.2)]
    settings += [("corrupted", {"regime": "corrupted", "sigma": 0.1, "budget": c})
                 for c in (20.0, 200.0)]
    pts: list[dict[str, object]] = []
    rows = []
    for kind, env in settings:
        spec = olearn.RunSpec.from_dict({
            "name": f"sea_bound_{kind}_{env['sigma']}_{env.get('budget', 0)}",
            "horizon": 4000, "replicates": 8,
            "seed": 0, "device": "cpu", "record": {"log": 10},
            "env": {"id": "olearn/SEA-v0", "kwargs": {"dim": 5, **env}},
            "agents": [{"label": a, "id": i, "kwargs": {"G": 2.5}} for a, i in
                       (("oomd", "olearn/OptimisticOMD-v0"), ("ogd", "olearn/OGD-v0"),
                        ("oftrl", "olearn/OptimisticFTRL-v0"))]})
        lf = _run(spec, ROOT / "runs" / "out" / spec.name)
        fin = (lf.filter(pl.col("t") == 4000)
               .with_columns((pl.col("sigma2_cum") + pl.col("adv_variation_cum")).alias("var"))
               .group_by("agent").agg(*mean_ci("regret"), pl.col("var").mean())
               .sort("agent").collect())
        for rec in fin.iter_rows(named=True):
            pts.append({"kind": kind, "agent": rec["agent"], "var": rec["var"],
                        "mean": rec["mean"], "ci95": rec["ci95"]})
            rows.append(f"| {kind} {env.get('budget', '')} | {env['sigma']} | {rec['agent']} | "
                        f"{rec['var']:.1f} | {_cell(rec['mean'], rec['ci95'])} | "
                        f"{rec['mean'] / np.sqrt(rec['var']):.2f} |")
    kinds = list(dict.fromkeys(k for k, _ in settings))
    table = (pl.DataFrame(pts)
             .filter(pl.col("mean") > 0)     # negative regret (corrupted): not on a log scale
             .sort(pl.col("agent").replace_strict(AGENTS, range(len(AGENTS))),
                   pl.col("kind").replace_strict(kinds, range(len(kinds)), default=None)))
    fig = Figure(figsize=(6.5, 4.6), dpi=110)
    plot.parameter_figure(
        table, "var", by=("agent",), marker_by="kind", line=False, ax=fig.subplots(),
        log_x=True, log_y=True, xlabel="σ²_{1:T} + Σ²_{1:T}  (T = 4000)",
        ylabel="final regret (mean of 8)", title="SEA-v0: final regret vs the SEA variance terms")
    v = np.geomspace(1, float(table["var"].max()), 50)
    plot.add_line(fig.axes[0], v, np.sqrt(v), fmt="k--", label="√(σ²₁:T + Σ²₁:T)",
                  legend={"fontsize": 7, "title_fontsize": 7, "ncols": 2, "loc": "upper left"})
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "sea_bound.png")
    return rows


def dynamic_table() -> list[str]:
    """Dynamic regret of the ensemble, its near-best grid members and single learners."""
    rows = []
    for name, title in (("sea_dynamic", "drift 0.003 rad/round, σ = 0.1"),
                        ("sea_dynamic_switching", "flip every 500, σ = 0.4")):
        lf = _run(ROOT / "runs" / f"{name}.toml", ROOT / "runs" / "out" / name)
        df = (lf.filter(pl.col("t").is_in(ROUNDS)).group_by("agent", "t")
              .agg(*mean_ci("dynamic_regret"), pl.col("path_length").mean().alias("P"))
              .sort("agent", "t").collect())
        for agent in df["agent"].unique(maintain_order=True):
            d = df.filter(pl.col("agent") == agent)
            if d.height != len(ROUNDS):
                raise SystemExit(f"{name}: rounds {ROUNDS} were not all recorded (record.at)")
            cells = [_cell(m, h) for m, h in zip(d["mean"], d["ci95"], strict=True)]
            rows.append(f"| {title} | {agent} | " + " | ".join(cells)
                        + f" | {d['P'][-1]:.0f} |")
    return rows


def exp_concave_table() -> list[str]:
    """Online-Newton optimistic OMD (β = 0.5, 5) vs OGD on least squares, d = 2, 4, 8."""
    rows = []
    for name, d in (("sea_exp_concave_d2", 2), ("sea_exp_concave", 4), ("sea_exp_concave_d8", 8)):
        lf = _run(ROOT / "runs" / f"{name}.toml", ROOT / "runs" / "out" / name)
        df = (lf.filter(pl.col("t").is_in([500, 2000])).group_by("agent", "t")
              .agg(mean_ci("regret")).sort("agent", "t").collect())
        for agent in df["agent"].unique(maintain_order=True):
            m = df.filter(pl.col("agent") == agent)
            if m.height != 2:
                raise SystemExit(f"{name}: rounds 500 and 2000 were not both recorded")
            cells = [_cell(a, h) for a, h in zip(m["mean"], m["ci95"], strict=True)]
            rows.append(f"| {d} | {agent} | " + " | ".join(cells)
                        + f" | {m['mean'][1] - m['mean'][0]:.2f} |")
    return rows


if __name__ == "__main__":
    print("| setting | agent | R(1000) | R(4000) | R(16000) | log-log slope (t ≥ 250) "
          "| realized regret / pseudo-regret at 16000 |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(regret_figure()))
    sys.stdout.flush()
    print("\n| regime | σ | agent | σ²₁:T + Σ²₁:T | final regret | regret / √(σ²+Σ²) |")
    print("|---|---|---|---|---|---|")
    print("\n".join(bound_figure()))
    sys.stdout.flush()
    print("\n| stream | agent | D-R(1000) | D-R(4000) | D-R(16000) | P_T |")
    print("|---|---|---|---|---|---|")
    print("\n".join(dynamic_table()))
    sys.stdout.flush()
    print("\n| d | agent | R(500) | R(2000) | R(2000) − R(500) |")
    print("|---|---|---|---|---|")
    print("\n".join(exp_concave_table()))
