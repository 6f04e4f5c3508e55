"""The run directory: what olearn writes in ``OUT``, the lock that gives it one writer, its status.

A run directory holds only what olearn wrote::

    OUT/.olearn-run     marker: {"format": 1, "olearn": <version>}, written when the run starts
    OUT/.lock           held (an OS file lock) by the process writing the run, for its whole life
    OUT/spec.toml, OUT/meta.json, OUT/error.log, OUT/regret.png
    OUT/trace/agent=<label>/part-NNNNN.parquet
    OUT/checkpoints/<label>.pt
    OUT/agents/<label>.pt       the trained agent, saved when it finishes (olearn.load_agent)

``--force`` removes a directory only when it carries the marker and nothing olearn did not
write; the lock is an ``flock`` on ``OUT/.lock``, so a killed run releases it and a second
writer is refused with the holder's process id. ``meta.json``'s ``status`` is ``running`` while
the lock is held, then ``complete``, ``failed`` or ``interrupted``; a ``running`` run whose lock
is free died without saying so (SIGKILL, power loss) and reads as ``interrupted``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from olearn.errors import RunExistsError, SpecError, UsageError

__all__ = ["FORMAT", "LOCK", "MARKER", "RunLock", "foreign_entries", "holder", "prepare",
           "read_meta", "status"]

MARKER = ".olearn-run"
LOCK = ".lock"
FORMAT = 1
_TOP = {MARKER, LOCK, "spec.toml", "meta.json", "error.log", "regret.png", "trace", "checkpoints",
        "agents"}
_PICKLES = ("checkpoints", "agents")


class RunLockedError(UsageError):
    """Another process holds the run directory (exit code 2)."""


def _fcntl() -> Any:
    try:
        import fcntl
    except ImportError:   # Windows: no advisory locks; runs are not protected there
        return None
    return fcntl


class RunLock:
    """An exclusive ``flock`` on ``OUT/.lock`` holding the writer's process id.

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> lock = RunLock(out)
    >>> holder(out) is None
    False
    >>> lock.release(); holder(out) is None
    True
    """

    def __init__(self, out: Path) -> None:
        path = out / LOCK
        try:
            self.fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            msg = f"cannot write in --out {out}: {e.strerror}; choose a writable directory"
            raise SpecError(msg) from None
        fcntl = _fcntl()
        if fcntl is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _read_pid(path)
                os.close(self.fd)
                self.fd = None
                who = f"process {pid}" if pid else "another process"
                msg = (f"run directory {out} is in use by {who} (another olearn simulate); "
                       "wait for it to finish or choose another --out")
                raise RunLockedError(msg) from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)   # closing the descriptor drops the flock
            self.fd = None


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def holder(out: str | Path) -> int | None:
    """The id of the process holding ``out``'s lock (this one included), or ``None`` if free."""
    path = Path(out) / LOCK
    fcntl = _fcntl()
    if fcntl is None or not path.is_file():
        return None
    pid = _read_pid(path)
    fd = os.open(path, os.O_RDONLY)   # a second open file: its flock conflicts even in-process
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return pid or -1
    finally:
        os.close(fd)
    return None


def foreign_entries(out: Path) -> list[str]:
    """Paths under ``out`` (relative) that olearn does not write."""
    bad: list[str] = []
    for p in sorted(out.iterdir()):
        name = p.name.removesuffix(".tmp")
        if name not in _TOP or (name in ("trace", *_PICKLES) and not p.is_dir()):
            bad.append(p.name)
        elif p.name == "trace":
            for d in sorted(p.iterdir()):
                if not (d.is_dir() and d.name.startswith("agent=")):
                    bad.append(f"trace/{d.name}")
                    continue
                bad += [f"trace/{d.name}/{f.name}" for f in sorted(d.iterdir())
                        if not (f.name.startswith("part-") and f.name.removesuffix(".tmp")
                                .endswith(".parquet") and f.is_file())]
        elif p.name in _PICKLES:
            bad += [f"{p.name}/{f.name}" for f in sorted(p.iterdir())
                    if not (f.is_file() and f.name.removesuffix(".tmp").endswith(".pt"))]
    return bad


def read_meta(out: str | Path) -> dict[str, Any] | None:
    """``OUT/meta.json`` as a dict, ``None`` if absent; a damaged file is named in the error."""
    path = Path(out) / "meta.json"
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path} is damaged (not valid JSON: {e})") from None
    if not isinstance(meta, dict):
        raise UsageError(f"{path} is damaged (not a JSON object)")
    return meta


def status(out: str | Path, meta: dict[str, Any] | None = None) -> str:
    """The run's status; a ``running`` run whose lock is free is ``interrupted`` (it died)."""
    meta = read_meta(out) if meta is None else meta
    if meta is None:
        return "unknown"
    st = str(meta.get("status", "unknown"))
    if st == "running" and holder(out) is None:
        return "interrupted"
    return st


