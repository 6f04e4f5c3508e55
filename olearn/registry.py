"""Agent registry and plug-in loading for agents and environments.

THE factories: :func:`make_env` and :func:`make_agent` are the one path from a reference to a
batched object, for the CLI, the Python API, ``olearn check`` and the runner. Environments use
gymnasium's registry; agents use the one below. Both accept the same plug-in references:

* a registered id: ``"olearn/LinUCB-v0"``;
* ``"mypkg:mypkg/Drift-v0"``: import ``mypkg`` (which registers), then use the id;
* ``"module.sub:Class"``: import a class from an installed module;
* ``"path/to/file.py:Class"``: import a class from a file.

Ids that installed packages register through the ``olearn.plugins`` entry-point group are
found too: an id unknown to the registries loads those entry points once and looks again.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from olearn.errors import SpecError

__all__ = ["AgentSpec", "agent_registry", "load_object", "load_plugins", "make_agent", "make_env",
           "register_agent"]


@dataclass(frozen=True)
class AgentSpec:
    """A registered agent: its id, where its class lives, and a one-line description."""

    id: str
    entry_point: str | Callable[..., Any]
    description: str = ""

    def load(self) -> Callable[..., Any]:
        if callable(self.entry_point):
            return self.entry_point
        return load_object(self.entry_point)


agent_registry: dict[str, AgentSpec] = {}


def register_agent(id: str, entry_point: str | Callable[..., Any], *,  # noqa: A002
                   description: str = "") -> None:
    """Register an agent class under ``id`` (e.g. ``"me/MyAgent-v0"``).

    >>> register_agent("demo/Mine-v0", "olearn.agents.bandits.baselines:Uniform")
    >>> "demo/Mine-v0" in agent_registry
    True
    """
    agent_registry[id] = AgentSpec(id, entry_point, description)


def where(exc: BaseException) -> str:
    """``file:line`` of the innermost frame of ``exc``'s traceback outside olearn, or ``""``."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    ours = tuple(str(Path(m.__file__).resolve().parent) + "/" for name in
                 ("olearn", "olearn.envs", "olearn.agents")
                 if (m := sys.modules.get(name)) is not None and m.__file__)
    outside = [f for f in frames if not str(Path(f.filename).resolve()).startswith(ours)
               and "importlib" not in f.filename]
    if not (outside or frames):
        return ""
    frame = (outside or frames)[-1]
    return f"{frame.filename}:{frame.lineno}"


def plugin_failure(what: str, exc: BaseException) -> SpecError:
    """A one-line error for a plug-in that raised: what failed, the exception, and where."""
    at = where(exc)
    return SpecError(f"{what}: {type(exc).__name__}: {exc}" + (f" (at {at})" if at else ""))


def _import_file(path: str) -> Any:
    p = Path(path)
    if not p.is_file():
        msg = f"plug-in file {path!r} does not exist"
        raise SpecError(msg)
    # the same name in every process (not hash(), salted per process): checkpoints pickle a
    # plug-in's classes by module name, and a run resumes in a new process
    name = "olearn_plugin_" + hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:16]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        msg = f"plug-in file {path!r} is not a Python module"
        raise SpecError(msg)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - any error of a user's file is bad input
        del sys.modules[name]
        raise plugin_failure(f"plug-in file {path} failed to import", e) from None
    return module


def import_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and name.startswith(e.name):
            msg = f"cannot import module {name!r} ({e}); is it installed or on PYTHONPATH?"
            raise SpecError(msg) from None
        raise plugin_failure(f"module {name} failed to import", e) from None
    except Exception as e:  # noqa: BLE001 - any error of a user's module is bad input
        raise plugin_failure(f"module {name} failed to import", e) from None


