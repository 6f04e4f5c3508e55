"""Sweeps: a grid of run specs (parameters × seeds), each an ordinary run directory.

A sweep spec is a run spec plus a ``[sweep]`` table whose keys use the ``--set`` syntax and
whose values are lists; the tasks are the Cartesian product of the lists. Replicates stay a
batch dimension inside each task. The pieces, one module each:

- :mod:`olearn.sweep.grid`: read a sweep spec, expand and validate its tasks;
- :mod:`olearn.sweep.sweepdir`: the sweep directory, its marker, definition and index;
- :mod:`olearn.sweep.task`: run one task (in a worker) and summarise it;
- :mod:`olearn.sweep.backends`: the local process pool and Ray;
- :mod:`olearn.sweep.report`: one LazyFrame of all tasks, the status and best-configuration
  tables, final regret against a grid parameter.

Examples
--------
>>> from olearn.sweep.grid import expand
>>> base = {"horizon": 10, "env": {"id": "olearn/ContextualBandit-v0"},
...         "agents": [{"label": "ucb", "id": "olearn/LinUCB-v0"}]}
>>> tasks = expand(base, {"agents.ucb.kwargs.alpha": [0.1, 1.0], "seed": [0, 1, 2]})
>>> len(tasks), tasks[1].values
(6, {'agents.ucb.kwargs.alpha': 0.1, 'seed': 1})
"""

from __future__ import annotations

__all__ = ["run_sweep"]


def __getattr__(name: str) -> object:
    if name == "run_sweep":
        from olearn.sweep.driver import run_sweep

        return run_sweep
    msg = f"module 'olearn.sweep' has no attribute {name!r}"
    raise AttributeError(msg)
