"""Sweep specs: a run spec plus a ``[sweep]`` table of grids, expanded into validated tasks.

Keys use the ``--set`` syntax (``agents.linucb.kwargs.alpha``, ``env.kwargs.sigma``,
``seed``), values are lists; the tasks are the Cartesian product in the order the keys are
written, the last key varying fastest. ``--grid key=v1,v2`` on the command line adds a key or
replaces the file's list for it.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from olearn.errors import SpecError
from olearn.spec import RunSpec, apply_override, read_toml, resolve_files

__all__ = ["Task", "expand", "parse_grid_flag", "read_sweep", "validate"]


@dataclass(frozen=True)
class Task:
    """One configuration of a sweep: its grid values and the full run spec they make."""

    index: int
    values: dict[str, Any]
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return f"task-{self.index:04d}"

    def describe(self) -> str:
        return ", ".join(f"{k}={_literal(v)}" for k, v in self.values.items())

    def cost(self) -> float:
        """A relative cost estimate (rounds × replicates × agents) to start long tasks first."""
        s = self.spec
        return float(s.get("horizon", 1)) * float(s.get("replicates", 1)) * len(s["agents"])


def read_sweep(path: str | Path, *, sets: tuple[str, ...] = (), grids: tuple[str, ...] = (),
               ) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Read a sweep spec file: ``(base run spec dict, grid)`` with ``--set`` and ``--grid``
    applied (the command line wins over the file)."""
    data = resolve_files(read_toml(path), Path(path).parent)
    grid = data.pop("sweep", {})
    if not isinstance(grid, dict):
        raise SpecError("[sweep] must be a table of lists, e.g. "
                        "\"agents.linucb.kwargs.alpha\" = [0.1, 1.0]")
    for assignment in sets:
        apply_override(data, assignment)
    for flag in grids:
        key, values = parse_grid_flag(flag)
        grid[key] = values
    resolve_files(data, Path.cwd())
    return data, check_grid(grid)


def check_grid(grid: dict[str, Any]) -> dict[str, list[Any]]:
    """Every key a dotted path, every value a non-empty list without repeats."""
    if not grid:
        raise SpecError("the sweep has no grid: add a [sweep] table (e.g. seed = [0, 1, 2]) "
                        "or --grid KEY=V1,V2")
    for key, values in grid.items():
        if not re.fullmatch(r"[A-Za-z0-9_+\-]+(\.[A-Za-z0-9_.+\-]+)*", key):
            raise SpecError(f"sweep key {key!r} is not a spec path like "
                            "agents.linucb.kwargs.alpha")
        if not isinstance(values, list) or not values:
            raise SpecError(f"sweep.{key} must be a non-empty list of values, got {values!r}")
        seen = [_literal(v) for v in values]
        if len(set(seen)) != len(seen):
            raise SpecError(f"sweep.{key} lists a value twice: {values!r}")
    return grid


def parse_grid_flag(flag: str) -> tuple[str, list[Any]]:
    """``key=v1,v2,v3`` or ``key=[v1, v2]`` -> ``(key, [v1, v2, v3])`` (values parsed as TOML).

    >>> parse_grid_flag("agents.ucb.kwargs.alpha=0.1,1,10")
    ('agents.ucb.kwargs.alpha', [0.1, 1, 10])
    >>> parse_grid_flag("env.kwargs.kind=['a', 'b']")
    ('env.kwargs.kind', ['a', 'b'])
    """
    from olearn.spec import _parse_value

    key, sep, text = flag.partition("=")
    if not sep or not key.strip() or not text.strip():
        raise SpecError(f"--grid expects KEY=V1,V2,..., got {flag!r}")
    text = text.strip()
    if text.startswith("["):
        values = _parse_value(text)
        if not isinstance(values, list):
            raise SpecError(f"--grid {key}: {text!r} is not a TOML list")
        return key.strip(), values
    return key.strip(), [_parse_value(v.strip()) for v in text.split(",")]


def expand(base: dict[str, Any], grid: dict[str, list[Any]]) -> list[Task]:
    """The tasks of a grid over ``base``: the Cartesian product, last key fastest."""
    keys = list(grid)
    tasks = []
    for i, combo in enumerate(itertools.product(*(grid[k] for k in keys))):
        data = copy.deepcopy(base)
        values = dict(zip(keys, combo, strict=True))
        for key, value in values.items():
            try:
                apply_override(data, f"{key}={_literal(value)}")
            except SpecError as e:
                msg = str(e).removeprefix(f"--set {key}: ")
                raise SpecError(f"sweep key {key}: {msg}") from None
        tasks.append(Task(i, values, data))
    return tasks


def validate(tasks: list[Task]) -> list[RunSpec]:
    """Check every task before any runs: its spec, and its env and agents built once.

    Each distinct environment-and-agents configuration is built with one replicate on the
    CPU, so a bad keyword anywhere in the grid fails here with one line naming the task.
    """
    import torch

    from olearn.runner import build

    specs, built = [], set()
    for task in tasks:
        try:
            spec = RunSpec.from_dict(task.spec)
        except SpecError as e:
            raise SpecError(f"sweep {task.name} ({task.describe()}): {e}") from None
        specs.append(spec)
        d = spec.to_dict()
        key = json.dumps([d["env"], d["agents"]], sort_keys=True, default=str)
        if key in built:
            continue
        probe = RunSpec.from_dict({**copy.deepcopy(task.spec), "replicates": 1,
                                   "first_replicate": 0, "device": "cpu"})
        try:
            build(probe, torch.device("cpu"))
        except SpecError as e:
            raise SpecError(f"sweep {task.name} ({task.describe()}): {e}") from None
        built.add(key)
    return specs


def digest(base: dict[str, Any], grid: dict[str, list[Any]]) -> str:
    """What identifies a sweep: its base spec and its grid (keys in order)."""
    text = json.dumps({"base": base, "grid": list(grid.items())}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _literal(value: Any) -> str:
    """A TOML literal for ``value`` (as ``--set`` parses it back).

    >>> [_literal(v) for v in (True, 3, 0.5, "a b", [1, "x"], {"k": 1})]
    ['true', '3', '0.5', '"a b"', '[1, "x"]', '{ "k" = 1 }']
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_literal(v)}"
                                for k, v in value.items()) + " }"
    raise SpecError(f"sweep value {value!r} is not a TOML value (number, string, bool, list "
                    "or table)")