def load_object(ref: str) -> Any:
    """Load ``"module:Name"`` or ``"path/to/file.py:Name"``."""
    mod_ref, _, attr = ref.rpartition(":")
    if not mod_ref or not attr:
        msg = f"expected 'module:Class' or 'path/to/file.py:Class', got {ref!r}"
        raise SpecError(msg)
    module = _import_file(mod_ref) if mod_ref.endswith(".py") else import_module(mod_ref)
    try:
        return getattr(module, attr)
    except AttributeError:
        names = [n for n in dir(module) if not n.startswith("_")]
        hint = difflib.get_close_matches(attr, names, n=1)
        msg = f"{mod_ref!r} has no attribute {attr!r}" + (
            f"; did you mean {hint[0]!r}?" if hint else "")
        raise SpecError(msg) from None


_ID = re.compile(r"^(?:[\w.-]+/)?[\w.-]+-v\d+$")


def is_id(ref: str) -> bool:
    """A registered-style id (``ns/Name-vN``, ``Name-vN``, optionally ``pkg:`` first) rather than a
    ``module:Class`` reference.

    >>> is_id("olearn/SEA-v0"), is_id("CartPole-v1"), is_id("mypkg:my/Env-v2"), is_id("m:Class")
    (True, True, True, False)
    """
    return not ref.endswith(".py") and bool(_ID.match(ref.rpartition(":")[2]))


def import_id(ref: str) -> str:
    """The id of ``"pkg:ns/Name-vN"`` or ``"ns/Name-vN"``, after importing ``pkg`` if given."""
    module, _, ident = ref.rpartition(":")
    if module:
        import_module(module)
    return ident


def unknown(kind: str, ref: str, known: list[str]) -> SpecError:
    """The error for an unknown id, with the closest known one suggested."""
    hint = difflib.get_close_matches(ref, known, n=1, cutoff=0.5)
    tail = f"; did you mean {hint[0]!r}?" if hint else f"; see `olearn {kind}s` for the list"
    return SpecError(f"unknown {kind} id {ref!r}{tail}")


_PLUGIN_MODULES: dict[str, str] = {}   # entry-point name -> module, once loaded


def load_plugins() -> dict[str, str]:
    """Import the ``olearn.plugins`` entry points (once); return ``{name: error}`` of failures."""
    from importlib.metadata import entry_points

    failed: dict[str, str] = {}
    for ep in entry_points(group="olearn.plugins"):
        if ep.name in _PLUGIN_MODULES:
            continue
        try:
            ep.load()
        except Exception as e:  # noqa: BLE001 - a broken plug-in must not break olearn
            failed[ep.name] = f"{type(e).__name__}: {e}"
            continue
        _PLUGIN_MODULES[ep.name] = ep.module
    return failed


def plugin_modules() -> list[str]:
    """Modules of the entry-point plug-ins loaded so far."""
    return list(_PLUGIN_MODULES.values())


def resolve_agent(ref: str) -> tuple[str, Callable[..., Any]]:
    """Return ``(name, class)`` for an agent reference."""
    if is_id(ref):
        ident = import_id(ref)
        if ident not in agent_registry:
            load_plugins()
        if ident not in agent_registry:
            raise unknown("agent", ident, sorted(agent_registry))
        return ident, agent_registry[ident].load()
    return ref, load_object(ref)


def resolve_env(ref: str) -> tuple[str, Any, Any]:
    """Return ``(name, vector_class_or_None, single_class)`` for an environment reference."""
    import gymnasium as gym

    if not is_id(ref):
        cls = load_object(ref)
        return ref, cls, cls
    ident = import_id(ref)
    if ident not in gym.registry:
        load_plugins()
    if ident not in gym.registry:
        raise unknown("env", ident, sorted(gym.registry))
    spec = gym.registry[ident]
    vec, single = spec.vector_entry_point, spec.entry_point
    return (ident, load_object(vec) if isinstance(vec, str) else vec,
            load_object(single) if isinstance(single, str) else single)


