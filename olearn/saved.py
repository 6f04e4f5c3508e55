"""Trained agents saved with a run: ``OUT/agents/<label>.pt``, read back by :func:`load_agent`,
and warm starts (``init`` in an ``[[agents]]`` entry).

A file holds the agent's id, keywords, spaces and replicate count and its state as tensors and
plain values (:mod:`olearn.agent_state`): it loads with ``torch.load(weights_only=True)``, so
reading a run directory executes nothing from it. The agent comes back by building it from its
id and keywords and writing the state into it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from olearn.errors import SpecError, UsageError

__all__ = ["check_init", "load_agent", "load_saved", "save_agent", "saved_agents"]

FORMAT = 1


def saved_agents(run_dir: str | Path) -> list[str]:
    """The labels whose trained agent ``run_dir`` holds (sorted; empty if none)."""
    saved = Path(run_dir) / "agents"
    if not saved.is_dir():
        return []
    return sorted(p.name.removesuffix(".pt") for p in saved.glob("*.pt") if p.is_file())


def save_agent(out: Path, entry: Any, agent: Any, spaces: tuple[Any, Any]) -> None:
    """Write ``agent``'s state to ``OUT/agents/<label>.pt`` (tmp + rename); warn and skip if
    it cannot be written."""
    import torch

    from olearn.agent_state import state_of

    path = out / "agents" / f"{entry.label}.pt"
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    record = {"format": FORMAT, "id": entry.id, "label": entry.label,
              "kwargs": dict(entry.kwargs), "observation_space": repr(spaces[0]),
              "action_space": repr(spaces[1]), "replicates": getattr(agent, "replicates", None),
              "seeds": list(getattr(agent, "seeds", [])), "state": state_of(agent)}
    try:
        torch.save(record, tmp)
    except (TypeError, AttributeError, RuntimeError) as e:
        print(f"warning: cannot save agent {entry.label} (olearn.load_agent will not find "
              f"it): {e}", file=sys.stderr)
        tmp.unlink(missing_ok=True)
        return
    os.replace(tmp, path)


def load_saved(path: str | Path, label: str | None = None) -> dict[str, Any]:
    """The record of a saved agent: a ``.pt`` file, or ``RUN_DIR`` and a label."""
    import torch

    path = Path(path)
    if path.is_dir():
        labels = saved_agents(path)
        if label not in labels:
            if labels:
                msg = f"{path} has no saved agent {label!r}; saved agents: {', '.join(labels)}"
            else:
                msg = (f"{path} has no saved agents (an agent is saved to OUT/agents/ when it "
                       f"finishes its horizon, unless run with --no-save-agents), so none "
                       f"named {label!r}")
            raise UsageError(msg)
        path = path / "agents" / f"{label}.pt"
    elif not path.is_file():
        raise UsageError(f"saved agent {str(path)!r} does not exist (give a run directory or "
                         "an OUT/agents/<label>.pt file)")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - an old pickle, a damaged or foreign file
        raise UsageError(f"{path} is not a saved olearn agent ({type(e).__name__}); save it "
                         "again with this version of olearn") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise UsageError(f"{path} is not a saved olearn agent (format {FORMAT})")
    return record


def check_init(record: dict[str, Any], entry: Any, spaces: tuple[Any, Any],
               replicates: int, where: str) -> None:
    """Refuse a warm start whose saved agent does not fit: another id, spaces or replicates."""
    problems = []
    if record["id"] != entry.id:
        problems.append(f"it is {record['id']}, not {entry.id}")
    for i, name in enumerate(("observation_space", "action_space")):
        if record[name] != repr(spaces[i]):
            problems.append(f"its {name.replace('_', ' ')} is {record[name]}, this env's "
                            f"{spaces[i]!r}")
    if record["replicates"] not in (None, replicates):
        problems.append(f"it has {record['replicates']} replicates, this run {replicates}")
    if problems:
        raise SpecError(f"agents.{entry.label}.init = {where}: cannot warm-start from it: "
                        + "; ".join(problems))


def load_agent(run_dir: str | Path, label: str) -> Any:
    """The agent ``label`` of the run in ``run_dir`` as it was when it finished its horizon, on
    the CPU: ready to ``act`` on new observations, ``predict`` held-out data (the aggregate
    learners), or keep learning.

    It is rebuilt from its id and keywords (its env from the run's ``spec.toml`` gives the
    spaces and, for planners, the simulator) and its saved state written into it. An unknown
    label, or a run with no saved agent, is a one-line :class:`~olearn.errors.UsageError`
    naming the labels available.

    Examples
    --------
    >>> import olearn, tempfile, torch
    >>> spec = {"name": "doc", "horizon": 50, "replicates": 2,
    ...         "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 3, "dim": 4}},
    ...         "agents": [{"label": "ucb", "id": "olearn/LinUCB-v0"}]}
    >>> run = olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True)
    >>> agent = olearn.load_agent(run.out, "ucb")
    >>> action, _ = agent.act(torch.zeros(2, 4))
    >>> action.shape
    torch.Size([2])
    >>> olearn.load_agent(run.out, "ts")
    Traceback (most recent call last):
    ...
    olearn.errors.UsageError: ... has no saved agent 'ts'; saved agents: ucb
    """
    import torch

    from olearn.agent_state import load_state
    from olearn.registry import make_agent, make_env
    from olearn.seeding import replicate_seeds
    from olearn.simulator import attach_simulators
    from olearn.spec import RunSpec

    record = load_saved(run_dir, label)
    spec = RunSpec.from_toml(Path(run_dir) / "spec.toml")
    replicates = record["replicates"] or len(spec.replicate_ids)
    env = make_env(spec.env.id, num_envs=replicates, device="cpu", kwargs=spec.env.kwargs)
    agent = make_agent(record["id"], env.single_observation_space, env.single_action_space,
                       label=label, **record["kwargs"])
    ids = spec.replicate_ids if len(spec.replicate_ids) == replicates else range(replicates)
    env.reset(seed=replicate_seeds(spec.seed, "env", ids))   # the run's instance, for planners
    attach_simulators(env, [agent])
    agent.reset(seeds=record["seeds"] or list(range(replicates)), device=torch.device("cpu"))
    load_state(agent, record["state"])
    return agent


def evaluation_spec(run_dir: str | Path, *, env: str | None = None,
                    env_kwargs: dict[str, Any] | None = None, horizon: int | None = None,
                    seed: int | None = None, labels: list[str] | None = None) -> dict[str, Any]:
    """A run spec that plays the saved agents of ``run_dir`` without learning (``init`` the
    run, ``learn = false``): on the run's own environment and seed by default (the same
    instance and stream: the trained policy's regret where it learned), another ``seed``
    (note that a synthetic environment may draw another instance from another seed), or
    ``env`` with ``env_kwargs``."""
    from olearn.spec import read_toml

    run_dir = Path(run_dir)
    data = read_toml(run_dir / "spec.toml")
    saved = saved_agents(run_dir)
    labels = labels or saved
    for label in labels:
        if label not in saved:
            load_saved(run_dir, label)   # the one-line error naming what was saved
    if not labels:
        load_saved(run_dir, None)
    agents = []
    for label in labels:
        record = load_saved(run_dir, label)
        agents.append({"label": label, "id": record["id"], "kwargs": record["kwargs"],
                       "init": str(run_dir.resolve()), "learn": False})
    spec = {k: v for k, v in data.items() if k not in ("agents", "first_replicate")}
    spec["agents"] = agents
    spec["name"] = f"{data.get('name', 'run')}-eval"
    spec["seed"] = seed if seed is not None else int(data.get("seed", 0))
    spec["replicates"] = load_saved(run_dir, labels[0])["replicates"] or data.get("replicates", 1)
    if env is not None:
        spec["env"] = {"id": env, "kwargs": env_kwargs or {}}
    elif env_kwargs:
        spec["env"] = {**data["env"], "kwargs": {**data["env"].get("kwargs", {}), **env_kwargs}}
    if horizon is not None:
        spec["horizon"] = horizon
    return spec
