"""How much memory a run's state needs, measured before the run allocates it.

:func:`check_fits` resets throwaway copies of the environment and of each agent with one and
with two replicates, sums the bytes of the tensors and arrays they hold, and extrapolates
linearly to ``R`` replicates. A run whose estimate exceeds the memory available on its device
is refused before anything large is allocated, saying what it needs and how many replicates fit.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import numpy as np
import torch

from olearn.errors import SpecError

Tensor = torch.Tensor

__all__ = ["available", "check_fits", "state_bytes"]

GiB = 1 << 30


def state_bytes(obj: Any, *, _seen: set[int] | None = None, _depth: int = 0) -> int:
    """Bytes of the tensors and arrays reachable from ``obj`` (attributes, lists, dicts).

    >>> class A: pass
    >>> a = A(); a.w = torch.zeros(10, dtype=torch.float64); a.d = {"m": np.zeros(5)}
    >>> state_bytes(a)
    120
    """
    seen = set() if _seen is None else _seen
    if id(obj) in seen or _depth > 6:
        return 0
    seen.add(id(obj))
    if isinstance(obj, Tensor):
        return obj.untyped_storage().nbytes() if obj.device.type != "meta" else 0
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, dict):
        items: Any = obj.values()
    elif isinstance(obj, (list, tuple, set)):
        items = obj
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        items = vars(obj).values()
    else:
        return 0
    return sum(state_bytes(v, _seen=seen, _depth=_depth + 1) for v in items)


def available(device: torch.device) -> int | None:
    """Bytes of memory available for a run's state on ``device`` (``None``: unknown)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(env_id: str, env_kwargs: dict[str, Any], agents: list[Any], replicates: int,
               device: torch.device, *, headroom: float = 0.8) -> None:
    """Refuse ``replicates`` whose estimated state exceeds ``headroom`` of available memory.

    Agents run one after another, so the estimate is the env plus the largest agent. The
    estimate is best effort: where the small probe itself fails, the run goes ahead.
    """
    limit = available(device)
    if limit is None or replicates <= 2:
        return
    try:
        small, two = (_bytes(env_id, env_kwargs, agents, r, device) for r in (1, 2))
    except Exception:  # noqa: BLE001 - a plug-in that cannot be probed is checked by the run
        return
    per = max(two - small, 0)
    need = small + per * (replicates - 1)
    if need <= headroom * limit:
        return
    fits = max(1, int((headroom * limit - small) // per) + 1) if per else replicates
    msg = (f"{replicates} replicates need about {need / GiB:.1f} GiB for the env and agent "
           f"state ({per / (1 << 20):.2f} MiB a replicate) but {device} has "
           f"{limit / GiB:.1f} GiB available; lower --replicates to at most {fits}, or run the "
           "replicates in parts with --first-replicate and --replicates")
    raise SpecError(msg)


def _bytes(env_id: str, env_kwargs: dict[str, Any], agents: list[Any], replicates: int,
           device: torch.device) -> int:
    """State bytes of a fresh env and of the largest agent, reset with ``replicates``."""
    from olearn.registry import make_env

    env = make_env(env_id, num_envs=replicates, device=device, kwargs=env_kwargs)
    env.reset(seed=list(range(replicates)))
    largest = 0
    for agent in agents:
        a = copy.deepcopy(agent)
        a.reset(seeds=list(range(replicates)), device=device)
        largest = max(largest, state_bytes(a))
    return state_bytes(env) + largest
