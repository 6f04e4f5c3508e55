"""Uniform play in an episodic MDP: every state's action distribution is uniform."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import torch
from torch import Tensor

from olearn.agent import BatchedAgent
from olearn.agents.mdp.common import mdp_shape

__all__ = ["UniformPolicy"]


class UniformPolicy(BatchedAgent):
    """Play the uniform policy every episode (the no-learning reference).

    Examples
    --------
    >>> import olearn
    >>> spec = olearn.RunSpec.from_dict({"name": "doc", "horizon": 50, "replicates": 2,
    ...     "env": {"id": "olearn/LinearMDP-v0", "kwargs": {"adversary": "anti_uniform"}},
    ...     "agents": [{"label": "u", "id": "olearn/UniformPolicy-v0"}]})
    >>> import tempfile
    >>> run = olearn.simulate(spec, out=tempfile.mkdtemp() + "/run", quiet=True)
    >>> trace = olearn.load(run.out).collect()
    >>> bool(trace.filter(trace["t"] == 50)["regret"].min() > 0)
    True
    """

    info_keys: ClassVar[tuple[str, ...]] = ()
    test_env: ClassVar[tuple[str, dict[str, Any]]] = (
        "olearn/LinearMDP-v0", {"H": 2, "states": 3, "actions": 3, "d": 3})

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        super().__init__(observation_space, action_space)
        self._shape = mdp_shape(type(self).__name__, observation_space, action_space)

    def reset(self, *, seeds: Any, device: torch.device) -> None:
        super().reset(seeds=seeds, device=device)
        h, s, a, _ = self._shape
        self._policy = torch.full((len(self.seeds), h, s, a), 1.0 / a, dtype=torch.float64,
                                  device=self.device)

    def act(self, obs: Any) -> tuple[Tensor, dict[str, Tensor]]:
        return self._policy.clone(), {}

    def update(self, step: Any) -> None:
        """Nothing to learn."""
