"""docs/neural_cb.md shows what its committed script and specs give (issue 17, item 6).

The reproducibility table of the page (``runs/neural_cb_check.toml``: wine, T = 300, R = 4) is
regenerated with the script's own function and compared with the numbers the page prints and
with ``docs/neural_cb_tables.json`` (which the script writes next to the page). The other
tables' numbers in the page are checked against that JSON, so a table edited by hand or left
stale after a rerun fails here.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "neural_cb.md"
TABLES = ROOT / "docs" / "neural_cb_tables.json"


def _row(prefix: str) -> list[str]:
    """The cells of the page's table row that starts with ``| prefix``."""
    for line in PAGE.read_text().splitlines():
        if line.startswith(f"| {prefix}"):
            return [c.strip().strip("*") for c in line.strip().strip("|").split("|")[1:]]
    raise AssertionError(f"docs/neural_cb.md has no table row starting with {prefix!r}")


def test_page_tables_match_the_json(doc_script):
    """Every number of the main table is the JSON's (what the script last computed)."""
    script = doc_script("neural_cb_tune")
    data = json.loads(TABLES.read_text())
    for testbed, res in data["testbeds"].items():
        cells = res["final"]
        any_cell = cells[next(iter(cells))]
        title = f"{script.TESTBEDS[testbed]['title']} ({any_cell['t']}, {any_cell['replicates']})"
        want = [c.strip("*") for c in script.cells_of(cells, list(script.AGENTS))]
        assert _row(title) == want, testbed


@pytest.mark.slow
def test_check_table_regenerates(tmp_path, doc_script):
    script = doc_script("neural_cb_tune")
    cells = script.check_table(tmp_path / "check")
    committed = json.loads(TABLES.read_text())["check"]
    assert list(cells) == list(committed)
    for agent, cell in cells.items():
        want = committed[agent]
        assert cell["replicates"] == want["replicates"] and cell["t"] == want["t"]
        assert math.isclose(cell["mean"], want["mean"], rel_tol=1e-9), agent
        assert math.isclose(cell["ci95"], want["ci95"], rel_tol=1e-6, abs_tol=1e-9), agent
    shown = _row("wine (300, 4)")
    assert shown == [script.fmt(cells[a]) for a in cells]
    assert all(re.fullmatch(r"\d+ ± \d+", c) for c in shown)
