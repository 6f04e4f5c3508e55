"""Run one sweep task where a worker is (a pool process or a Ray task) and summarise it.

A task is an ordinary :func:`olearn.simulate` into its own run directory: a complete task is
never rewritten, an interrupted or failed one resumes from its own checkpoint. What returns to
the driver is small (status, one error line, seconds, the final regret per agent); the trace
stays on disk.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["run_task", "summarize"]


def run_task(payload: dict[str, Any]) -> dict[str, Any]:
    """Run (or resume, or skip if complete) the task in ``payload["out"]``; never raises for a
    failed run: the failure comes back as ``status = "failed"`` with its error line."""
    from olearn.errors import OlearnError
    from olearn.runner import simulate
    from olearn.spec import RunSpec
    from olearn.sweep.sweepdir import task_status

    out = Path(payload["out"])
    result: dict[str, Any] = {"task": out.name, "status": "failed", "error": None,
                              "seconds": None, "summary": None}
    if task_status(out) == "complete":   # finished by an earlier driver: never rewritten
        result.update(status="complete", summary=summarize(out))
        return result
    started = time.monotonic()
    with _output_to(Path(payload["log"])):
        try:
            spec = RunSpec.from_dict({**payload["spec"], "threads": payload.get("threads", 1),
                                      "kernel_threads": 0})   # the pool's share of the cores
            resume = (out / "meta.json").is_file()
            # no meta.json but files: killed while its run directory was being set up (the
            # runner's --force removes only a directory carrying olearn's marker)
            force = not resume and out.is_dir() and any(p.name != ".lock" for p in out.iterdir())
            simulate(spec, out=out, resume=resume, force=force, quiet=True)
        except KeyboardInterrupt:
            raise   # the driver is going away (Ctrl-C, SIGTERM): the run is marked interrupted
        except OlearnError as e:
            result["error"] = str(e).splitlines()[0]
        except Exception as e:  # noqa: BLE001 - any failure is this task's, not the sweep's
            result["error"] = f"{type(e).__name__}: {e}".splitlines()[0]
        else:
            result.update(status="complete", summary=summarize(out))
        finally:
            result["seconds"] = round(time.monotonic() - started, 3)
        if result["error"] is not None:
            print(f"error: {result['error']}", file=sys.stderr)
    return result


def summarize(out: Path) -> list[dict[str, Any]]:
    """Final regret per agent (mean, 95% interval, replicates) of a task's trace."""
    from olearn.metrics import final
    from olearn.trace import IncompleteRunWarning, load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteRunWarning)
        df = final(load(out)).collect()
    return [{"agent": r["agent"], "t": int(r["t"]), "mean": r["mean"], "ci95": r["ci95"],
             "replicates": int(r["replicates"])} for r in df.iter_rows(named=True)]


@contextlib.contextmanager
def _output_to(log: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2) to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(log, "a") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
