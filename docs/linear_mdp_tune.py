"""The adversarial linear-MDP step sizes under the tuning protocol of docs/tuning.md.

    nice python docs/linear_mdp_tune.py            # tune, write the reporting specs, report
    nice python docs/linear_mdp_tune.py --jobs 2   # the same, two tasks at a time
    nice python docs/linear_mdp_tune.py --quick    # the same pipeline at toy sizes (smoke test)
    python docs/linear_mdp_tune.py --tables        # print the tables of finished runs again
    python docs/linear_mdp_tune.py --write-tune-specs   # rewrite runs/tune/linear_mdp_*.toml

Protocol (docs/tuning.md): each of LogBarrierPO, MagnitudeReducedPO, ExpWeightsPO and
SimulatorFreePO has one sweep spec per adversary under ``runs/tune/``
(``linear_mdp_<adversary>_<agent>.toml``): the agent alone, its own grid of 6 geometric η
values, tuning root seed 1000, K = 600 episodes, R = 2 (the switching adversary changes its
loss once, at episode 500). UniformPolicy has no knob and is the reference. The η with the
lowest mean final regret (``olearn.sweep.report.best``) is written
into ``runs/linear_mdp_tuned_<adversary>.toml`` (root seed 0, K = 2,000, R = 4, all five
agents), which is run (one agent at a time, each alone: each agent of a spec runs on its own
fresh env with the same seeds, so a one-agent run is that agent's part of the spec) and
summarised:
final regret mean ± Student-t 95% interval (``olearn.metrics.final``), ratio to
UniformPolicy, and the log-log slope of the mean regret over the second half (least squares
on the recorded K ∈ [K/2, K]). The numbers go to
``docs/linear_mdp_tuned.json``, the markdown tables to stdout (pasted into docs/linear_mdp.md).

Every agent is built with ``horizon`` = the reporting K in both the tuning and the reporting
runs, so everything but η (γ, β, rollouts, SimulatorFreePO's epochs) is the same in both; the
tuning runs simply stop after 600 episodes (a tuning K of 2,000 was tried: about 110 s a
LogBarrierPO task on the loaded machine, against 13 s measured minutes before at a lower load,
so over an hour for the 72 tasks: too long for the budget).

At most ``--jobs`` tasks (a tuning sweep or a reporting agent) run at a time (default 1: the
machine is shared), each single-threaded.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
TUNE_DIR = ROOT / "runs" / "tune"
OUT = ROOT / "runs" / "out"
TABLES_JSON = ROOT / "docs" / "linear_mdp_tuned.json"

INSTANCE = {"H": 3, "states": 5, "actions": 4, "d": 4, "instance_seed": 0}
# adversary -> extra env kwargs (those of runs/linear_mdp_<adversary>.toml; the stochastic one
# is runs/linear_mdp_regret_vs_k.toml)
ADVERSARIES: dict[str, dict[str, Any]] = {
    "stochastic": {"adversary": "stochastic"},
    "switching": {"adversary": "switching"},
    "anti_uniform": {"adversary": "anti_uniform"},
}

REPORT = {"horizon": 2000, "replicates": 4, "seed": 0, "every": 20}
TUNE = {"horizon": 600, "replicates": 2, "seeds": [1000], "every": 20}
QUICK = {"tune_horizon": 60, "horizon": 120, "replicates": 2, "every": 10}

# label -> (id, grid of eta: 6 geometric values, ratio 4, bracketing the papers' default at
# the reporting K = 2,000 and the value of the earlier (uncommitted) study). The first tuning
# (4 values) selected the top of the grid 11 times in 12: the grids were extended upwards by
# two values each (x16), the same budget for every agent. Defaults at
# K = 2,000, H = 3, A = 4, d = 4: LogBarrierPO / SimulatorFreePO sqrt(A ln K / (d H^2 K)) = 0.021,
# MagnitudeReducedPO sqrt(ln A / (d H^2 K)) = 0.0044, ExpWeightsPO gamma / H = K^(-1/3) / 3 = 0.026.
AGENTS: dict[str, tuple[str, list[float]]] = {
    "LogBarrierPO": ("olearn/LogBarrierPO-v0", [0.01, 0.04, 0.16, 0.64, 2.56, 10.24]),
    "MagnitudeReducedPO": ("olearn/MagnitudeReducedPO-v0",
                           [0.002, 0.008, 0.032, 0.128, 0.512, 2.048]),
    "ExpWeightsPO": ("olearn/ExpWeightsPO-v0", [0.005, 0.02, 0.08, 0.32, 1.28, 5.12]),
    "SimulatorFreePO": ("olearn/SimulatorFreePO-v0", [0.01, 0.04, 0.16, 0.64, 2.56, 10.24]),
}
REFERENCE = ("UniformPolicy", "olearn/UniformPolicy-v0")
LABELS = [*AGENTS, REFERENCE[0]]
# bounds the tasks running at once (main sets it from --jobs); the thread pools only order them
SLOTS = threading.BoundedSemaphore(1)


# ---------------------------------------------------------------------------- specs
def env(adversary: str) -> dict[str, Any]:
    return {"id": "olearn/LinearMDP-v0", "kwargs": {**INSTANCE, **ADVERSARIES[adversary]}}


def tune_spec_path(adversary: str, label: str) -> Path:
    return TUNE_DIR / f"linear_mdp_{adversary}_{label}.toml"


def write_tune_specs() -> None:
    """(Re)write runs/tune/linear_mdp_*.toml from the tables above (the files are the record)."""
    import tomli_w

    TUNE_DIR.mkdir(parents=True, exist_ok=True)
    for adversary in ADVERSARIES:
        for label, (aid, etas) in AGENTS.items():
            spec = {"name": f"tune_linear_mdp_{adversary}_{label}", "horizon": TUNE["horizon"],
                    "replicates": TUNE["replicates"], "device": "cpu", "threads": 1,
                    "record": {"every": TUNE["every"]}, "env": env(adversary),
                    "agents": [{"label": label, "id": aid,
                                "kwargs": {"horizon": REPORT["horizon"]}}],
                    "sweep": {f"agents.{label}.kwargs.eta": etas, "seed": TUNE["seeds"]}}
            head = (f"# Tuning sweep for {label} on the {adversary} linear MDP (docs/tuning.md): "
                    f"{len(etas)} step sizes x tuning seed {TUNE['seeds']}.\n"
                    "# The agent is built for the reporting K (horizon kwarg); the run stops at "
                    f"K = {TUNE['horizon']}.\n"
                    "# Run by docs/linear_mdp_tune.py; alone: olearn sweep "
                    f"{tune_spec_path(adversary, label).relative_to(ROOT)}\n")
            tune_spec_path(adversary, label).write_text(head + tomli_w.dumps(spec))


def read_tune(adversary: str, label: str, quick: bool) -> tuple[dict[str, Any], dict]:
    from olearn.sweep.grid import read_sweep

    base, grid = read_sweep(tune_spec_path(adversary, label))
    if quick:
        base["horizon"] = QUICK["tune_horizon"]
        base["record"] = {"every": QUICK["every"]}
        base["agents"][0]["kwargs"]["horizon"] = QUICK["horizon"]
    return base, grid


# ---------------------------------------------------------------------------- tuning
def tune_dir(out_root: Path, adversary: str, label: str) -> Path:
    return out_root / "tune" / f"linear_mdp_{adversary}_{label}"


def tune(adversary: str, label: str, out_root: Path, quick: bool) -> dict[str, Any]:
    """Run one agent's tuning sweep (resuming a finished one is free); return its best row."""
    from olearn.sweep import run_sweep
    from olearn.sweep.report import best

    base, grid = read_tune(adversary, label, quick)
    out = tune_dir(out_root, adversary, label)
    with SLOTS:
        t0 = time.time()
        res = run_sweep(base, grid, out=out, workers=1, resume=out.exists(), quiet=True)
    if res.failed:
        raise SystemExit(f"{out}: {len(res.failed)} tuning task(s) failed: "
                         f"{res.failed[0]['error']}")
    row = best(out).row(0, named=True)
    eta = row[f"agents.{label}.kwargs.eta"]
    etas = grid[f"agents.{label}.kwargs.eta"]
    print(f"tuned {adversary:12s} {label:18s} eta={eta} -> {row['mean']:.1f} ± {row['ci95']:.1f}"
          f" ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    return {"eta": eta, "edge": eta in (min(etas), max(etas)), "tune_mean": row["mean"],
            "tune_ci95": row["ci95"]}


