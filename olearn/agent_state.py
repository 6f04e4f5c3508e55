"""Agent state as plain tensors: saved with ``torch.save``, loaded with ``weights_only=True``.

An agent's state is read from its attributes, recursively: tensors as they are, numbers and
strings, lists and dicts of them, ``nn.Module`` / optimizer ``state_dict()``, numpy arrays as
tensors, generator states, and the attributes of any other object it holds (its ridge model,
its random streams). Spaces, functions and compiled kernels are left out: they come back from
the agent's keywords. So no class is pickled and a state file executes nothing when loaded.

Loading writes into a *fresh* agent built with the same keywords and reset for the same number
of replicates: tensors and arrays are copied in place (aliases stay aliases, a model's
parameters stay the optimizer's), everything else is replaced (a work buffer of another size
too). A state saved for another number of replicates is refused.

Examples
--------
>>> import gymnasium as gym, torch
>>> from olearn import make_agent
>>> spaces = gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(2)
>>> a = make_agent("olearn/LinUCB-v0", *spaces)
>>> a.reset(seeds=[0, 1], device=torch.device("cpu"))
>>> state = state_of(a)
>>> b = make_agent("olearn/LinUCB-v0", *spaces)
>>> b.reset(seeds=[5, 6], device=torch.device("cpu"))
>>> load_state(b, state); b.seeds
[0, 1]
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import torch
from torch import Tensor

from olearn.errors import UsageError

__all__ = ["StateMismatchError", "load_state", "state_of"]

_SKIP = "__skip__"


class StateMismatchError(UsageError):
    """A saved state does not fit the agent it is loaded into (exit code 2)."""


def _skipped(v: Any) -> bool:
    import gymnasium as gym

    if isinstance(v, (gym.Space, type, types.ModuleType, types.FunctionType,
                      types.BuiltinFunctionType, types.MethodType, types.LambdaType)):
        return True
    mod = type(v).__module__ or ""
    return mod.startswith(("torch._C", "numba", "threading", "_thread", "concurrent"))


def to_state(v: Any) -> Any:
    """The weights-only form of one attribute value."""
    if isinstance(v, Tensor):
        return v.detach()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, torch.device):
        return {"__device__": str(v)}
    if isinstance(v, torch.dtype):
        return {"__dtype__": str(v).removeprefix("torch.")}
    if isinstance(v, np.ndarray):
        if v.dtype == object:
            return {_SKIP: True}
        return {"__numpy__": torch.from_numpy(np.ascontiguousarray(v)).clone()}
    if isinstance(v, torch.Generator):
        return {"__generator__": v.get_state()}
    if isinstance(v, np.random.Generator):
        return {"__np_generator__": v.bit_generator.state}
    if isinstance(v, torch.nn.Module):
        return {"__module__": v.state_dict()}
    if isinstance(v, torch.optim.Optimizer):
        return {"__optimizer__": v.state_dict()}
    if isinstance(v, (list, tuple)):
        return {"__list__": [to_state(x) for x in v]}
    if isinstance(v, dict):
        if all(isinstance(k, (str, int)) for k in v):
            return {"__dict__": {k: to_state(x) for k, x in v.items()}}
        return {_SKIP: True}
    if _skipped(v) or not hasattr(v, "__dict__"):
        return {_SKIP: True}
    return {"__object__": {k: to_state(x) for k, x in vars(v).items()}}


def state_of(agent: Any) -> dict[str, Any]:
    """The agent's learned state and counters, tensors and plain values only."""
    return {k: to_state(v) for k, v in vars(agent).items()
            if k not in ("observation_space", "action_space")}


def _set(obj: Any, key: str, value: Any) -> None:
    """``setattr``, also on a frozen dataclass (its fields are state like any other)."""
    if getattr(obj, key, None) is value:
        return
    try:
        setattr(obj, key, value)
    except AttributeError:   # dataclasses.FrozenInstanceError is one
        object.__setattr__(obj, key, value)


def load_state(agent: Any, state: dict[str, Any]) -> None:
    """Write ``state`` (from :func:`state_of`) into ``agent``, reset for as many replicates."""
    mine, theirs = getattr(agent, "replicates", None), state.get("replicates")
    if isinstance(mine, int) and isinstance(theirs, int) and mine != theirs:
        raise StateMismatchError(f"the saved state has {theirs} replicates and this agent "
                                 f"{mine}; warm-start with as many replicates as were saved")
    for key, saved in state.items():
        _set(agent, key, _restore(getattr(agent, key, None), saved, key))


def _restore(cur: Any, saved: Any, path: str) -> Any:
    if isinstance(saved, Tensor):
        return _tensor(cur, saved, path)
    if not isinstance(saved, dict) or len(saved) != 1:
        return saved
    (kind, value), = saved.items()
    if kind == _SKIP:
        return cur
    if kind == "__device__":
        return cur if isinstance(cur, torch.device) else torch.device(value)
    if kind == "__dtype__":
        return getattr(torch, value)
    if kind == "__numpy__":
        arr = value.numpy()
        if isinstance(cur, np.ndarray) and cur.shape == arr.shape and cur.dtype == arr.dtype \
                and cur.flags.writeable:
            cur[...] = arr
            return cur
        return arr.copy()   # another shape: a work buffer sized as it grew
    if kind == "__generator__":
        cur = cur if isinstance(cur, torch.Generator) else torch.Generator()
        cur.set_state(value)
        return cur
    if kind == "__np_generator__":
        cur.bit_generator.state = value
        return cur
    if kind in ("__module__", "__optimizer__"):
        if cur is None:
            raise StateMismatchError(f"saved state has {path} but the agent has none")
        cur.load_state_dict(value)
        return cur
    if kind == "__list__":
        old = list(cur) if isinstance(cur, (list, tuple)) else []
        if old and len(old) != len(value):
            raise StateMismatchError(f"saved state has {len(value)} entries in {path}, the "
                                     f"agent {len(old)} (another replicate count?)")
        items = [_restore(old[i] if i < len(old) else None, s, f"{path}[{i}]")
                 for i, s in enumerate(value)]
        if hasattr(cur, "_fields"):   # a named tuple keeps its type
            return type(cur)(*items)
        return tuple(items) if isinstance(cur, tuple) else items
    if kind == "__dict__":
        table: dict[Any, Any] = cur if isinstance(cur, dict) else {}
        return {k: _restore(table.get(k), s, f"{path}.{k}") for k, s in value.items()}
    if kind == "__object__":
        if cur is None:
            raise StateMismatchError(f"saved state has an object at {path} but the agent has "
                                     "none there (another agent or other keywords?)")
        for k, s in value.items():
            _set(cur, k, _restore(getattr(cur, k, None), s, f"{path}.{k}"))
        return cur
    return saved


def _tensor(cur: Any, saved: Tensor, path: str) -> Tensor:
    if isinstance(cur, Tensor) and cur.dtype == saved.dtype and cur.shape == saved.shape:
        try:
            with torch.no_grad():
                cur.copy_(saved)   # in place: tensors that alias each other still do
            return cur
        except RuntimeError:       # an expanded or otherwise unwritable view
            pass
    device = cur.device if isinstance(cur, Tensor) else saved.device
    return saved.to(device)
