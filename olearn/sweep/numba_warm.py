"""Imported by the local pool's fork server, not by users: sets up numba's typing and lowering
registries once, so that each forked worker's first compiled kernel starts in about 0.1 s
instead of about 1 s.

numba builds these registries lazily, at the first call of any compiled function in a process:
it imports its implementations of numpy (and through them ``scipy.linalg``, for BLAS) and
registers about a thousand overloads, about 0.9 s of one core. Done here it is paid once per
fork server and shared by every worker it forks (copy-on-write), which matters most to a
second sweep from the same process, whose fork server is already running. Only the registries
are built: no compiled function runs, so no numba thread pool exists when the server forks
(the only new thread is scipy's OpenBLAS pool, which OpenBLAS itself makes fork-safe). Any
failure (numba missing, an internal API moved) is ignored: the workers then pay the cost as
before. The fork server stops at an import error in its preload list, so nothing may escape.
"""

from __future__ import annotations


def warm() -> bool:
    """Build numba's CPU registries in this process; ``False`` if that could not be done."""
    try:
        from numba.core.registry import cpu_target

        cpu_target.typing_context.refresh()
        cpu_target.target_context.refresh()
    except Exception:  # noqa: BLE001 - an optimisation only: never stop the fork server
        return False
    return True


warm()