def grid_rows(adversary: str, label: str, out_root: Path) -> list[dict[str, Any]]:
    """Every η of one tuning sweep: mean and interval of final regret on the tuning seed."""
    from olearn.sweep.report import final_by_config

    table, _ = final_by_config(tune_dir(out_root, adversary, label))
    key = f"agents.{label}.kwargs.eta"
    return [{"eta": r[key], "mean": r["mean"], "ci95": r["ci95"]}
            for r in table.sort(key).iter_rows(named=True)]


# ---------------------------------------------------------------------------- reporting
def report_spec(adversary: str, chosen: dict[str, dict[str, Any]], quick: bool) -> dict[str, Any]:
    k = QUICK["horizon"] if quick else REPORT["horizon"]
    agents = [{"label": label, "id": aid, "kwargs": {"horizon": k, "eta": chosen[label]["eta"]}}
              for label, (aid, _) in AGENTS.items()]
    agents.append({"label": REFERENCE[0], "id": REFERENCE[1]})
    return {"name": f"linear_mdp_tuned_{adversary}", "horizon": k,
            "replicates": QUICK["replicates"] if quick else REPORT["replicates"],
            "seed": REPORT["seed"], "device": "cpu", "threads": 1,
            "record": {"every": QUICK["every"] if quick else REPORT["every"]},
            "env": env(adversary), "agents": agents}


