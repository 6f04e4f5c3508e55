"""Plain numpy gymnasium plug-ins with dict observations and non-Discrete actions (no olearn
imports), for the contract checks: good ones and ones that break the contract."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class ReachTarget(gym.Env):
    """Each round shows a target point of the square; playing ``x`` loses ``‖x − target‖²``.

    Observation ``{"target": Box(-1, 1, (2,)), "phase": Discrete(5)}`` (the round modulo 5);
    action ``Box(-1, 1, (2,))``; the best action is the target, so the regret increment is the
    loss itself.
    """

    def __init__(self, spread: float = 0.9):
        self.spread = spread
        self.observation_space = spaces.Dict({
            "target": spaces.Box(-1.0, 1.0, (2,), dtype=np.float32),
            "phase": spaces.Discrete(5),
        })
        self.action_space = spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)

    def _observe(self):
        self.target = self.np_random.uniform(-self.spread, self.spread, 2).astype(np.float32)
        return {"target": self.target.copy(), "phase": self.t % 5}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._observe(), {}

    def step(self, action):
        diff = np.asarray(action, dtype=np.float64) - self.target
        loss = float(diff @ diff)
        info = {"feedback": {"grad": 2.0 * diff}, "oracle": {"regret": loss}}
        self.t += 1
        return self._observe(), -loss, False, False, info


class StrayTarget(ReachTarget):
    """Breaks the contract: in round 3 the target lies outside its Box."""

    def _observe(self):
        obs = super()._observe()
        if self.t == 3:
            obs["target"] = np.array([1.5, 0.0], dtype=np.float32)
        return obs


class NoPhase(ReachTarget):
    """Breaks the contract: the observation lacks its "phase" key."""

    def _observe(self):
        obs = super()._observe()
        del obs["phase"]
        return obs


class Dials(gym.Env):
    """Two dials (``MultiDiscrete([3, 4])``); the regret is how far each is from its top."""

    def __init__(self):
        self.observation_space = spaces.Box(0.0, 1.0, (1,), dtype=np.float32)
        self.action_space = spaces.MultiDiscrete([3, 4])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        a = np.asarray(action)
        regret = float((self.action_space.nvec - 1 - a).sum())
        noise = float(self.np_random.normal())
        return np.zeros(1, dtype=np.float32), -regret + noise, False, False, {
            "oracle": {"regret": regret}}


class DictAction(Dials):
    """A dict action space, which olearn's engine cannot pass as one tensor."""

    def __init__(self):
        super().__init__()
        self.action_space = spaces.Dict({"dial": spaces.Discrete(3)})


class Chaser:
    """A single-replicate agent: plays the target it sees."""

    def __init__(self, observation_space, action_space, *, overshoot: float = 0.0):
        self.observation_space, self.action_space = observation_space, action_space
        self.overshoot = overshoot

    def reset(self, seed):
        pass

    def act(self, obs):
        target = np.asarray(obs["target"], dtype=np.float32)
        return target * (1.0 + self.overshoot) + np.float32(self.overshoot), {}

    def update(self, step):
        pass


class OutsideBall:
    """A single-replicate agent for a ball domain that plays just outside it."""

    def __init__(self, observation_space, action_space):
        self.observation_space, self.action_space = observation_space, action_space

    def reset(self, seed):
        pass

    def act(self, obs):
        x = np.zeros(self.action_space.shape)
        x[0] = 1.5 * self.action_space.radius
        return x, {}

    def update(self, step):
        pass
