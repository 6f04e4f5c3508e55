"""record.at: rounds a table names are recorded exactly, whatever every/log say."""

from __future__ import annotations

import pytest

import olearn
from olearn.errors import SpecError

BASE = {"horizon": 500, "replicates": 2, "env": {"id": "olearn/ContextualBandit-v0"},
        "agents": [{"label": "u", "id": "olearn/Uniform-v0"}]}


@pytest.mark.parametrize("record", [{"log": 10, "at": [123, 400]}, {"every": 100, "at": [7]}])
def test_named_rounds_are_recorded(tmp_path, record):
    spec = olearn.RunSpec.from_dict({**BASE, "record": record})
    out = olearn.simulate(spec, out=tmp_path / "run", quiet=True).out
    ts = set(olearn.load(out).select("t").unique().collect()["t"].to_list())
    assert set(record["at"]) <= ts and 500 in ts


def test_digest_unchanged_without_at():
    assert "at" not in olearn.RunSpec.from_dict(BASE).to_dict()["record"]


@pytest.mark.parametrize(("at", "match"), [(7, "must be a list"), ([0], "record.at"),
                                           ([501], "past the horizon"), (["x"], "record.at")])
def test_bad_rounds(at, match):
    with pytest.raises(SpecError, match=match):
        olearn.RunSpec.from_dict({**BASE, "record": {"at": at}})
