"""Reporting runs of the neural contextual-bandit study (docs/neural_cb_tune.py): run a
reporting spec one agent per process (the slowest agents one replicate per process), keep only
runs of the spec as it is, and read them back as one trace: final regret per agent and how flat
the IGW agents' curves end.

Each agent's results do not depend on the others in the spec (its environment and its own
streams are seeded from the root seed and its label), and a replicate run alone
(``first_replicate = i, replicates = 1``) is replicate ``i`` of the batched run, so splitting
a spec this way changes no number.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

__all__ = ["SPLIT", "final_table", "flattening", "load_report", "prune_report", "run_report",
           "simulate_spec", "sub_specs"]


def simulate_spec(args: tuple[Any, str]) -> str:
    import olearn

    spec, out = args
    olearn.simulate(spec, out=out, force=True, quiet=True)
    return out


def load_report(run: str | Path) -> pl.LazyFrame:
    """A reporting run: one run directory, or one per agent (``run/<label>/``, how the
    script runs them in parallel; each agent's results do not depend on the others in the
    spec: its environment and its own streams are seeded from the root seed and its label)."""
    import olearn

    run = Path(run)
    if (run / "trace").exists():
        return olearn.load(run)
    frames = []
    for d in sorted(run.iterdir()):
        if complete(d):
            frames.append(olearn.load(d))
        reps = sorted(d.glob("rep-*"))
        if reps and all(complete(r) for r in reps):   # one replicate per process
            frames.extend(olearn.load(r) for r in reps)
    return pl.concat(frames, how="diagonal_relaxed")


def complete(d: Path) -> bool:
    meta = d / "meta.json"
    return meta.is_file() and json.loads(meta.read_text()).get("status") == "complete"


SPLIT = ("NeuralUCB", "NeuralTS")   # the slowest agents: one replicate per process


def sub_specs(path: Path) -> dict[str, dict[str, Any]]:
    """The runs a reporting spec is run as: ``label`` -> one-agent spec, or for the agents in
    SPLIT ``label/rep-i`` -> one-agent, one-replicate spec (``first_replicate = i``: the same
    replicate, seeded from the root seed and its id, as in the batched run)."""
    from olearn.spec import RunSpec

    spec = RunSpec.from_toml(path).to_dict()
    out: dict[str, dict[str, Any]] = {}
    for e in spec["agents"]:
        if e["label"] in SPLIT:
            for i in range(spec["replicates"]):
                out[f"{e['label']}/rep-{i}"] = {**spec, "agents": [e], "replicates": 1,
                                                "first_replicate": i}
        else:
            out[e["label"]] = {**spec, "agents": [e]}
    return out


def prune_report(path: Path, run: Path) -> None:
    """Remove agent runs under ``run`` that are not the spec's (stale or unfinished)."""
    import shutil

    from olearn.spec import RunSpec

    subs = sub_specs(path)
    if not run.is_dir():
        return
    for d in [*run.iterdir(), *run.glob("*/rep-*")]:
        name = str(d.relative_to(run))
        if name in subs:
            ok = complete(d) and json.loads((d / "meta.json").read_text()).get(
                "digest") == RunSpec.from_dict(subs[name]).digest()
        else:
            ok = any(k.startswith(name + "/") for k in subs)   # a SPLIT agent's folder
        if not ok and d.exists():
            shutil.rmtree(d)


def run_report(path: Path, run: Path, workers: int) -> None:
    """Run the reporting spec ``path`` into ``run/<label>/``, one agent per process."""
    import shutil

    from olearn.spec import RunSpec

    jobs = []
    for name, sub in sub_specs(path).items():
        out = run / name
        meta = out / "meta.json"
        if meta.is_file():   # already run with this very spec (e.g. an earlier, killed driver)
            m = json.loads(meta.read_text())
            if m.get("status") == "complete" and m.get("digest") == RunSpec.from_dict(sub).digest():
                continue
        shutil.rmtree(out, ignore_errors=True)
        jobs.append((sub, str(out)))
    jobs.sort(key=lambda j: j[0]["agents"][0]["label"] not in SPLIT)   # longest first
    import multiprocessing

    # spawn, not fork: a forked child of a process that has run torch and threads can hang
    with ProcessPoolExecutor(max_workers=workers,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(simulate_spec, jobs))


def final_table(run: str | Path) -> dict[str, dict[str, Any]]:
    """Per agent: mean, Student-t 95% half width, replicates and round of final regret."""
    from olearn.metrics import final

    df = final(load_report(run)).collect()
    return {r["agent"]: {"t": r["t"], "mean": r["mean"], "ci95": r["ci95"],
                         "replicates": r["replicates"]} for r in df.iter_rows(named=True)}


def flattening(run: str | Path, a: str = "NeuFastCB", b: str = "NeuSquareCB") -> dict[str, Any]:
    """How flat each agent's curve is at the end: per replicate the late growth exponent
    ``log2(R(T)/R(T/2))`` (1: linear, 0.5: √T, → 0: flat), mean ± t-interval, and the paired
    difference ``a − b`` over replicates (same replicate id, same environment stream)."""
    from olearn.metrics import mean_ci

    lf = load_report(run).filter(pl.col("agent").is_in([a, b]))
    horizon = lf.select(pl.col("t").max()).collect().item()
    half = lf.filter(pl.col("t") <= horizon // 2).select(pl.col("t").max()).collect().item()
    ends = (lf.filter(pl.col("t").is_in([half, horizon]))
            .collect().pivot(on="t", index=["agent", "replicate"], values="regret")
            .with_columns((pl.col(str(horizon)) / pl.col(str(half))).log(2).alias("late")))
    per = ends.group_by("agent").agg(mean_ci("late")).sort("agent")
    wide = ends.pivot(on="agent", index="replicate", values="late")
    diff = wide.select((pl.col(a) - pl.col(b)).alias("d")).select(mean_ci("d"))
    out = {r["agent"]: {"mean": r["mean"], "ci95": r["ci95"]} for r in per.iter_rows(named=True)}
    out["difference"] = diff.row(0, named=True)
    out["rounds"] = [half, horizon]
    return out
