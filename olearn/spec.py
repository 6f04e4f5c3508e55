"""Run specs: TOML in, validated :class:`RunSpec` out, with a stable digest.

Every field can be set from TOML, from CLI flags, or with ``--set key=value`` overrides
(``agents.0.kwargs.alpha=2`` or, by label, ``agents.linucb.kwargs.alpha=2``). Validation
errors name the field, the bad value and what is allowed.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from olearn.errors import SpecError

__all__ = ["AgentEntry", "EnvEntry", "RecordSpec", "RunSpec", "apply_override", "resolve_files"]

_LABEL = re.compile(r"^[A-Za-z0-9_.+-]+$")


@dataclass
class RecordSpec:
    """Which rounds are recorded: ``every`` k-th round, or ``log`` log-spaced points, plus the
    rounds listed in ``at`` (a table that names R(1000) records round 1000); T always."""

    every: int | None = 1
    log: int | None = None
    at: list[int] | None = None
    chunk: int | None = None  # rows per replicate per Parquet part; None = automatic


@dataclass
class EnvEntry:
    id: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class AgentEntry:
    label: str
    id: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    init: str | None = None   # warm start: a run directory (its agents/<label>.pt) or a file
    learn: bool = True        # false: act without updating (evaluating a saved agent)


@dataclass
class RunSpec:
    """A run: one environment, one or more agents, horizon T, R replicates, root seed.

    Examples
    --------
    >>> spec = RunSpec.from_dict({"horizon": 100, "env": {"id": "olearn/ContextualBandit-v0"},
    ...                           "agents": [{"label": "u", "id": "olearn/Uniform-v0"}]})
    >>> spec.replicates, len(spec.digest())
    (1, 64)
    """

    env: EnvEntry
    agents: list[AgentEntry]
    horizon: int
    name: str = "run"
    replicates: int = 1
    first_replicate: int = 0
    seed: int = 0
    device: str = "auto"
    delay: int = 0
    checkpoint_seconds: float = 60.0
    threads: int = 1  # CPU threads for torch and the compiled kernels; 0 keeps the defaults
    kernel_threads: int = 0  # the compiled kernels' threads when not ``threads`` (0: the same)
    rng: str = "auto"  # per-round random streams: auto | portable | fast (olearn.seeding)
    record: RecordSpec = field(default_factory=RecordSpec)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_toml(cls, path: str | Path, overrides: list[str] | None = None) -> RunSpec:
        """Read a spec file; ``file.py:Class`` references in it resolve against its folder."""
        data = resolve_files(read_toml(path), Path(path).parent)
        for o in overrides or []:
            apply_override(data, o)
        return cls.from_dict(resolve_files(data, Path.cwd()))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        d = copy.deepcopy(data)
        _known(d, cls, "spec")
        if "env" not in d or not isinstance(d["env"], dict):
            raise SpecError("spec needs an [env] table with an 'id', "
                            "e.g. id = \"olearn/ContextualBandit-v0\"")
        if "agents" not in d or not isinstance(d["agents"], list) or not d["agents"]:
            raise SpecError("spec needs at least one [[agents]] entry with 'label' and 'id'")
        if "horizon" not in d:
            raise SpecError("spec needs 'horizon' (number of rounds T), e.g. horizon = 5000")
        env = d.pop("env")
        _known(env, EnvEntry, "env")
        agents = []
        for i, a in enumerate(d.pop("agents")):
            if not isinstance(a, dict):
                raise SpecError(f"agents[{i}] must be a table with 'label' and 'id'")
            _known(a, AgentEntry, f"agents[{i}]")
            if "id" not in a:
                raise SpecError(f"agents[{i}] needs an 'id', e.g. id = \"olearn/LinUCB-v0\"")
            a.setdefault("label", str(a["id"]).rsplit("/", 1)[-1].split("-v")[0].lower())
            agents.append(AgentEntry(**a))
        record = d.pop("record", {})
        if not isinstance(record, dict):
            raise SpecError("record must be a table, e.g. [record] every = 1")
        _known(record, RecordSpec, "record")
        if "log" in record and "every" not in record:
            record["every"] = None
        if "env" in env and "id" not in env:
            raise SpecError("env needs an 'id'")
        if "id" not in env:
            raise SpecError("env needs an 'id', e.g. id = \"olearn/ContextualBandit-v0\"")
        spec = cls(env=EnvEntry(**env), agents=agents, record=RecordSpec(**record), **d)
        spec.validate()
        return spec

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        _int(self.horizon, "horizon", 1)
        _int(self.replicates, "replicates", 1)
        _int(self.first_replicate, "first_replicate", 0)
        _int(self.seed, "seed", 0)
        _int(self.delay, "delay", 0)
        if self.delay >= self.horizon:
            msg = (f"delay ({self.delay}) must be below horizon ({self.horizon}): with it no "
                   "feedback would reach the agent; lower delay or raise horizon")
            raise SpecError(msg)
        _int(self.threads, "threads", 0)
        _int(self.kernel_threads, "kernel_threads", 0)
        if self.rng not in ("auto", "portable", "fast"):
            raise SpecError(f"rng must be 'auto', 'portable' or 'fast', got {self.rng!r}")
        if not isinstance(self.name, str) or not _LABEL.match(self.name):
            raise SpecError("name must be letters, digits, '_', '.', '+' or '-', "
                            f"got {self.name!r}")
        if not isinstance(self.device, str):
            raise SpecError("device must be 'auto', 'cpu', 'cuda' or 'cuda:N', "
                            f"got {self.device!r}")
        if not isinstance(self.checkpoint_seconds, (int, float)) or self.checkpoint_seconds < 0:
            raise SpecError("checkpoint_seconds must be a number >= 0, "
                            f"got {self.checkpoint_seconds!r}")
        r = self.record
        if r.every is not None and r.log is not None:
            raise SpecError("record: give either 'every' or 'log', not both")
        if r.every is None and r.log is None:
            r.every = 1
        if r.every is not None:
            _int(r.every, "record.every", 1)
        if r.log is not None:
            _int(r.log, "record.log", 2)
        if r.chunk is not None:
            _int(r.chunk, "record.chunk", 1)
        if r.at is not None:
            if not isinstance(r.at, list):
                raise SpecError(f"record.at must be a list of rounds, e.g. [1000, 4000], "
                                f"got {r.at!r}")
            for t in r.at:
                _int(t, "every round in record.at", 1)
                if t > self.horizon:
                    raise SpecError(f"record.at lists round {t}, past the horizon "
                                    f"({self.horizon}); list rounds from 1 to {self.horizon}")
        if not isinstance(self.env.id, str) or not self.env.id:
            raise SpecError(f"env.id must be a non-empty string, got {self.env.id!r}")
        if not isinstance(self.env.kwargs, dict):
            raise SpecError(f"env.kwargs must be a table, got {self.env.kwargs!r}")
        seen = set()
        for i, a in enumerate(self.agents):
            if not isinstance(a.label, str) or not _LABEL.match(a.label):
                raise SpecError(f"agents[{i}].label must be letters, digits, '_', '.', '+' or '-', "
                                f"got {a.label!r}")
            if a.label in seen:
                raise SpecError(f"agents[{i}].label {a.label!r} is used twice; "
                                "labels must be unique")
            seen.add(a.label)
            if not isinstance(a.id, str) or not a.id:
                raise SpecError(f"agents[{i}].id must be a non-empty string, got {a.id!r}")
            if not isinstance(a.kwargs, dict):
                raise SpecError(f"agents[{i}].kwargs must be a table, got {a.kwargs!r}")
            if not isinstance(a.learn, bool):
                raise SpecError(f"agents[{i}].learn must be true or false, got {a.learn!r}")
            if a.init is not None and not isinstance(a.init, str):
                raise SpecError(f"agents[{i}].init must be a run directory or a saved agent "
                                f"file, got {a.init!r}")

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["record"] = {k: v for k, v in d["record"].items() if v is not None}
        for a in d["agents"]:   # absent unless given: digests of existing specs stand
            if a["init"] is None:
                del a["init"]
            if a["learn"] is True:
                del a["learn"]
        return d

    def digest(self) -> str:
        """SHA-256 of everything that determines the trace (not name, device, threads,
        kernel_threads, checkpoints; ``rng`` only when it is not ``"auto"``, so specs written
        before the field keep their digests)."""
        d = self.to_dict()
        for k in ("name", "device", "checkpoint_seconds", "threads", "kernel_threads"):
            d.pop(k)
        if d["rng"] == "auto":
            d.pop("rng")
        d["record"].pop("chunk", None)
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    def with_(self, *assignments: str, **changes: Any) -> RunSpec:
        """A validated copy with top-level fields changed and ``key.path=value`` overrides
        applied (the ``--set`` syntax); the spec itself is unchanged.

        >>> spec = RunSpec.from_dict({"horizon": 100, "env": {"id": "olearn/SEA-v0"},
        ...                           "agents": [{"label": "ogd", "id": "olearn/OGD-v0"}]})
        >>> small = spec.with_("agents.ogd.kwargs.G=2", horizon=10, replicates=4)
        >>> small.horizon, small.replicates, small.agents[0].kwargs, spec.horizon
        (10, 4, {'G': 2}, 100)
        """
        data = self.to_dict()
        def plain(v: Any) -> Any:
            if isinstance(v, list):
                return [plain(x) for x in v]
            return asdict(v) if hasattr(v, "__dataclass_fields__") else v

        for key, value in changes.items():
            data[key] = plain(value)
        for assignment in assignments:
            apply_override(data, assignment)
        return RunSpec.from_dict(data)

    @property
    def replicate_ids(self) -> list[int]:
        return list(range(self.first_replicate, self.first_replicate + self.replicates))


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a spec file into a plain dict, with a one-line error for a missing or bad file."""
    p = Path(path)
    if not p.is_file():
        msg = f"spec file {str(path)!r} does not exist"
        raise SpecError(msg)
    try:
        return tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        msg = f"{path}: malformed TOML: {e}"
        raise SpecError(msg) from None


