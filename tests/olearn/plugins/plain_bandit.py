"""A plain numpy gymnasium environment with no olearn imports, used as a plug-in in tests."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class TwoArms(gym.Env):
    """Two Bernoulli arms with means 0.3 and 0.7; the oracle reports the pseudo-regret."""

    def __init__(self, gap: float = 0.4):
        self.gap = gap
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.means = np.array([0.5 - gap / 2, 0.5 + gap / 2])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.ones(1, dtype=np.float32), {}

    def step(self, action):
        reward = float(self.np_random.random() < self.means[action])
        info = {"feedback": {}, "oracle": {"regret": float(self.means.max() - self.means[action])}}
        return np.ones(1, dtype=np.float32), reward, False, False, info


class LossEnv(gym.Env):
    """Reports loss + comparator_cum_loss instead of a regret increment."""

    def __init__(self):
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        loss = float(action)  # arm 0 has loss 0, arm 1 loss 1
        info = {"oracle": {"loss": loss, "comparator_cum_loss": 0.0}}
        return np.zeros(1, dtype=np.float32), -loss, False, False, info


class NaNEnv(TwoArms):
    """Returns a NaN reward on round 7."""

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return super().reset(seed=seed, options=options)

    def step(self, action):
        self.t += 1
        obs, reward, term, trunc, info = super().step(action)
        return obs, (float("nan") if self.t == 7 else reward), term, trunc, info


class GreedyCounter:
    """A single-replicate agent written without olearn: plays the arm with the best mean."""

    def __init__(self, observation_space, action_space, *, explore: int = 20):
        self.observation_space, self.action_space = observation_space, action_space
        self.explore = explore

    def reset(self, seed):
        self.rng = np.random.default_rng(seed)
        self.sums, self.counts = np.zeros(2), np.zeros(2)

    def act(self, obs):
        if self.counts.min() < self.explore:
            return int(self.counts.argmin()), {}
        return int((self.sums / self.counts).argmax()), {}

    def update(self, step):
        self.sums[int(step.action)] += float(step.reward)
        self.counts[int(step.action)] += 1

