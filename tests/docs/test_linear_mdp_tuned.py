"""docs/linear_mdp.md's tuned tables are what docs/linear_mdp_tune.py gives (issue 14).

The committed ``docs/linear_mdp_tuned.json`` is the record the script wrote on its last full
run. Checked here: its selections are the argmin of its own tuning rows over the grids of the
script and of the committed tuning specs ``runs/tune/linear_mdp_*.toml``; the committed
reporting specs ``runs/linear_mdp_tuned_<adversary>.toml`` are exactly the specs the script
writes from those selections; the page's tables are the script's markdown of the JSON (a table
edited by hand or left stale after a rerun fails); and (slow) one tuning cell and the reference's
reporting cell regenerate from the committed specs to the JSON's numbers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "linear_mdp.md"
TUNED = ROOT / "docs" / "linear_mdp_tuned.json"


def _data() -> dict:
    return json.loads(TUNED.read_text())


def test_json_protocol_is_the_scripts_and_the_committed_tuning_specs(doc_script):
    from olearn.sweep.grid import read_sweep

    script, data = doc_script("linear_mdp_tune"), _data()
    assert data["protocol"]["grids"] == {k: v[1] for k, v in script.AGENTS.items()}
    assert data["protocol"]["tune"] == script.TUNE
    assert data["protocol"]["report"] == script.REPORT
    assert data["protocol"]["instance"] == script.INSTANCE
    assert set(data["adversaries"]) == set(script.ADVERSARIES)
    sizes = {len(etas) for _, etas in script.AGENTS.values()}
    assert len(sizes) == 1, "every agent gets the same number of configurations"
    for adv in script.ADVERSARIES:
        for label, (_, etas) in script.AGENTS.items():
            base, grid = read_sweep(script.tune_spec_path(adv, label))
            assert grid == {f"agents.{label}.kwargs.eta": etas, "seed": script.TUNE["seeds"]}
            assert base["horizon"] == script.TUNE["horizon"]
            assert base["replicates"] == script.TUNE["replicates"]
            assert base["env"] == script.env(adv)
            assert base["agents"][0]["kwargs"] == {"horizon": script.REPORT["horizon"]}


def test_selections_are_the_argmin_of_the_tuning_rows(doc_script):
    script, data = doc_script("linear_mdp_tune"), _data()
    for adv, res in data["adversaries"].items():
        for label, (_, etas) in script.AGENTS.items():
            rows = res["grids"][label]
            assert [r["eta"] for r in rows] == etas, (adv, label)
            best = min(rows, key=lambda r: r["mean"])
            chosen = res["chosen"][label]
            assert chosen["eta"] == best["eta"], (adv, label)
            assert chosen["tune_mean"] == best["mean"] and chosen["tune_ci95"] == best["ci95"]
            assert chosen["edge"] == (chosen["eta"] in (etas[0], etas[-1])), (adv, label)


def test_committed_reporting_specs_carry_the_selected_eta(doc_script):
    from olearn.spec import RunSpec

    script, data = doc_script("linear_mdp_tune"), _data()
    for adv, res in data["adversaries"].items():
        committed = RunSpec.from_toml(script.report_path(script.OUT, adv, quick=False)).to_dict()
        want = RunSpec.from_dict(script.report_spec(adv, res["chosen"], quick=False)).to_dict()
        assert committed == want, adv
        etas = {a["label"]: a.get("kwargs", {}).get("eta") for a in committed["agents"]}
        assert etas == {**{k: v["eta"] for k, v in res["chosen"].items()},
                        script.REFERENCE[0]: None}


def test_page_tables_are_the_scripts_markdown_of_the_json(doc_script):
    script, data = doc_script("linear_mdp_tune"), _data()
    page = PAGE.read_text()
    for adv, res in data["adversaries"].items():
        assert script.markdown(adv, res) in page, f"the {adv} table of the page is stale"
        uniform = res["final"][script.REFERENCE[0]]["mean"]
        for cell in res["final"].values():
            assert math.isclose(cell["ratio"], cell["mean"] / uniform, rel_tol=1e-12)
    grids = {adv: data["adversaries"][adv]["grids"] for adv in script.ADVERSARIES}  # its order
    assert script.tuning_markdown(grids) in page, "the tuning table of the page is stale"


@pytest.mark.slow
def test_one_tuning_cell_and_the_reference_cell_regenerate(tmp_path, doc_script):
    """SimulatorFreePO (the cheapest learner) at its selected η on the switching adversary,
    from its committed tuning spec; UniformPolicy from the committed reporting spec."""
    import olearn
    from olearn.metrics import final
    from olearn.sweep.grid import expand

    script, data = doc_script("linear_mdp_tune"), _data()
    adv, label = "switching", "SimulatorFreePO"
    res = data["adversaries"][adv]
    eta = res["chosen"][label]["eta"]
    base, grid = script.read_tune(adv, label, quick=False)
    [task] = [t for t in expand(base, grid) if t.values[f"agents.{label}.kwargs.eta"] == eta]
    olearn.simulate(task.spec, out=tmp_path / "tune", quiet=True)
    got = final(olearn.load(tmp_path / "tune")).collect().row(0, named=True)
    assert got["t"] == script.TUNE["horizon"]
    assert math.isclose(got["mean"], res["chosen"][label]["tune_mean"], rel_tol=1e-9)
    assert math.isclose(got["ci95"], res["chosen"][label]["tune_ci95"], rel_tol=1e-9)

    ref = script.REFERENCE[0]
    script.run_one_agent(script.report_path(script.OUT, adv, quick=False), ref, tmp_path / "rep")
    got = final(olearn.load(tmp_path / "rep" / ref)).collect().row(0, named=True)
    want = res["final"][ref]
    assert (got["t"], got["replicates"]) == (want["t"], want["replicates"])
    assert math.isclose(got["mean"], want["mean"], rel_tol=1e-9)
