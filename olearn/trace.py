"""The regret trace: a Parquet dataset partitioned by agent, written in atomic parts.

Layout: ``OUT/trace/agent=<label>/part-00000.parquet``. Stable columns: ``agent`` (from the
partition), ``replicate`` (int64), ``t`` (int64, 1-based round), ``regret`` (float64,
cumulative), ``reward`` (float64, this round) and ``cum_reward``; then the environment's
oracle quantities and the agent's ``act_info`` entries, one column each.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl
import torch
from torch import Tensor

from olearn.errors import OlearnError

__all__ = ["TraceWriter", "Recorder", "load", "schedule"]

ZSTD_LEVEL = 1
"""zstd level of the trace parts. On a LinUCB trace part (256 replicates × 1024 rounds) level 1
costs 35 µs of CPU a round against 60–80 µs for polars' default (3), for files 13% larger;
the writer shares the cores with the simulation, so its CPU is the simulation's."""


def schedule(horizon: int, *, every: int | None = None, log: int | None = None) -> np.ndarray:
    """The rounds to record: every ``every``-th round, or ``log`` log-spaced rounds; T always.

    >>> schedule(10, every=4).tolist()
    [4, 8, 10]
    >>> schedule(1000, log=4).tolist()
    [1, 10, 100, 1000]
    """
    if log is not None:
        pts = np.unique(np.round(np.logspace(0, np.log10(horizon), log)).astype(np.int64))
    else:
        pts = np.arange(every or 1, horizon + 1, every or 1, dtype=np.int64)
    return np.unique(np.append(pts[(pts >= 1) & (pts <= horizon)], horizon))


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
    """

    def __init__(self, writer: TraceWriter, replicate_ids: list[int], *, rows: int,
                 settle: int = 256) -> None:
        self.writer = writer
        self.replicate_ids = np.asarray(replicate_ids, dtype=np.int64)
        self.rows = max(1, rows)
        self.settle = max(1, settle)
        self._names: list[str] = []
        self._cols: list[Tensor] = []                # per column: (rows, R), the column's dtype
        self._pending: list[tuple[Tensor, ...]] = []  # recorded rounds not yet stacked
        self._t: list[int] = []
        self.last_t = 0                              # last round of the previous chunk

    def columns(self, names: list[str]) -> None:
        """Name the columns, in the order :meth:`record` receives their values."""
        self._names = list(names)

    def record(self, t: int, values: tuple[Tensor, ...]) -> None:
        """Buffer one recorded round: one (R,) tensor per column."""
        self._pending.append(values)
        self._t.append(t)
        if len(self._pending) >= self.settle:
            self._stack()

    def _stack(self) -> None:
        if not self._pending:
            return
        if not self._cols:
            self._cols = [torch.empty((self.rows, *v.shape), dtype=v.dtype, device=v.device)
                          for v in self._pending[0]]
        lo = len(self._t) - len(self._pending)
        for c, col in enumerate(self._cols):
            torch.stack([row[c] for row in self._pending], out=col[lo: len(self._t)])
        self._pending.clear()

    def first_nonfinite(self, names: tuple[str, ...]) -> tuple[int, int, int] | None:
        """The first buffered NaN/inf in the columns ``names``: (previous round, round, replicate index)."""
        self._stack()
        n = len(self._t)
        cols = [self._cols[self._names.index(k)][:n] for k in names if k in self._names]
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
        cols: dict[str, np.ndarray] = {
            "replicate": np.repeat(self.replicate_ids, n),
            "t": np.tile(np.asarray(self._t, dtype=np.int64), r),
        }
        for name, buf in zip(self._names, self._cols):
            kind = bool if buf.dtype == torch.bool else (
                np.float64 if buf.dtype.is_floating_point else np.int64)
            # replicate-major, like t; one copy, as the buffer is reused
            cols[name] = np.array(buf[:n].T.cpu().numpy(), dtype=kind, order="C").reshape(-1)
        self.writer.submit(pl.DataFrame(cols))
        self.last_t = self._t[-1]
        self._t.clear()


def load(out: str | Path) -> pl.LazyFrame:
    """All trace parts of a run directory as one ``polars.LazyFrame`` (``agent`` from the partition).

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
    trace = Path(out) / "trace"
    if not any(trace.glob("agent=*/part-*.parquet")):
        msg = f"no trace parts under {trace}; is {out} an olearn run directory?"
        raise OlearnError(msg)
    frames = [pl.scan_parquet(d / "part-*.parquet").with_columns(agent=pl.lit(d.name[6:]))
              for d in sorted(trace.glob("agent=*")) if any(d.glob("part-*.parquet"))]
    frame = pl.concat(frames, how="diagonal_relaxed")
    return frame.select("agent", pl.exclude("agent"))