def _resolve_ref(ref: Any, base: Path) -> Any:
    """``path.py:Name`` with a relative path -> absolute: under ``base`` if the file is there,
    else under the current directory; anything else unchanged."""
    if not isinstance(ref, str):
        return ref
    path, sep, attr = ref.rpartition(":")
    if not sep or not path.endswith(".py") or Path(path).is_absolute():
        return ref
    for root in (base, Path.cwd()):
        if (root / path).is_file():
            return f"{(root / path).resolve()}:{attr}"
    return f"{(base / path).resolve()}:{attr}"


def resolve_files(data: dict[str, Any], base: str | Path) -> dict[str, Any]:
    """Make the ``file.py:Class`` ids of a spec dict absolute (in place; returns ``data``).

    A relative path resolves against ``base`` (the spec file's folder) when the file is there,
    else against the current directory, so a spec runs the same from any folder and the
    resolved spec written to ``OUT/spec.toml`` can be re-run or resumed from anywhere.
    """
    base = Path(base)
    env = data.get("env")
    if isinstance(env, dict) and "id" in env:
        env["id"] = _resolve_ref(env["id"], base)
    for agent in data.get("agents") or []:
        if isinstance(agent, dict) and "id" in agent:
            agent["id"] = _resolve_ref(agent["id"], base)
    return data


