"""Figures and numbers of docs/sea.md: SEA regret curves and regret vs the SEA variance terms.

Run from the repository root (about 2 minutes on a laptop CPU)::

    python docs/sea_figure.py            # writes docs/sea_regret.png, docs/sea_bound.png

It runs ``runs/sea_{iid_sigma0,iid_sigma01,iid_sigma04,adversarial}.toml`` (into
``runs/out/``, reusing finished runs) and a σ sweep, then prints the tables quoted in sea.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

import olearn  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PANELS = [("sea_iid_sigma0", "i.i.d., σ = 0"), ("sea_iid_sigma01", "i.i.d., σ = 0.1"),
          ("sea_iid_sigma04", "i.i.d., σ = 0.4"), ("sea_adversarial", "adversarial (random signs)")]
COLORS = {"oomd": "C0", "ogd": "C1", "oftrl": "C2"}


def _run(spec: olearn.RunSpec | Path, out: Path) -> pl.LazyFrame:
    meta = out / "meta.json"
    if not (meta.is_file() and '"complete"' in meta.read_text()):
        olearn.simulate(spec, out=out, force=True, quiet=True)
    return olearn.load(out)


def regret_figure() -> list[str]:
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2), sharey=False)
    rows = []
    for ax, (name, title) in zip(axes, PANELS, strict=True):
        lf = _run(ROOT / "runs" / f"{name}.toml", ROOT / "runs" / "out" / name)
        df = (lf.group_by("agent", "t")
              .agg(pl.col("regret").mean().alias("m"), pl.col("regret").std().alias("s"),
                   pl.len().alias("n"))
              .sort("t").collect())
        for agent in ("oomd", "ogd", "oftrl"):
            d = df.filter(pl.col("agent") == agent)
            t, m = d["t"].to_numpy(), d["m"].to_numpy()
            half = 1.96 * d["s"].to_numpy() / np.sqrt(d["n"].to_numpy())
            ax.plot(t, np.maximum(m, 1e-3), label=agent, color=COLORS[agent])
            ax.fill_between(t, np.maximum(m - half, 1e-3), m + half, alpha=0.2,
                            color=COLORS[agent])
            at = {T: float(m[np.searchsorted(t, T)]) for T in (1000, 4000, 16000)}
            keep = t >= 250
            slope = float(np.polyfit(np.log(t[keep]), np.log(np.maximum(m[keep], 1e-9)), 1)[0])
            rows.append(f"| {title} | {agent} | {at[1000]:.2f} | {at[4000]:.2f} | "
                        f"{at[16000]:.2f} | {slope:.2f} |")
        ax.set(xscale="log", yscale="log", title=title, xlabel="round t")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("regret (mean of 8 replicates, 95% band)")
    axes[0].legend()
    fig.suptitle("SEA-v0, linear losses on the unit ball in R^5: optimistic OMD vs OGD vs "
                 "optimistic FTRL")
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "sea_regret.png", dpi=110)
    return rows


def bound_figure() -> list[str]:
    sigmas = [0.0, 0.05, 0.1, 0.2, 0.4, 0.8]
    settings = [("iid", {"regime": "iid", "sigma": s}) for s in sigmas]
    settings += [("adversarial", {"regime": "adversarial", "sigma": s}) for s in (0.0, 0.2)]
    settings += [("corrupted", {"regime": "corrupted", "sigma": 0.1, "budget": c})
                 for c in (20.0, 200.0)]
    pts, rows = [], []
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
        fin = (lf.filter(pl.col("t") == 4000).group_by("agent")
               .agg(pl.col("regret").mean(),
                    (pl.col("sigma2_cum") + pl.col("adv_variation_cum")).mean().alias("var"))
               .collect())
        for rec in fin.iter_rows(named=True):
            pts.append((kind, rec["agent"], rec["var"], rec["regret"]))
            rows.append(f"| {kind} {env.get('budget', '')} | {env['sigma']} | {rec['agent']} | "
                        f"{rec['var']:.1f} | "
                        f"{rec['regret']:.2f} |")
    fig, ax = plt.subplots(figsize=(6.5, 4.6))
    marks = {"iid": "o", "adversarial": "s", "corrupted": "^"}
    for agent in ("oomd", "ogd", "oftrl"):
        for kind in marks:
            p = [(v, r) for k, a, v, r in pts if a == agent and k == kind]
            if p:
                v, r = zip(*p, strict=True)
                ax.scatter(v, r, color=COLORS[agent], marker=marks[kind],
                           label=f"{agent} ({kind})")
    v = np.geomspace(1, max(p[2] for p in pts), 50)
    ax.plot(v, np.sqrt(v), "k--", lw=1, label="√(σ²₁:T + Σ²₁:T)")
    ax.set(xscale="log", yscale="log", xlabel="σ²_{1:T} + Σ²_{1:T}  (T = 4000)",
           ylabel="final regret (mean of 8)",
           title="SEA-v0: final regret vs the SEA variance terms")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "sea_bound.png", dpi=110)
    return rows


if __name__ == "__main__":
    print("| setting | agent | R(1000) | R(4000) | R(16000) | log-log slope (t ≥ 250) |")
    print("|---|---|---|---|---|---|")
    print("\n".join(regret_figure()))
    sys.stdout.flush()
    print("\n| regime | σ | agent | σ²₁:T + Σ²₁:T | final regret |")
    print("|---|---|---|---|---|")
    print("\n".join(bound_figure()))
