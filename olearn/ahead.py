"""Compute the next block of an environment's per-round data while the current one is in use.

A batched environment prepares its random numbers and oracle values a block of rounds at a
time. :class:`Ahead` runs that preparation for block ``b + 1`` on a background thread while
the engine plays block ``b``. The thread runs at the lowest CPU priority, so on a machine whose
cores are all busy it only takes time that would otherwise be spent spinning (a parallel
kernel's idle workers), never time from the simulation itself. Results do not depend on it:
``fn(b)`` is the same whichever thread computes it. The price is memory: two blocks are alive
at a time instead of one.

Examples
--------
>>> ahead = Ahead(lambda b: b * b)
>>> ahead(3), ahead(4), ahead(0)   # 4 was prepared while 3 was in use; 0 is computed now
(9, 16, 0)
>>> ahead.close()
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["Ahead"]


def _lowest_priority() -> None:
    """Give the calling thread the lowest CPU priority (Linux: per-thread nice 19)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):   # no per-thread priorities here: run at normal priority
        pass


class Ahead:
    """``ahead(b)`` returns ``fn(b)`` and starts ``fn(b + 1)`` on a background thread.

    Blocks are expected in order; any other block is computed on the calling thread (after
    the background job, which may share state with ``fn``, has finished). ``fn`` must be a
    pure function of the block index and of state that does not change between calls.
    Pickling keeps ``fn`` and drops the thread and the job (they are restarted on demand).
    """

    def __init__(self, fn: Callable[[int], Any]) -> None:
        self.fn = fn
        self._pool: ThreadPoolExecutor | None = None
        self._next: tuple[int, Future] | None = None
        self._pid = os.getpid()

    def __call__(self, block: int) -> Any:
        job, self._next = self._next, None
        if self._pid != os.getpid():     # a forked child: the parent's thread is not here
            job, self._pool, self._pid = None, None, os.getpid()
        if job is not None and job[0] == block:
            out = job[1].result()
        else:
            if job is not None:          # never run fn on two threads at once; that
                job[1].exception()       # block's outcome, error or not, is not wanted
            out = self.fn(block)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="olearn-ahead",
                                            initializer=_lowest_priority)
        self._next = (block + 1, self._pool.submit(self.fn, block + 1))
        return out

    def wait(self) -> None:
        """Block until the background job (if any) is done; its errors surface when used."""
        if self._next is not None:
            self._next[1].exception()

    def close(self) -> None:
        """Finish the background job and stop the thread."""
        self.wait()
        self._next = None
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __getstate__(self) -> dict:
        self.wait()
        return {"fn": self.fn, "_pool": None, "_next": None, "_pid": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _pid=os.getpid())