def _int(v: Any, name: str, low: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise SpecError(f"{name} must be {what}, got {v!r}")


def _known(d: dict[str, Any], cls: type, where: str) -> None:
    allowed = [f.name for f in fields(cls)]
    for k in d:
        if k not in allowed:
            hint = difflib.get_close_matches(k, allowed, n=1)
            tail = f"did you mean {hint[0]!r}?" if hint else f"allowed: {', '.join(allowed)}"
            raise SpecError(f"unknown field {k!r} in {where}; {tail}")


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply ``key.path=value`` (value parsed as TOML, else a string) to a spec dict in place.

    >>> d = {"agents": [{"label": "a", "id": "x"}]}
    >>> apply_override(d, "agents.a.kwargs.alpha=0.5"); d["agents"][0]["kwargs"]
    {'alpha': 0.5}
    """
    key, sep, value = assignment.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"--set expects key=value, got {assignment!r}")
    parts = key.strip().split(".")
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if part.isdigit() and int(part) < len(node):
                idx = int(part)
            else:
                labels = [e.get("label") for e in node if isinstance(e, dict)]
                if part not in labels:
                    raise SpecError(f"--set {key}: no list entry {part!r}; "
                                    f"use an index or one of {labels}")
                idx = labels.index(part)
            if last:
                node[idx] = _parse_value(value)
            else:
                node = node[idx]
            continue
        if not isinstance(node, dict):
            raise SpecError(f"--set {key}: {'.'.join(parts[:i])} is not a table")
        if last:
            node[part] = _parse_value(value)
        else:
            node = node.setdefault(part, {})