def check_kwargs(name: str, factory: Callable[..., Any], kwargs: dict[str, Any],
                 skip: tuple[str, ...] = ()) -> None:
    """Raise a :class:`SpecError` naming any keyword the factory does not accept."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
               and n not in skip and n not in ("self", "observation_space", "action_space")]
    for key in kwargs:
        if key not in allowed:
            hint = difflib.get_close_matches(key, allowed, n=1)
            tail = (f"did you mean {hint[0]!r}?" if hint
                    else f"allowed: {', '.join(allowed) or 'none'}")
            msg = f"unknown keyword {key!r} for {name}; {tail}"
            raise SpecError(msg)


def make_agent(ref: str, observation_space: Any, action_space: Any, *, label: str | None = None,
               **kwargs: Any) -> Any:
    """Build a batched agent from a reference, its single-replicate spaces and keywords.

    Keywords are checked against the class's signature first; a single-replicate plug-in
    (no ``vectorized = True``) comes wrapped in :class:`olearn.adapters.PerReplicateAgent`.
    ``label`` names the agent in error messages.

    >>> import gymnasium as gym
    >>> agent = make_agent("olearn/LinUCB-v0", gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(2),
    ...                    alpha=0.5)
    >>> agent.alpha
    0.5
    """
    name, cls = resolve_agent(ref)
    who = f"{label} ({name})" if label else name
    check_kwargs(who, cls, kwargs)

    def make() -> Any:
        return cls(observation_space, action_space, **kwargs)

    try:
        agent = make()
    except (TypeError, ValueError) as e:
        msg = f"cannot build agent {who}: {e}"
        raise SpecError(msg) from None
    except Exception as e:  # noqa: BLE001 - whatever a plug-in raises, it is bad input here
        raise plugin_failure(f"cannot build agent {who}", e) from None
    if getattr(cls, "vectorized", False):
        return agent
    from olearn.adapters import PerReplicateAgent

    return PerReplicateAgent(make, first=agent)


def make_env(ref: str, *, num_envs: int, device: Any = "cpu",
             kwargs: dict[str, Any] | None = None) -> Any:
    """Build a batched environment of ``num_envs`` replicates from a reference.

    A registered id uses its ``vector_entry_point`` when that is an olearn
    :class:`~olearn.vector.BatchedEnv`; any other ``gymnasium.Env`` runs as one copy per
    replicate (:class:`olearn.adapters.PerReplicateEnv`).

    >>> env = make_env("olearn/SEA-v0", num_envs=2, kwargs={"dim": 3})
    >>> env.num_envs, env.single_action_space.shape
    (2, (3,))
    """
    import gymnasium as gym
    import torch

    from olearn.adapters import PerReplicateEnv
    from olearn.vector import BatchedEnv

    kwargs = dict(kwargs or {})
    device = torch.device(device)
    name, vec, single = resolve_env(ref)
    if isinstance(vec, type) and issubclass(vec, BatchedEnv):
        check_kwargs(name, vec, kwargs, skip=("num_envs", "device"))
        return _build("env", name, lambda: vec(num_envs=num_envs, device=device, **kwargs))
    if is_id(ref):
        check_kwargs(name, single, kwargs)
        make: Callable[[], Any] = lambda: gym.make(name, disable_env_checker=True, **kwargs)  # noqa: E731
    elif isinstance(single, type) and issubclass(single, gym.Env):
        check_kwargs(name, single, kwargs)
        make = lambda: single(**kwargs)  # noqa: E731
    else:
        msg = f"{ref} is neither a gymnasium.Env nor an olearn BatchedEnv class"
        raise SpecError(msg)
    return _build("env", name, lambda: PerReplicateEnv(make, num_envs, device=device))


def _build(kind: str, name: str, make: Callable[[], Any]) -> Any:
    try:
        return make()
    except SpecError:
        raise
    except (TypeError, ValueError) as e:
        msg = f"cannot build {kind} {name}: {e}"
        raise SpecError(msg) from None
    except Exception as e:  # noqa: BLE001 - whatever a plug-in raises, it is bad input here
        raise plugin_failure(f"cannot build {kind} {name}", e) from None