def _ensure_dir(out: Path) -> bool:
    """Create ``out`` if needed; return whether it existed. Unusable paths are bad input."""
    if out.exists() and not out.is_dir():
        raise SpecError(f"--out {out} exists and is not a directory; choose a directory path")
    existed = out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        msg = f"cannot create --out {out}: {e.strerror}; choose a writable directory path"
        raise SpecError(msg) from None
    return existed


def prepare(out: Path, digest: str, *, force: bool,
            resume: bool) -> tuple[dict[str, Any] | None, bool, RunLock]:
    """Take ``out`` for a run: ``(meta to resume or None, whether out existed, the lock)``.

    Refuses to overwrite without ``force``, to resume another spec's run, and to ``--force``
    a directory olearn cannot prove it wrote (no marker, or files it did not write).
    """
    from olearn import __version__

    existed = _ensure_dir(out)
    had_lock = (out / LOCK).exists()
    lock = RunLock(out)
    try:
        entries = [p for p in out.iterdir() if p.name != LOCK]
        meta = read_meta(out) if entries else None
        if entries and resume:
            if meta is None:
                raise SpecError(f"cannot resume {out}: it has no meta.json; use --force to "
                                "start over")
            if meta.get("digest") != digest:
                raise SpecError(f"cannot resume {out}: it was run from a different spec; use "
                                "the same spec, or --force to start over")
            return meta, existed, lock
        if entries:
            if not force:
                raise RunExistsError(f"output directory {out} already exists; pass --resume to "
                                     "continue that run or --force to overwrite it")
            _check_removable(out)
            for p in entries:
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        marker = {"format": FORMAT, "olearn": __version__}
        (out / MARKER).write_text(json.dumps(marker) + "\n")
        return None, existed, lock
    except BaseException:
        lock.release()   # refused: leave the directory as it was
        if not had_lock:
            (out / LOCK).unlink(missing_ok=True)
        if not existed and not any(out.iterdir()):
            out.rmdir()
        raise


def _check_removable(out: Path) -> None:
    listing = ", ".join(sorted(p.name for p in out.iterdir() if p.name != LOCK)[:8])
    if not (out / MARKER).is_file():
        msg = (f"refusing to --force-overwrite {out}: it has no {MARKER} marker, so olearn "
               f"cannot prove it wrote it (it holds: {listing}); remove it yourself or choose "
               "another --out")
        raise SpecError(msg)
    foreign = foreign_entries(out)
    if foreign:
        shown = ", ".join(foreign[:8]) + (f" and {len(foreign) - 8} more" if len(foreign) > 8
                                          else "")
        msg = (f"refusing to --force-overwrite {out}: it holds files olearn did not write "
               f"({shown}); move them away or choose another --out")
        raise SpecError(msg)


def discard(out: Path, *, existed: bool) -> None:
    """Remove what a run that failed before its first round wrote (the directory too, if it
    made it)."""
    for name in ("spec.toml", "meta.json", MARKER, "error.log", LOCK):
        (out / name).unlink(missing_ok=True)
    trace = out / "trace"
    if trace.is_dir() and not any(trace.rglob("part-*")):
        shutil.rmtree(trace)
    if not existed and out.is_dir() and not any(out.iterdir()):
        out.rmdir()


def horizon(out: str | Path) -> int | None:
    """The horizon T of the run in ``out`` (from ``spec.toml``), or ``None``."""
    import tomllib

    try:
        value = tomllib.loads((Path(out) / "spec.toml").read_text()).get("horizon")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, int) else None


def rounds_done(out: str | Path) -> dict[str, int]:
    """The last recorded round of each agent label in the trace of ``out``."""
    import polars as pl

    done: dict[str, int] = {}
    for d in sorted((Path(out) / "trace").glob("agent=*")):
        parts = sorted(d.glob("part-*.parquet"))
        try:
            done[d.name[6:]] = int(pl.scan_parquet(parts).select(pl.col("t").max())
                                   .collect().item() or 0) if parts else 0
        except Exception:  # noqa: BLE001 - a damaged part: trace.load names it
            done[d.name[6:]] = 0
    return done


def incomplete_note(out: str | Path, meta: dict[str, Any] | None = None) -> str | None:
    """One line on a run that is not complete (where each agent stopped, how to resume)."""
    meta = read_meta(out) if meta is None else meta
    st = status(out, meta)
    if meta is None or st == "complete":
        return None
    done = rounds_done(out)
    labels = list(meta.get("agents", {})) or list(done)
    labels += [label for label in done if label not in labels]
    t_max = horizon(out)
    of = f" of T = {t_max:,}" if t_max else ""
    where = ", ".join(f"{label} at t = {done.get(label, 0):,}" for label in labels) or "no rounds"
    if st == "running":
        return f"running (process {holder(out)}): {where}{of}"
    if st == "failed":
        return f"failed ({meta.get('error', 'see error.log')}): {where}{of}; see {out}/error.log"
    return (f"{st}: {where}{of}; resume with: olearn simulate {out}/spec.toml --out {out} "
            "--resume")
