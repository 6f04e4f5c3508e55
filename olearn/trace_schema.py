"""The trace schema: the columns of every part of every agent of a run, fixed before round 1.

What the columns are and how a trace is laid out on disk: :mod:`olearn.trace`.

The schema is fixed before round 1 from declarations, and written to ``OUT/meta.json``
(``trace_schema``) so that ``--resume`` continues with the same one:

- an environment declares ``oracle_keys``, a dict ``{key: dtype}`` (dtype ``"float64"``,
  ``"int64"`` or ``"bool"``) of its per-replicate ``info["oracle"]`` entries, as a class
  attribute or a property (:class:`olearn.vector.BatchedEnv`; a plain ``gymnasium.Env``
  plug-in may set it too);
- an agent declares ``info_keys``, the keys of its ``act_info`` (as the contract tests
  require), recorded as float64 unless ``info_dtypes`` maps a key to ``"int64"`` or
  ``"bool"``, or to ``None`` for an entry that is not one value per replicate (not recorded)
  (:class:`olearn.agent.BatchedAgent`; a single-replicate plug-in may set them too);
- whatever declares nothing (``oracle_keys``/``info_keys`` absent: plain gymnasium envs,
  single-replicate agents) is *probed*: before round 1 the runner resets a throwaway copy of
  the environment and of each such agent, acts once and steps once, and takes the
  per-replicate entries it sees, with their dtypes.

A declared key may be missing on some rounds (its value is null there). A per-replicate key
that is not in the schema (undeclared, and absent from the probe) is never dropped silently:
the run stops at the first recorded round that carries it, with an error that names the key
and where to declare it. A declared value that is not one value per replicate, or whose dtype
does not fit its column (a float in an int64 column), stops the run the same way.

Column names must differ in more than case: SQL readers fold case (DuckDB would show a second
column ``Sigma2_cum`` next to ``sigma2_cum`` as ``Sigma2_cum_1``, and resolve ``"Sigma2_cum"``
to ``sigma2_cum``), so :meth:`TraceSchema.build` refuses such a pair.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import Tensor

from olearn.errors import AgentError, EnvError, OlearnError, SpecError

__all__ = ["DTYPES", "LOOP_COLUMNS", "RESERVED", "TraceSchema", "dtype_name", "fits"]


DTYPES: dict[str, tuple[type, torch.dtype, Any]] = {
    "float64": (np.float64, torch.float64, pl.Float64),
    "int64": (np.int64, torch.int64, pl.Int64),
    "bool": (np.bool_, torch.bool, pl.Boolean),
}
"""The trace dtypes: numpy, torch and polars types of each."""

LOOP_COLUMNS: dict[str, str] = {"replicate": "int64", "t": "int64", "regret": "float64",
                                "reward": "float64", "cum_reward": "float64"}
"""The columns every trace starts with, written by the loop itself."""

RESERVED = frozenset({"agent", "action", *LOOP_COLUMNS})


def dtype_name(value: Tensor) -> str:
    """The trace dtype of a tensor: ``"bool"``, ``"float64"`` (floats) or ``"int64"``."""
    if value.dtype == torch.bool:
        return "bool"
    return "float64" if value.dtype.is_floating_point or value.dtype.is_complex else "int64"


def fits(value: str, column: str) -> bool:
    """Whether values of trace dtype ``value`` are stored exactly in a ``column`` column."""
    return value == column or column == "float64" or (value, column) == ("bool", "int64")


@dataclass(frozen=True)
class TraceSchema:
    """The one schema of a run's trace: the columns of every part of every agent.

    Attributes
    ----------
    columns
        Column name -> dtype (``"float64"``, ``"int64"`` or ``"bool"``), in file order;
        ``agent`` is not among them (it is the partition).
    oracle
        The ``info["oracle"]`` keys recorded, each a column of the same name.
    act_info
        Agent label -> the ``act_info`` keys recorded for that agent.

    Examples
    --------
    >>> s = TraceSchema.build({"regret": "float64", "best_arm": "int64"},
    ...                       {"a": {"propensity": "float64"}, "b": {"gamma": "float64"}},
    ...                       discrete=True)
    >>> list(s.columns)[5:]
    ['action', 'propensity', 'best_arm', 'gamma']
    >>> s.oracle, s.act_info["b"]
    (('best_arm',), ('gamma',))
    """

    columns: dict[str, str]
    oracle: tuple[str, ...]
    act_info: dict[str, tuple[str, ...]]

    @property
    def action(self) -> bool:
        """Whether the trace has an ``action`` column (the action space is ``Discrete``)."""
        return "action" in self.columns

    @classmethod
    def build(cls, oracle: Mapping[str, str | None], agents: Mapping[str, Mapping[str, str | None]],
              *, discrete: bool) -> TraceSchema:
        """The union schema of an env's oracle keys and each agent's act_info keys.

        ``oracle`` and each of ``agents`` map a key to its trace dtype, or to ``None`` for an
        entry that is not recorded. ``regret`` of the oracle is the loop's increment, not a
        column. A key used by two agents with different dtypes becomes float64.
        """
        columns = dict(LOOP_COLUMNS)
        if discrete:
            columns |= {"action": "int64", "propensity": "float64"}
        elif any("propensity" in keys for keys in agents.values()):
            columns["propensity"] = "float64"
        oracle_keys: list[str] = []
        for key, dtype in oracle.items():
            if dtype is None or key == "regret":
                continue
            _check_dtype(key, dtype, "environment's oracle_keys", EnvError)
            if key in RESERVED or key == "propensity":
                msg = (f"the environment's info['oracle'] key {key!r} is also a trace column of "
                       "the loop; rename it")
                raise EnvError(msg)
            columns[key] = dtype
            oracle_keys.append(key)
        act_info: dict[str, tuple[str, ...]] = {}
        for label, keys in agents.items():
            mine: list[str] = []
            for key, dtype in keys.items():
                if dtype is None:
                    continue
                _check_dtype(key, dtype, f"agent {label!r}'s info_dtypes", AgentError)
                if key in RESERVED or key in oracle_keys:
                    what = "an oracle column of the environment" if key in oracle_keys else (
                        "a trace column of the loop")
                    raise AgentError(f"agent {label!r} reports act_info[{key!r}], which is also "
                                     f"{what}; rename it")
                if key != "propensity":
                    old = columns.get(key, dtype)
                    columns[key] = old if old == dtype else "float64"
                mine.append(key)
            act_info[label] = tuple(mine)
        folded: dict[str, str] = {}
        for name in ["agent", *columns]:
            other = folded.setdefault(name.lower(), name)
            if other != name:
                msg = (f"trace columns {other!r} and {name!r} differ only in case, which SQL "
                       "readers cannot tell apart; rename one")
                raise SpecError(msg)
        return cls(columns, tuple(oracle_keys), act_info)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (stored in ``meta.json`` as ``trace_schema``)."""
        return {"columns": dict(self.columns), "oracle": list(self.oracle),
                "act_info": {k: list(v) for k, v in self.act_info.items()}}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TraceSchema:
        """The schema :meth:`to_json` wrote."""
        return cls(dict(d["columns"]), tuple(d["oracle"]),
                   {k: tuple(v) for k, v in d["act_info"].items()})

    def polars(self) -> pl.Schema:
        """The columns as a ``polars.Schema`` (without ``agent``)."""
        return pl.Schema({k: DTYPES[v][2] for k, v in self.columns.items()})


def _check_dtype(key: str, dtype: Any, where: str, error: type[OlearnError]) -> None:
    if dtype not in DTYPES:
        msg = (f"{where} gives {key!r} the dtype {dtype!r}; use one of {', '.join(DTYPES)}, "
               "or None for an entry that is not one value per replicate")
        raise error(msg)
