"""Trained agents saved with a run: ``OUT/agents/<label>.pt``, read back by :func:`load_agent`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from olearn.errors import UsageError

__all__ = ["load_agent", "saved_agents"]


def saved_agents(run_dir: str | Path) -> list[str]:
    """The labels whose trained agent ``run_dir`` holds (sorted; empty if none)."""
    saved = Path(run_dir) / "agents"
    if not saved.is_dir():
        return []
    return sorted(p.name.removesuffix(".pt") for p in saved.glob("*.pt") if p.is_file())


def load_agent(run_dir: str | Path, label: str) -> Any:
    """The agent ``label`` of the run in ``run_dir`` as it was when it finished its horizon, on
    the CPU: ready to ``act`` on new observations, ``predict`` held-out data (the aggregate
    learners), or keep learning (a warm start).

    The file is a pickle: load only run directories you trust. An unknown label, or a run with
    no saved agent (unfinished, or its agents could not be pickled), is a one-line
    :class:`~olearn.errors.UsageError` naming the labels available.

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

    run_dir = Path(run_dir)
    labels = saved_agents(run_dir)
    if label not in labels:
        if labels:
            msg = f"{run_dir} has no saved agent {label!r}; saved agents: {', '.join(labels)}"
        else:
            msg = (f"{run_dir} has no saved agents (an agent is saved to OUT/agents/ when it "
                   f"finishes its horizon), so none named {label!r}")
        raise UsageError(msg)
    agent = torch.load(run_dir / "agents" / f"{label}.pt", map_location="cpu",
                       weights_only=False)
    if isinstance(getattr(agent, "device", None), torch.device):
        agent.device = torch.device("cpu")      # where its tensors now are
    return agent
