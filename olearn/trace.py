"""The regret trace: a Parquet dataset partitioned by agent, written in atomic parts.

Layout: ``OUT/trace/agent=<label>/part-00000.parquet``. Every part of every agent of a run has
the same columns, in the same order, with the same dtypes: the run's :class:`TraceSchema`. So
any Parquet reader reads the whole trace with no options (``polars.scan_parquet(glob,
hive_partitioning=True)``, DuckDB's ``read_parquet(glob, hive_partitioning=true)``,
``pyarrow.dataset.dataset(OUT/"trace", partitioning="hive")``), and ``agent`` comes from the
partition. Columns, in order:

- ``replicate`` (int64), ``t`` (int64, 1-based round), ``regret`` (float64, cumulative),
  ``reward`` (float64, this round), ``cum_reward`` (float64);
- ``action`` (int64, the arm played) and ``propensity`` (float64, the probability the agent
  gave that arm, from ``act_info["propensity"]``; null for an agent that reports none) when
  the action space is ``Discrete``: a trace is then logged bandit feedback (context
  ``(replicate, t)``, action, reward, propensity). Other actions (OCO points, vectors) get
  no ``action`` column; ``propensity`` appears there only if an agent reports one;
- the environment's ``info["oracle"]`` entries that hold one value per replicate (but
  ``regret``, which is this round's increment of the ``regret`` column);
- the union over the run's agents of their ``act_info`` entries that hold one value per
  replicate, in agent order; null where an agent, or a round, has no such entry.

How the schema is fixed, declared and checked: :mod:`olearn.trace_schema`.
"""

from __future__ import annotations

import os
import warnings
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from torch import Tensor

from olearn.errors import OlearnError, UsageError
from olearn.trace_schema import DTYPES, TraceSchema, dtype_name, fits

__all__ = ["IncompleteRunWarning", "Recorder", "TraceSchema", "TraceWriter", "dtype_name", "fits",
           "load", "schedule"]


class IncompleteRunWarning(UserWarning):
    """:func:`load` read a run that is not complete: its agents may stop at different rounds."""

ZSTD_LEVEL = 1
"""zstd level of the trace parts. On a LinUCB trace part (256 replicates × 1024 rounds) level 1
costs 35 µs of CPU a round against 60–80 µs for polars' default (3), for files 13% larger;
the writer shares the cores with the simulation, so its CPU is the simulation's."""


def schedule(horizon: int, *, every: int | None = None, log: int | None = None,
             at: Sequence[int] | None = None) -> np.ndarray:
    """The rounds to record: every ``every``-th round, or ``log`` log-spaced rounds, plus the
    rounds in ``at``; T always.

    ``log = N`` records exactly ``min(N, T)`` distinct rounds from 1 to T: the rounded points
    of ``T^(i/(N−1))``, each moved up to one past its predecessor where rounding makes two
    equal (early rounds are then consecutive).

    >>> schedule(10, every=4).tolist()
    [4, 8, 10]
    >>> schedule(1000, log=4).tolist()
    [1, 10, 100, 1000]
    >>> len(schedule(5000, log=500)), schedule(20, log=20).tolist() == list(range(1, 21))
    (500, True)
    >>> schedule(1000, log=4, at=[50, 100]).tolist()
    [1, 10, 50, 100, 1000]
    """
    if at:
        base = schedule(horizon, every=every, log=log)
        return np.union1d(base, np.asarray(at, dtype=np.int64))
    if log is not None:
        n = min(log, horizon)
        target = np.round(np.logspace(0, np.log10(horizon), n)).astype(np.int64)
        pts = np.empty(n, dtype=np.int64)
        prev = 0
        for i in range(n):   # at least one past the last, and room left for the rest
            prev = pts[i] = min(max(prev + 1, int(target[i])), horizon - (n - 1 - i))
        return pts
    pts = np.arange(every or 1, horizon + 1, every or 1, dtype=np.int64)
    return np.unique(np.append(pts, horizon))


