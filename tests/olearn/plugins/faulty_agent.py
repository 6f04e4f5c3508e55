"""Uniform play that can fail on purpose: raise, kill its process, or go slowly (sweep tests)."""

from __future__ import annotations

import os
import time
from typing import Any

from olearn.agents.bandits.baselines import Uniform


class FaultyUniform(Uniform):
    """Uniform play; at round ``fail_at`` raise, at ``crash_at`` exit the process with code 3;
    sleep ``sleep`` seconds every round; at round ``hold_at`` wait for as long as the file
    ``hold`` exists (a task that cannot finish until the test lets it)."""

    def __init__(self, observation_space: Any, action_space: Any, *, fail_at: int = 0,
                 crash_at: int = 0, sleep: float = 0.0, hold_at: int = 0,
                 hold: str = "") -> None:
        super().__init__(observation_space, action_space)
        self.fail_at, self.crash_at, self.sleep = fail_at, crash_at, sleep
        self.hold_at, self.hold = hold_at, hold

    def act(self, obs: Any) -> Any:
        if self.sleep:
            time.sleep(self.sleep)
        if self._t + 1 == self.fail_at:
            raise RuntimeError(f"deliberate failure at round {self.fail_at}")
        if self._t + 1 == self.crash_at:
            os._exit(3)
        while self._t + 1 == self.hold_at and os.path.exists(self.hold):
            time.sleep(0.05)
        return super().act(obs)
