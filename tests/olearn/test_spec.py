from __future__ import annotations

import pytest

from olearn.errors import SpecError
from olearn.spec import RunSpec, apply_override

BASE = {"horizon": 10, "env": {"id": "olearn/ContextualBandit-v0"},
        "agents": [{"label": "a", "id": "olearn/LinUCB-v0", "kwargs": {"alpha": 1.0}}]}


def test_digest_is_stable_and_ignores_name_and_device():
    a = RunSpec.from_dict(BASE)
    assert a.digest() == RunSpec.from_dict({**BASE, "name": "other", "device": "cpu"}).digest()
    assert a.digest() != RunSpec.from_dict({**BASE, "seed": 1}).digest()
    assert a.digest() == "f" * 0 + a.digest()  # deterministic across calls
    assert len({RunSpec.from_dict(BASE).digest() for _ in range(3)}) == 1


def test_toml_round_trip(tmp_path):
    spec = RunSpec.from_dict({**BASE, "record": {"log": 20}})
    p = tmp_path / "s.toml"
    p.write_text(spec.to_toml())
    again = RunSpec.from_toml(p)
    assert again == spec and again.digest() == spec.digest()


def test_overrides_by_index_and_label():
    d = {"agents": [{"label": "x", "id": "i"}, {"label": "y", "id": "j"}]}
    apply_override(d, "agents.1.kwargs.alpha=2")
    apply_override(d, "agents.x.kwargs.model='shared'")
    apply_override(d, "env.kwargs.reward=quadratic")
    assert d["agents"][1]["kwargs"] == {"alpha": 2}
    assert d["agents"][0]["kwargs"] == {"model": "shared"}
    assert d["env"]["kwargs"]["reward"] == "quadratic"
    with pytest.raises(SpecError, match="no list entry 'z'"):
        apply_override(d, "agents.z.kwargs.a=1")


@pytest.mark.parametrize(("patch", "message"), [
    ({"horizon": 0}, "horizon must be a positive integer, got 0"),
    ({"replicates": -2}, "replicates must be a positive integer, got -2"),
    ({"horizon": "ten"}, "horizon must be a positive integer, got 'ten'"),
    ({"horizn": 5}, "unknown field 'horizn' in spec; did you mean 'horizon'"),
    ({"record": {"every": 2, "log": 3}}, "either 'every' or 'log'"),
    ({"agents": []}, "at least one"),
    ({"agents": [{"label": "a", "id": "x"}, {"label": "a", "id": "y"}]}, "used twice"),
    ({"agents": [{"label": "a b", "id": "x"}]}, "label must be"),
])
def test_bad_specs_name_field_and_value(patch, message):
    with pytest.raises(SpecError, match=message):
        RunSpec.from_dict({**BASE, **patch})


def test_malformed_toml_is_one_line(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("horizon = = 3\n")
    with pytest.raises(SpecError, match="malformed TOML"):
        RunSpec.from_toml(p)
    with pytest.raises(SpecError, match="does not exist"):
        RunSpec.from_toml(tmp_path / "missing.toml")