class TraceWriter:
    """Writes numbered Parquet parts into one agent's partition, each atomically.

    :meth:`submit` encodes and writes a part on a background thread (Parquet encoding and
    ``fsync`` release the GIL), so the simulation goes on meanwhile; at most ``in_flight``
    parts wait at a time. :meth:`wait` returns once every submitted part is on disk and
    re-raises a failed write.
    """

    def __init__(self, directory: Path, *, next_part: int = 0, in_flight: int = 2) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.next_part = next_part
        self.in_flight = in_flight
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future] = deque()

    def truncate(self) -> None:
        """Delete parts numbered ``next_part`` and above (written after the last checkpoint)."""
        for p in self.directory.glob("part-*.parquet*"):
            stem = p.name.split(".")[0]
            if p.name.endswith(".tmp") or int(stem.removeprefix("part-")) >= self.next_part:
                p.unlink()

    def _next_path(self) -> Path:
        path = self.directory / f"part-{self.next_part:05d}.parquet"
        self.next_part += 1
        return path

    @staticmethod
    def _write(frame: pl.DataFrame, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        frame.write_parquet(tmp, compression="zstd", compression_level=ZSTD_LEVEL, statistics=True)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def write(self, frame: pl.DataFrame) -> Path:
        """Write the next part now."""
        self.wait()
        path = self._next_path()
        self._write(frame, path)
        return path

    def submit(self, frame: pl.DataFrame) -> Path:
        """Write the next part on the background thread; ``frame`` must not change afterwards."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="olearn-trace")
        path = self._next_path()
        self._pending.append(self._pool.submit(self._write, frame, path))
        while len(self._pending) > self.in_flight:
            self._pending.popleft().result()
        return path

    def wait(self) -> None:
        """Block until every submitted part is written; re-raise the first failure."""
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        """Wait for the submitted parts and stop the background thread."""
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None


class Recorder:
    """Buffers recorded rows on the device and flushes them as Parquet parts in chunks.

    A recorded round costs no tensor operation: the recorder keeps references to the round's
    tensors and stacks them into per-column device buffers every ``settle`` rounds (one
    operation per column). Once per chunk the rows are copied to the host and handed to the
    writer, which encodes and writes them on its background thread. This relies on the engine
    contract that tensors returned by ``env.step`` and ``agent.act`` are never modified in
    place afterwards (``olearn check`` tests it).

    A value may be ``None`` (a declared key absent on that round): the row is null in that
    column. With a ``schema`` (see :meth:`columns`) every part has exactly its columns, in its
    order and dtypes, columns this recorder never receives being all null.
    """

    def __init__(self, writer: TraceWriter, replicate_ids: list[int], *, rows: int,
                 settle: int = 256) -> None:
        self.writer = writer
        self.replicate_ids = np.asarray(replicate_ids, dtype=np.int64)
        self.rows = max(1, rows)
        self.settle = max(1, settle)
        self._names: list[str] = []
        self._schema: dict[str, str] | None = None
        self._cols: list[Tensor | None] = []         # per column: (rows, R); None: no value yet
        self._nulls: dict[int, list[int]] = {}       # column -> buffered rows that are null
        self._pending: list[tuple[Tensor | None, ...]] = []  # recorded rounds not yet stacked
        self._t: list[int] = []
        self.last_t = 0                              # last round of the previous chunk

    def columns(self, names: list[str], schema: Mapping[str, str] | None = None) -> None:
        """Name the columns, in the order :meth:`record` receives their values.

        ``schema`` (name -> ``"float64"``/``"int64"``/``"bool"``, in file order) fixes the
        parts' columns: it must hold ``replicate``, ``t`` and every name; without it a part
        has ``replicate``, ``t`` and the names, with the dtypes of the recorded values.
        """
        if schema is not None:
            missing = [n for n in ("replicate", "t", *names) if n not in schema]
            if missing:
                raise OlearnError(f"the trace schema has no column {missing[0]!r}")
        self._names = list(names)
        self._schema = None if schema is None else dict(schema)

    def record(self, t: int, values: tuple[Tensor | None, ...]) -> None:
        """Buffer one recorded round: one (R,) tensor per column, or ``None`` (null)."""
        self._pending.append(values)
        self._t.append(t)
        if len(self._pending) >= self.settle:
            self._stack()

    def _stack(self) -> None:
        if not self._pending:
            return
        if not self._cols:
            self._cols = [None] * len(self._names or self._pending[0])
        hi = len(self._t)
        lo = hi - len(self._pending)
        for c, col in enumerate(self._cols):
            values = [row[c] for row in self._pending]
            if col is not None:
                try:
                    torch.stack(values, out=col[lo:hi])    # type: ignore[arg-type]
                    continue
                except TypeError:                          # a None: the slow path below
                    pass
            self._stack_nulls(c, values, lo)
        self._pending.clear()

    def _stack_nulls(self, c: int, values: list[Tensor | None], lo: int) -> None:
        """Stack a column whose values include ``None`` (null rows) or that has no buffer yet."""
        rows = [lo + i for i, v in enumerate(values) if v is not None]
        present = [v for v in values if v is not None]
        if len(present) < len(values):
            self._nulls.setdefault(c, []).extend(lo + i for i, v in enumerate(values) if v is None)
        if not present:
            return
        col = self._cols[c]
        if col is None:   # the values' own dtype: stacking into another one is 15x slower
            first = present[0]
            col = self._cols[c] = torch.empty((self.rows, *first.shape), dtype=first.dtype,
                                              device=first.device)
        if len(rows) == len(values):
            torch.stack(present, out=col[lo: lo + len(values)])
        else:
            col[torch.tensor(rows, device=col.device)] = torch.stack(present).to(col.dtype)

    def first_nonfinite(self, names: tuple[str, ...]) -> tuple[int, int, int] | None:
        """The first buffered NaN/inf in the columns ``names``: (previous round, round,
        replicate index)."""
        self._stack()
        n = len(self._t)
        found = [self._cols[self._names.index(k)] for k in names if k in self._names]
        cols = [c[:n] for c in found if c is not None]
        if not n or not cols:
            return None
        hits = (~torch.isfinite(torch.stack(cols)).all(dim=0)).nonzero()   # (row, replicate)
        if not len(hits):
            return None
        row, col = int(hits[0, 0]), int(hits[0, 1])
        before = self._t[row - 1] if row else self.last_t
        return before, self._t[row], col

    @property
    def full(self) -> bool:
        return len(self._t) >= self.rows

    def flush(self) -> None:
        n = len(self._t)
        if n == 0:
            return
        self._stack()
        r = len(self.replicate_ids)
        cols: dict[str, Any] = {
            "replicate": np.repeat(self.replicate_ids, n),
            "t": np.tile(np.asarray(self._t, dtype=np.int64), r),
        }
        schema = self._schema
        for c, (name, buf) in enumerate(zip(self._names, self._cols, strict=True)):
            if buf is None:
                continue                           # no value yet: all null
            if schema is not None:
                kind: Any = DTYPES[schema[name]][0]
            else:
                kind = bool if buf.dtype == torch.bool else (
                    np.float64 if buf.dtype.is_floating_point else np.int64)
            # replicate-major, like t; one copy, as the buffer is reused
            values = np.array(buf[:n].T.cpu().numpy(), dtype=kind, order="C").reshape(-1)
            nulls = self._nulls.get(c)
            if nulls:
                null_rows = np.asarray(nulls, dtype=np.int64)
                where = (np.arange(r, dtype=np.int64)[:, None] * n + null_rows).reshape(-1)
                cols[name] = pl.Series(name, values).scatter(where, None)
            else:
                cols[name] = values
        if schema is not None:   # the schema's order; null columns where nothing was recorded
            cols = {k: cols[k] if k in cols else
                    pl.repeat(None, n * r, dtype=DTYPES[v][2], eager=True)
                    for k, v in schema.items()}
        self.writer.submit(pl.DataFrame(cols))
        self.last_t = self._t[-1]
        self._t.clear()
        self._nulls.clear()


def load(out: str | Path) -> pl.LazyFrame:
    """All trace parts of a run directory as one ``polars.LazyFrame`` (``agent`` from the
    partition).

    A run that is not complete (running, interrupted, failed) loads what was written, with an
    :class:`IncompleteRunWarning` saying where each agent stopped; a damaged part is named.

    Examples
    --------
    >>> import olearn
    >>> spec = olearn.RunSpec.from_dict({"name": "doc", "horizon": 50, "replicates": 2,
    ...     "env": {"id": "olearn/ContextualBandit-v0"},
    ...     "agents": [{"label": "uniform", "id": "olearn/Uniform-v0"}]})
    >>> import tempfile
    >>> out = olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True).out
    >>> olearn.load(out).select("agent", "replicate", "t", "regret").collect().shape
    (100, 4)
    """
    from olearn import rundir

    trace = Path(out) / "trace"
    if not any(trace.glob("agent=*/part-*.parquet")):
        msg = f"no trace parts under {trace}; is {out} an olearn run directory?"
        raise OlearnError(msg)
    for part in sorted(trace.glob("agent=*/part-*.parquet")):
        try:
            pl.read_parquet_schema(part)
        except Exception as e:  # noqa: BLE001 - any reader error means the file is damaged
            msg = (f"trace part {part} is damaged or truncated ({type(e).__name__}); move it "
                   "away to read the rest of the run")
            raise UsageError(msg) from None
    note = rundir.incomplete_note(out)
    if note is not None:
        warnings.warn(f"{out} is not complete; {note}", IncompleteRunWarning, stacklevel=2)
    frames = [pl.scan_parquet(d / "part-*.parquet").with_columns(agent=pl.lit(d.name[6:]))
              for d in sorted(trace.glob("agent=*")) if any(d.glob("part-*.parquet"))]
    frame = pl.concat(frames, how="diagonal_relaxed")
    return frame.select("agent", pl.exclude("agent"))