def write_spec(path: Path, spec: dict[str, Any], comment: str) -> None:
    from olearn.spec import RunSpec

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(comment + RunSpec.from_dict(spec).to_toml())


def summary(run: str | Path) -> dict[str, dict[str, Any]]:
    """Per agent: final regret (mean, ci95, replicates, K), ratio to UniformPolicy, and the
    least-squares log-log slope of the mean regret over the recorded K in [K/2, K]."""
    import olearn
    from olearn.metrics import curve, final

    lf = pl.concat([olearn.load(d).select("agent", "replicate", "t", "regret")
                    for d in sorted(Path(run).iterdir()) if d.is_dir()])
    fin = final(lf).collect()
    cur = curve(lf).collect()
    ref = fin.filter(pl.col("agent") == REFERENCE[0])["mean"].item()
    out: dict[str, dict[str, Any]] = {}
    for r in fin.iter_rows(named=True):
        c = cur.filter((pl.col("agent") == r["agent"]) & (pl.col("t") >= r["t"] / 2)
                       & (pl.col("t") > 0))
        slope = None
        if c.height >= 2 and c["mean"].min() > 0:
            x = c["t"].cast(pl.Float64).log()
            y = c["mean"].log()
            xm, ym = x.mean(), y.mean()
            slope = float(((x - xm) * (y - ym)).sum() / ((x - xm) ** 2).sum())
        out[r["agent"]] = {"t": r["t"], "mean": r["mean"], "ci95": r["ci95"],
                           "replicates": r["replicates"], "ratio": r["mean"] / ref,
                           "slope": slope}
    return out


def fmt(v: float | None, digits: int = 1) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def markdown(adversary: str, res: dict[str, Any]) -> str:
    cells, chosen = res["final"], res["chosen"]
    lines = [f"**{adversary}** (K = {cells[REFERENCE[0]]['t']}, "
             f"R = {cells[REFERENCE[0]]['replicates']}, root seed {REPORT['seed']}):", "",
             "| agent | selected η | "
             f"tuning regret (K = {TUNE['horizon']}, R = {TUNE['replicates']}) "
             "| final regret ± 95% t "
             "| ÷ uniform | slope (second half) |",
             "|---|---|---|---|---|---|"]
    for label in sorted(LABELS, key=lambda a: cells[a]["mean"]):
        c = cells[label]
        if label in chosen:
            ch = chosen[label]
            eta = f"{ch['eta']:g}" + (" (grid edge)" if ch["edge"] else "")
            tun = f"{fmt(ch['tune_mean'])} ± {fmt(ch['tune_ci95'])}"
        else:
            eta, tun = "—", "—"
        lines.append(f"| {label} | {eta} | {tun} | {fmt(c['mean'])} ± {fmt(c['ci95'])} | "
                     f"{fmt(c['ratio'], 2)} | {fmt(c['slope'], 2)} |")
    return "\n".join(lines)


