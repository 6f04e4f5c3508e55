"""The regret trace: a Parquet dataset partitioned by agent, written in atomic parts.

Layout: ``OUT/trace/agent=<label>/part-00000.parquet``. Stable columns: ``agent`` (from the
partition), ``replicate`` (int64), ``t`` (int64, 1-based round), ``regret`` (float64,
cumulative), ``reward`` (float64, this round) and ``cum_reward``; then the environment's
oracle quantities and the agent's ``act_info`` entries, one column each.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import torch
from torch import Tensor

from olearn.errors import OlearnError

__all__ = ["TraceWriter", "Recorder", "load", "schedule"]

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
    """Writes numbered Parquet parts into one agent's partition, each atomically."""

    def __init__(self, directory: Path, *, next_part: int = 0) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.next_part = next_part

    def truncate(self) -> None:
        """Delete parts numbered ``next_part`` and above (written after the last checkpoint)."""
        for p in self.directory.glob("part-*.parquet*"):
            stem = p.name.split(".")[0]
            if p.name.endswith(".tmp") or int(stem.removeprefix("part-")) >= self.next_part:
                p.unlink()

    def write(self, frame: pl.DataFrame) -> Path:
        path = self.directory / f"part-{self.next_part:05d}.parquet"
        tmp = path.with_name(path.name + ".tmp")
        frame.write_parquet(tmp, statistics=True)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self.next_part += 1
        return path


class Recorder:
    """Buffers recorded rows on the device and flushes them as Parquet parts in chunks.

    Per recorded round it costs one indexed copy per column; the device-to-host copy and the
    Parquet write happen once per chunk.
    """

    def __init__(self, writer: TraceWriter, replicate_ids: list[int], *, rows: int) -> None:
        self.writer = writer
        self.replicate_ids = np.asarray(replicate_ids, dtype=np.int64)
        self.rows = max(1, rows)
        self._names: list[str] = []
        self._dtypes: list[torch.dtype] = []
        self._buf: Tensor | None = None    # (rows, columns, R) float64
        self._t: list[int] = []

    def record(self, t: int, values: dict[str, Tensor]) -> None:
        """Buffer one recorded round; ``values`` keeps the same keys from round to round."""
        if self._buf is None:
            self._names = list(values)
            self._dtypes = [v.dtype for v in values.values()]
            first = next(iter(values.values()))
            self._buf = torch.empty((self.rows, len(values), first.shape[0]),
                                    dtype=torch.float64, device=first.device)
        # one stacked copy per round (type promotion to float64 is exact for ints < 2**53)
        torch.stack(list(values.values()), out=self._buf[len(self._t)])
        self._t.append(t)

    @property
    def full(self) -> bool:
        return len(self._t) >= self.rows

    def flush(self) -> None:
        n = len(self._t)
        if n == 0 or self._buf is None:
            return
        r = len(self.replicate_ids)
        cols: dict[str, np.ndarray] = {
            "replicate": np.repeat(self.replicate_ids, n),
            "t": np.tile(np.asarray(self._t, dtype=np.int64), r),
        }
        block = self._buf[:n].permute(1, 2, 0).cpu().numpy()   # (columns, R, n)
        for i, (name, dtype) in enumerate(zip(self._names, self._dtypes)):
            col = block[i].reshape(-1)
            if dtype == torch.bool:
                col = col.astype(bool)
            elif not dtype.is_floating_point:
                col = col.astype(np.int64)
            cols[name] = col
        self.writer.write(pl.DataFrame(cols))
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
