"""The corrupted-stream table of docs/sea.md: regret against a corruption budget C spread
evenly over the run (SEA-v0 ``corrupt_every = 2T/C``).

    python docs/sea_corruption.py          # ~2 minutes on a quiet 2-core CPU
"""

from __future__ import annotations

import tempfile

import polars as pl

import olearn

T, BUDGETS = 4000, (10, 40, 160, 640)
AGENTS = {"OOMD (`G = 2.5`)": ("olearn/OptimisticOMD-v0", {"G": 2.5}),
          "OGD (`1/√t`)": ("olearn/OGD-v0", {"G": 2.5}),
          "follow the last gradient (OGD, `G = 0.001`)": ("olearn/OGD-v0", {"G": 0.001})}


def run(budget: int) -> tuple[float, dict[str, float]]:
    spec = {"name": "sea-corruption", "horizon": T, "replicates": 4, "seed": 0,
            "record": {"log": 20},
            "env": {"id": "olearn/SEA-v0",
                    "kwargs": {"dim": 5, "sigma": 0.1, "regime": "corrupted",
                               "budget": float(budget), "corrupt_every": 2 * T // budget}},
            "agents": [{"label": f"a{i}", "id": ref, "kwargs": kw}
                       for i, (ref, kw) in enumerate(AGENTS.values())]}
    result = olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True)
    last = result.load().filter(pl.col("t") == T)
    var = float(last.select(pl.col("adv_variation_cum").mean()).collect().item())
    regret = result.final_regret()
    return var, {name: regret[f"a{i}"] for i, name in enumerate(AGENTS)}


def main() -> None:
    results = {b: run(b) for b in BUDGETS}
    print("| C (k) | " + " | ".join(f"{b} ({2 * T // b})" for b in BUDGETS) + " |")
    print("|---" * (len(BUDGETS) + 1) + "|")
    print("| Σ²_{1:T} | " + " | ".join(f"{results[b][0]:.0f}" for b in BUDGETS) + " |")
    for name in AGENTS:
        print(f"| {name} | " + " | ".join(f"{results[b][1][name]:.2f}" for b in BUDGETS) + " |")


if __name__ == "__main__":
    main()