def tuning_markdown(grids: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    """Every η of every tuning sweep (tuning K and R, seed 1000)."""
    advs = list(grids)
    lines = ["| agent | η | " + " | ".join(advs) + " |", "|---|---|" + "---|" * len(advs)]
    for label in AGENTS:
        rows = [grids[a][label] for a in advs]
        for i, r in enumerate(rows[0]):
            cells = [f"{fmt(g[i]['mean'])} ± {fmt(g[i]['ci95'])}" for g in rows]
            lines.append(f"| {label} | {r['eta']:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main
def report_dir(out_root: Path, adversary: str) -> Path:
    return out_root / f"linear_mdp_tuned_{adversary}"


def report_path(out_root: Path, adversary: str, quick: bool) -> Path:
    return ((out_root / "specs" if quick else ROOT / "runs")
            / f"linear_mdp_tuned_{adversary}.toml")


def run_one_agent(path: Path, label: str, run: Path) -> None:
    """Agent ``label`` of the reporting spec ``path`` alone, into ``run/<label>``."""
    import olearn
    from olearn.spec import RunSpec

    spec = RunSpec.from_toml(path).to_dict()
    spec["agents"] = [a for a in spec["agents"] if a["label"] == label]
    with SLOTS:
        t0 = time.time()
        olearn.simulate(spec, out=run / label, force=True, quiet=True)
    print(f"reported {run.name} {label} ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)


def pipeline(adv: str, out_root: Path, quick: bool, tables: bool) -> dict[str, Any]:
    """One adversary: its four tuning sweeps, then its reporting spec, each agent of it alone
    (so an adversary reports as soon as its own tuning is done); ``SLOTS`` bounds how many of
    these tasks, over all adversaries, run at once."""
    with ThreadPoolExecutor(max_workers=1 if tables else len(LABELS)) as pool:
        futures = {label: pool.submit(tune, adv, label, out_root, quick) for label in AGENTS}
        chosen = {label: futures[label].result() for label in AGENTS}
        if not tables:
            path = report_path(out_root, adv, quick)
            write_spec(path, report_spec(adv, chosen, quick),
                       f"# Reporting spec for the {adv} adversary, written by "
                       "docs/linear_mdp_tune.py from the tuning sweeps\n"
                       f"# runs/tune/linear_mdp_{adv}_*.toml (docs/tuning.md): each agent at "
                       "its selected eta; root seed 0 (tuning used seed 1000).\n"
                       "# The script runs each agent alone into "
                       f"runs/out/linear_mdp_tuned_{adv}/<label>/.\n")
            for j in [pool.submit(run_one_agent, path, label, report_dir(out_root, adv))
                      for label in LABELS]:
                j.result()
    return chosen


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--quick", action="store_true", help="toy sizes, into runs/out/quick")
    p.add_argument("--tables", action="store_true", help="only print the tables of done runs")
    p.add_argument("--adversaries", default=",".join(ADVERSARIES))
    p.add_argument("--jobs", type=int, default=1,
                   help="tasks (tuning sweeps, reporting agents) at once, one thread each")
    p.add_argument("--write-tune-specs", action="store_true",
                   help="rewrite runs/tune/linear_mdp_*.toml from the grids here, then exit")
    a = p.parse_args(argv)
    if a.write_tune_specs:
        write_tune_specs()
        return
    if a.jobs < 1:
        p.error(f"--jobs must be at least 1, got {a.jobs}")
    global SLOTS
    SLOTS = threading.BoundedSemaphore(a.jobs)
    advs = a.adversaries.split(",")
    out_root = OUT / "quick" if a.quick else OUT
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=len(advs)) as outer:   # one pipeline per adversary
        futures = {adv: outer.submit(pipeline, adv, out_root, a.quick, a.tables) for adv in advs}
        chosen = {adv: f.result() for adv, f in futures.items()}
    print(f"done in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    results = {adv: {"chosen": chosen[adv], "final": summary(report_dir(out_root, adv)),
                     "grids": {label: grid_rows(adv, label, out_root) for label in AGENTS}}
               for adv in advs}
    for adv, res in results.items():
        print(markdown(adv, res))
        print()
    print(tuning_markdown({adv: res["grids"] for adv, res in results.items()}))
    if not a.quick:
        data = json.loads(TABLES_JSON.read_text()) if TABLES_JSON.exists() else {}
        data.setdefault("adversaries", {}).update(results)
        data["protocol"] = {"tune": TUNE, "report": REPORT, "instance": INSTANCE,
                            "grids": {k: v[1] for k, v in AGENTS.items()}}
        TABLES_JSON.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
