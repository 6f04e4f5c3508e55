"""The neural contextual-bandit study under the tuning protocol of docs/tuning.md.

    nice python docs/neural_cb_tune.py            # tune, write the reporting specs, report
    nice python docs/neural_cb_tune.py --quick    # the same pipeline at toy sizes (smoke test)
    python docs/neural_cb_tune.py --tables        # print the tables of finished runs again
    python docs/neural_cb_tune.py --check         # the small reproducibility table only
    nice python docs/neural_cb_tune.py --ablation # perturbation off/on at the tuned lr and γ

Protocol (docs/tuning.md): every agent, baselines included, has one sweep spec per testbed
under ``runs/tune/`` (``neural_cb_<testbed>_<agent>.toml``): its own grid of 4 configurations
on the tuning seed 1000 (R = 2 replicates, T = 200). The configuration with the lowest mean
final regret (``olearn.sweep.report.best``, seeds and replicates pooled) is written into the
reporting spec ``runs/neural_cb_<testbed>.toml`` (root seed 0, R = 6, T = 300: replicates
disjoint from the tuning ones), which is run and summarised as mean ± Student-t 95% interval
of final regret (``olearn.metrics.final`` over ``olearn.load``). The numbers go to
``docs/neural_cb_tables.json`` (what ``tests/docs/test_neural_tables.py`` compares against)
and the markdown tables to stdout (pasted into docs/neural_cb.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from neural_cb_report import (  # noqa: E402
    final_table,
    flattening,
    prune_report,
    run_report,
    simulate_spec,
)

ROOT = Path(__file__).resolve().parents[1]
TUNE_DIR = ROOT / "runs" / "tune"
OUT = ROOT / "runs" / "out"
TABLES_JSON = ROOT / "docs" / "neural_cb_tables.json"
CHECK_SPEC = ROOT / "runs" / "neural_cb_check.toml"

TESTBEDS: dict[str, dict[str, Any]] = {
    # env, reward range (for the IGW agents' loss mapping), reporting horizon, title
    "cosine": {"env": {"id": "olearn/ContextualBandit-v0",
                       "kwargs": {"arms": 4, "dim": 5, "reward": "cosine", "noise": 0.1}},
               "reward_range": [-1.0, 1.0], "horizon": 300, "title": "cosine, K=4, d=5"},
    "quadratic": {"env": {"id": "olearn/ContextualBandit-v0",
                          "kwargs": {"arms": 4, "dim": 5, "reward": "quadratic", "noise": 0.1}},
                  "reward_range": [0.0, 10.0], "horizon": 300, "title": "quadratic, K=4, d=5"},
    "wine": {"env": {"id": "olearn/ClassificationBandit-v0", "kwargs": {"dataset": "wine"}},
             "reward_range": [0.0, 1.0], "horizon": 300, "title": "wine, K=3"},
    "digits": {"env": {"id": "olearn/ClassificationBandit-v0", "kwargs": {"dataset": "digits"}},
               "reward_range": [0.0, 1.0], "horizon": 300, "title": "digits, K=10"},
    "breast_cancer": {"env": {"id": "olearn/ClassificationBandit-v0",
                              "kwargs": {"dataset": "breast_cancer"}},
                      "reward_range": [0.0, 1.0], "horizon": 300, "title": "breast_cancer, K=2"},
}

NEURAL_UCB = {"hidden": [100], "train_steps": 10, "batch_size": 64, "buffer_size": 2000,
              "reg": 0.001, "nu": 1.0}
# label -> (id, fixed kwargs, grid over kwargs: 4 configurations each)
AGENTS: dict[str, tuple[str, dict[str, Any], dict[str, list[Any]]]] = {
    "NeuFastCB": ("olearn/NeuFastCB-v0", {"hidden": [100], "c_p": 0.01, "S": 4},
                  {"lr": [1.0, 2.0], "gamma_scale": [10.0, 100.0]}),
    "NeuSquareCB": ("olearn/NeuSquareCB-v0", {"hidden": [100], "c_p": 0.01, "S": 4},
                    {"lr": [0.2, 1.0], "gamma_scale": [10.0, 100.0]}),
    "NeuralUCB": ("olearn/NeuralUCB-v0", NEURAL_UCB,
                  {"lr": [0.01, 0.1], "train_every": [10, 1]}),
    "NeuralTS": ("olearn/NeuralTS-v0", NEURAL_UCB,
                 {"lr": [0.01, 0.1], "train_every": [10, 1]}),
    "LinUCB": ("olearn/LinUCB-v0", {}, {"alpha": [0.1, 0.3, 1.0, 3.0]}),
    "eps-greedy": ("olearn/EpsilonGreedy-v0", {}, {"epsilon": [0.01, 0.05, 0.1, 0.2]}),
}
IGW = ("NeuFastCB", "NeuSquareCB")

TUNE = {"horizon": 200, "replicates": 2, "seeds": [1000]}
REPORT = {"replicates": 6, "seed": 0}
QUICK = {"tune_horizon": 50, "tune_replicates": 2, "horizon": 100, "replicates": 2}


# ---------------------------------------------------------------------------- specs
def tune_spec_path(testbed: str, label: str) -> Path:
    return TUNE_DIR / f"neural_cb_{testbed}_{label}.toml"


def write_tune_specs() -> None:
    """(Re)write runs/tune/*.toml from the tables above (the committed files are the record)."""
    import tomli_w

    TUNE_DIR.mkdir(parents=True, exist_ok=True)
    for testbed, tb in TESTBEDS.items():
        for label, (aid, fixed, grid) in AGENTS.items():
            kwargs = dict(fixed)
            if label in IGW:
                kwargs["reward_range"] = tb["reward_range"]
            spec = {"name": f"tune_neural_cb_{testbed}_{label}", "horizon": TUNE["horizon"],
                    "replicates": TUNE["replicates"], "device": "cpu", "record": {"every": 10},
                    "env": tb["env"], "agents": [{"label": label, "id": aid, "kwargs": kwargs}],
                    "sweep": {**{f"agents.{label}.kwargs.{k}": v for k, v in grid.items()},
                              "seed": TUNE["seeds"]}}
            head = (f"# Tuning sweep for {label} on {testbed} (docs/tuning.md): "
                    f"{_n(grid)} configurations x tuning seed(s) {TUNE['seeds']}.\n"
                    "# Run by docs/neural_cb_tune.py; alone: olearn sweep "
                    f"{tune_spec_path(testbed, label).relative_to(ROOT)}\n")
            tune_spec_path(testbed, label).write_text(head + tomli_w.dumps(spec))


def _n(grid: dict[str, list[Any]]) -> int:
    n = 1
    for v in grid.values():
        n *= len(v)
    return n


def read_tune(testbed: str, label: str, quick: bool) -> tuple[dict[str, Any], dict[str, list]]:
    from olearn.sweep.grid import read_sweep

    base, grid = read_sweep(tune_spec_path(testbed, label))
    if quick:
        base["horizon"], base["replicates"] = QUICK["tune_horizon"], QUICK["tune_replicates"]
    return base, grid


# ---------------------------------------------------------------------------- tuning
def tune(testbed: str, label: str, out_root: Path, quick: bool, workers: int) -> dict[str, Any]:
    """Run one agent's tuning sweep (resuming a finished one is free); return its best row."""
    from olearn.sweep import run_sweep
    from olearn.sweep.report import best

    base, grid = read_tune(testbed, label, quick)
    out = out_root / "tune" / f"neural_cb_{testbed}_{label}"
    t0 = time.time()
    res = run_sweep(base, grid, out=out, workers=workers, resume=out.exists(), quiet=True)
    if res.failed:
        raise SystemExit(f"{out}: {len(res.failed)} tuning task(s) failed: "
                         f"{res.failed[0]['error']}")
    row = best(out).row(0, named=True)
    prefix = f"agents.{label}.kwargs."
    config = {k[len(prefix):]: v for k, v in row.items() if k.startswith(prefix)}
    print(f"tuned {testbed:9s} {label:11s} {config} -> {row['mean']:.1f} ± {row['ci95']:.1f} "
          f"({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    return {"config": config, "tune_mean": row["mean"], "tune_ci95": row["ci95"]}


def tuning_complete(testbed: str, label: str, out_root: Path) -> bool:
    from olearn.sweep.report import statuses

    out = out_root / "tune" / f"neural_cb_{testbed}_{label}"
    try:
        return bool((statuses(out)["status"] == "complete").all())
    except Exception:   # not started
        return False


def grid_table(testbed: str, label: str, out_root: Path) -> pl.DataFrame:
    """Every configuration of one tuning sweep: mean and interval of final regret."""
    from olearn.sweep.report import final_by_config

    table, _ = final_by_config(out_root / "tune" / f"neural_cb_{testbed}_{label}")
    return table


# ---------------------------------------------------------------------------- reporting
def report_spec(testbed: str, chosen: dict[str, dict[str, Any]], quick: bool) -> dict[str, Any]:
    tb = TESTBEDS[testbed]
    agents = []
    for label in AGENTS:
        if chosen.get(label) is None:   # its tuning did not finish: not reported
            continue
        base, _ = read_tune(testbed, label, quick)
        entry = base["agents"][0]
        entry["kwargs"] = {**entry.get("kwargs", {}), **chosen[label]["config"]}
        agents.append(entry)
    return {"name": f"neural_cb_{testbed}",
            "horizon": QUICK["horizon"] if quick else tb["horizon"],
            "replicates": QUICK["replicates"] if quick else REPORT["replicates"],
            "seed": REPORT["seed"], "device": "cpu", "record": {"every": 10},
            "env": tb["env"], "agents": agents}


def write_spec(path: Path, spec: dict[str, Any], comment: str) -> None:
    from olearn.spec import RunSpec

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(comment + RunSpec.from_dict(spec).to_toml())


def fmt(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return "not run (budget)"
    ci = "n/a" if cell["ci95"] is None else f"{cell['ci95']:.0f}"
    return f"{cell['mean']:.0f} ± {ci}"


def cells_of(final: dict[str, dict[str, Any]], labels: list[str]) -> list[str]:
    """The markdown cells of one testbed's row (lowest mean in bold)."""
    low = min(c["mean"] for c in final.values())
    return [f"**{fmt(final[a])}**" if a in final and final[a]["mean"] == low
            else fmt(final.get(a)) for a in labels]


def markdown(results: dict[str, dict[str, Any]], labels: list[str]) -> str:
    """One row per testbed, one column per agent; the lowest mean in bold."""
    lines = ["| env (T, R) | " + " | ".join(labels) + " |",
             "|---|" + "---|" * len(labels)]
    for testbed, res in results.items():
        cells = res["final"]
        any_cell = next(iter(cells.values()))
        row = cells_of(cells, labels)
        title = res.get("title", testbed)
        lines.append(f"| {title} ({any_cell['t']}, {any_cell['replicates']}) | "
                     + " | ".join(row) + " |")
    return "\n".join(lines)


def config_markdown(results: dict[str, dict[str, Any]]) -> str:
    lines = ["| agent | grid | " + " | ".join(results) + " |",
             "|---|---|" + "---|" * len(results)]
    for label, (_, _, grid) in AGENTS.items():
        g = " × ".join(f"{k} ∈ {{{', '.join(map(str, v))}}}" for k, v in grid.items())
        cells = [", ".join(f"{k}={v}" for k, v in res["chosen"][label]["config"].items())
                 if res["chosen"].get(label) else "tuning not finished (budget)"
                 for res in results.values()]
        lines.append(f"| {label} | {g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_table(out: str | Path) -> dict[str, dict[str, Any]]:
    """The small reproducibility table (runs/neural_cb_check.toml), run into ``out``."""
    simulate_spec((str(CHECK_SPEC), str(out)))
    return final_table(out)


def check_markdown(cells: dict[str, dict[str, Any]]) -> str:
    labels = list(cells)
    return ("| | " + " | ".join(labels) + " |\n|---|" + "---|" * len(labels) + "\n"
            "| wine (300, 4) | " + " | ".join(fmt(cells[a]) for a in labels) + " |")


# ---------------------------------------------------------------------------- ablation
ABLATION = {"off": {"perturbation": "none"}, "cp0.01": {"c_p": 0.01, "S": 4},
            "cp0.1": {"c_p": 0.1, "S": 4}}


def ablation(out_root: Path, quick: bool) -> dict[str, dict[str, Any]]:
    """Perturbation off / c_p = 0.01 / c_p = 0.1 for both IGW agents on cosine, each at the
    lr and γ its tuning selected (read from docs/neural_cb_tables.json); reporting seed 0."""
    chosen = json.loads(TABLES_JSON.read_text())["testbeds"]["cosine"]["chosen"]
    tb = TESTBEDS["cosine"]
    agents = []
    for label in IGW:
        aid, fixed, _ = AGENTS[label]
        for name, pert in ABLATION.items():
            kw = {k: v for k, v in fixed.items() if k not in ("c_p", "S")}
            kw |= {"reward_range": tb["reward_range"], **chosen[label]["config"], **pert}
            agents.append({"label": f"{label}-{name}", "id": aid, "kwargs": kw})
    spec = {"name": "neural_cb_ablation",
            "horizon": QUICK["horizon"] if quick else tb["horizon"],
            "replicates": QUICK["replicates"] if quick else REPORT["replicates"],
            "seed": REPORT["seed"], "device": "cpu", "record": {"every": 10},
            "env": tb["env"], "agents": agents}
    path = (out_root / "specs" if quick else ROOT / "runs") / "neural_cb_ablation.toml"
    write_spec(path, spec, "# Perturbation ablation on cosine at the tuned lr and γ of each IGW "
               "agent, written by docs/neural_cb_tune.py --ablation.\n")
    run = out_root / "neural_cb_ablation"
    run_report(path, run, 2)
    return final_table(run)


def ablation_markdown(cells: dict[str, dict[str, Any]]) -> str:
    lines = ["| | " + " | ".join(ABLATION) + " |", "|---|" + "---|" * len(ABLATION)]
    for label in IGW:
        lines.append(f"| {label} | " + " | ".join(fmt(cells[f"{label}-{n}"]) for n in ABLATION)
                     + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="toy sizes, into runs/out/quick")
    p.add_argument("--tables", action="store_true", help="only print the tables of done runs")
    p.add_argument("--check", action="store_true", help="only the reproducibility table")
    p.add_argument("--ablation", action="store_true",
                   help="perturbation off/on on cosine at the tuned lr and γ (after tuning)")
    p.add_argument("--testbeds", default=",".join(TESTBEDS))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--write-tune-specs", action="store_true",
                   help="rewrite runs/tune/*.toml from the grids in this file, then exit")
    a = p.parse_args(argv)
    if a.write_tune_specs:
        write_tune_specs()
        return
    if a.ablation:
        cells = ablation(OUT / "quick" if a.quick else OUT, a.quick)
        print(ablation_markdown(cells))
        if not a.quick:
            _update_json({"ablation": cells})
        return
    if a.check:
        cells = check_table(OUT / "neural_cb_check")
        print(check_markdown(cells))
        if not a.quick:
            _update_json({"check": cells})
        return
    testbeds = a.testbeds.split(",")
    main_module = sys.modules["__main__"]
    out_root = OUT / "quick" if a.quick else OUT
    results: dict[str, dict[str, Any]] = {}
    for testbed in testbeds:   # tune, then report, one testbed at a time
        if a.tables:   # complete sweeps are only read; unfinished ones are left alone
            chosen = {label: (tune(testbed, label, out_root, a.quick, 1)
                              if tuning_complete(testbed, label, out_root) else None)
                      for label in AGENTS}
        else:
            # one tuning sweep per agent, a.workers of them at a time (one worker each)
            with ThreadPoolExecutor(max_workers=a.workers) as pool:
                futures = {label: pool.submit(tune, testbed, label, out_root, a.quick, 1)
                           for label in AGENTS}
                chosen = {label: f.result() for label, f in futures.items()}
            # olearn.sweep's _without_main swaps sys.modules["__main__"] and restores what it
            # saw; two sweeps entering it from two threads at once can leave the placeholder
            # in place, and the spawn pool below then cannot pickle simulate_spec. Put it back.
            sys.modules["__main__"] = main_module
        spec = report_spec(testbed, chosen, a.quick)
        path = (out_root / "specs" if a.quick else ROOT / "runs") / f"neural_cb_{testbed}.toml"
        run = out_root / f"neural_cb_{testbed}"
        # (--tables too: the spec follows the complete tuning sweeps)
        write_spec(path, spec,
                   f"# Reporting spec for {testbed}, written by docs/neural_cb_tune.py from "
                   "the tuning sweeps runs/tune/neural_cb_"
                   f"{testbed}_*.toml (docs/tuning.md).\n"
                   "# Each agent at its selected configuration; root seed 0 (tuning used "
                   "seed 1000).\n")
        if not a.tables:
            t0 = time.time()
            run_report(path, run, a.workers)
            print(f"reported {run} ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
        prune_report(path, run)
        results[testbed] = {"chosen": chosen, "title": TESTBEDS[testbed]["title"],
                            "final": final_table(run), "flattening": flattening(run)}
        if not a.quick:   # (--tables recomputes the same numbers from the same runs)
            _update_json({"testbeds": {testbed: results[testbed]}})
    labels = list(AGENTS)
    print(markdown(results, labels))
    print()
    print(config_markdown(results))
    print()
    print(flattening_markdown(results))
    if a.tables:
        print()
        print(tuning_markdown(testbeds, out_root))


def tuning_markdown(testbeds: list[str], out_root: Path) -> str:
    """Every tuning configuration: mean ± interval of final regret on the tuning seed."""
    lines = ["| agent | configuration | " + " | ".join(testbeds) + " |",
             "|---|---|" + "---|" * len(testbeds)]
    for label in AGENTS:
        if not all(tuning_complete(tb, label, out_root) for tb in testbeds):
            lines.append(f"| {label} | tuning not finished on every testbed (budget) |"
                         + " |" * len(testbeds))
            continue
        tables = [grid_table(tb, label, out_root) for tb in testbeds]
        keys = [c for c in tables[0].columns if c.startswith("agents.")]
        for i, row in enumerate(tables[0].iter_rows(named=True)):
            conf = ", ".join(f"{k.rsplit('.', 1)[-1]}={row[k]}" for k in keys)
            cells = [fmt(t.row(i, named=True)) for t in tables]
            lines.append(f"| {label} | {conf} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def flattening_markdown(results: dict[str, dict[str, Any]]) -> str:
    lines = ["| testbed (R(T/2) → R(T)) | NeuFastCB | NeuSquareCB | paired difference |",
             "|---|---|---|---|"]
    for testbed, res in results.items():
        f = res["flattening"]
        cell = [f"{f[k]['mean']:.2f} ± {f[k]['ci95']:.2f}"
                for k in ("NeuFastCB", "NeuSquareCB", "difference")]
        lines.append(f"| {testbed} ({f['rounds'][0]} → {f['rounds'][1]}) | " + " | ".join(cell)
                     + " |")
    return "\n".join(lines)


def _update_json(part: dict[str, Any]) -> None:
    """Merge ``part`` into the JSON (one testbed per process may run at the same time)."""
    import fcntl

    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "neural_cb_tables.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(TABLES_JSON.read_text()) if TABLES_JSON.exists() else {}
        for k, v in part.items():
            if isinstance(v, dict) and isinstance(data.get(k), dict):
                data[k].update(v)
            else:
                data[k] = v
        TABLES_JSON.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
