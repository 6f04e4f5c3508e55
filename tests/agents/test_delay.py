"""Delayed feedback (``delay = d`` in a run spec) over every registered agent.

With delay ``d`` the loop calls ``update(step_t)`` after ``act`` of round ``t + d``. An agent is
*delay-safe* when acting only advances counters and random streams, and an update depends only
on the step it is handed (its ``obs``, ``action``, ``act_info``, ``reward``, ``feedback``) and
on learned state: nothing an update needs may be kept in ``self`` between ``act`` and
``update``, because by then later rounds have acted.

:func:`test_update_depends_only_on_its_step` checks this generically: a warmed-up agent is
copied into ``X`` and ``Y``; ``X`` plays ``d + 1`` rounds in order (act, env step, update)
while ``Y`` gets the delayed call pattern: its own ``d + 1`` acts (discarded), then ``X``'s
``d + 1`` steps as updates. Both have then learned from the same steps in the same order and
acted equally often, so they must act identically on a probe observation.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any, ClassVar

import numpy as np
import polars as pl
import pytest
import torch

import olearn
import olearn.agents  # noqa: F401  (registers)
from olearn.agents.oco.ogd import OGD
from olearn.agents.oco.omd import OptimisticOMD
from olearn.registry import agent_registry, make_agent, make_env, register_agent
from olearn.seeding import replicate_seeds
from olearn.simulator import attach_simulators
from olearn.types import Step

CPU = torch.device("cpu")
DEFAULT_ENV = ("olearn/ContextualBandit-v0", {"arms": 3, "dim": 4})
R = 3


def _agent_params():
    for agent_id, spec in sorted(agent_registry.items()):
        if not agent_id.startswith("olearn/"):
            continue
        cls = spec.load()
        env_id, env_kwargs = getattr(cls, "test_env", DEFAULT_ENV)
        for kwargs in cls._unit_test_params():
            yield pytest.param(agent_id, kwargs, env_id, env_kwargs, id=f"{agent_id}-{kwargs}")


def _round(agent: Any, env: Any, obs: Any, t: int) -> tuple[Step, Any]:
    action, info = agent.act(obs)
    nxt, reward, term, trunc, einfo = env.step(action)
    return Step(t, obs, action, info, reward, einfo.get("feedback", {}), nxt, term | trunc), nxt


def _assert_same(a: tuple[torch.Tensor, dict], b: tuple[torch.Tensor, dict], what: str) -> None:
    assert torch.equal(a[0], b[0]), f"{what}: actions differ"
    assert set(a[1]) == set(b[1]), f"{what}: act_info keys differ"
    for k in a[1]:
        assert torch.equal(a[1][k], b[1][k]), f"{what}: act_info[{k!r}] differs"


@pytest.mark.parametrize("delay", [1, 3])
@pytest.mark.parametrize(("agent_id", "kwargs", "env_id", "env_kwargs"), list(_agent_params()))
def test_update_depends_only_on_its_step(agent_id, kwargs, env_id, env_kwargs, delay):
    env = make_env(env_id, num_envs=R, device=CPU, kwargs=env_kwargs)
    agent = make_agent(agent_id, env.single_observation_space, env.single_action_space, **kwargs)
    attach_simulators(env, [agent])                         # for agents that plan with one
    obs, _ = env.reset(seed=replicate_seeds(7, "env", range(R)))
    agent.reset(seeds=replicate_seeds(7, "agent", range(R)), device=CPU)
    t = 0
    for t in range(1, 6):                                   # warm up in order
        step, obs = _round(agent, env, obs, t)
        agent.update(step)
    x, y = copy.deepcopy(agent), copy.deepcopy(agent)
    steps = []
    for s in range(t + 1, t + delay + 2):                   # X: d + 1 rounds in order
        step, obs = _round(x, env, obs, s)
        x.update(step)
        steps.append(step)
    for step in steps:                                      # Y: the same acts, feedback late
        y.act(step.obs)
    for step in steps:
        y.update(step)
    _assert_same(x.act(obs), y.act(obs), f"delay {delay}, probe round")


def test_the_generic_check_catches_state_kept_between_act_and_update():
    """A learner that keeps its last action for the update must fail the check above."""

    class Leaky(OGD):
        def act(self, obs):
            x, info = super().act(obs)
            self._played = x
            return x, info

        def update(self, step):
            super().update(Step(step.t, step.obs, self._played, step.act_info, step.reward,
                                {"grad": step.feedback["grad"] + self._played}))

    register_agent("test/LeakyOGD-v0", Leaky)
    with pytest.raises(AssertionError, match="differ"):
        test_update_depends_only_on_its_step("test/LeakyOGD-v0", {}, *OGD.test_env, 3)


# -- delayed OGD / optimistic OMD through the real loop against a hand-written reference --------

class _Recorded:
    """Mixin: keep every action the agent plays (the trace has regret, not the points)."""

    played: ClassVar[list[torch.Tensor]] = []

    def reset(self, *, seeds, device):
        super().reset(seeds=seeds, device=device)
        type(self).played = []

    def act(self, obs):
        x, info = super().act(obs)
        type(self).played.append(x.clone())
        return x, info


class RecordedOGD(_Recorded, OGD):
    played: ClassVar[list[torch.Tensor]] = []


class RecordedOMD(_Recorded, OptimisticOMD):
    played: ClassVar[list[torch.Tensor]] = []


def _project_ball(x: np.ndarray, radius: float) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x * np.minimum(1.0, radius / np.maximum(n, 1e-300))


def _reference(env_kwargs: dict, *, horizon: int, replicates: int, seed: int, delay: int,
               schedule: str, delayed_step: str, optimistic: bool, G: float = 1.0,  # noqa: N803
               delta: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Played points (T, R, d) and step sizes (T, R) of delayed (optimistic) OGD, by hand.

    ``x̂_1 = 0``; round ``t`` plays ``x_t = Π(x̂_t − η_t M_t)`` (``M ≡ 0`` without optimism),
    then, once ``t > d``, learns ``g_s`` of round ``s = t − d``: ``x̂ ← Π(x̂ − η g_s)`` with
    ``η = η_s`` (own) or ``η_t`` (current), ``V ← V + ‖g_s − M_s‖²``, ``M ← g_s``.
    """
    env = make_env("olearn/SEA-v0", num_envs=replicates, device=CPU, kwargs=env_kwargs)
    env.reset(seed=replicate_seeds(seed, "env", range(replicates)))
    radius = env_kwargs.get("radius", 1.0)
    diam = 2.0 * radius
    dim = env_kwargs["dim"]
    x_hat = np.zeros((replicates, dim))
    hint = np.zeros((replicates, dim))
    v = np.full(replicates, delta + 4.0 * G * G)
    etas, hints, grads, played = [], [], [], []
    for t in range(1, horizon + 1):
        eta = (np.full(replicates, diam / (G * np.sqrt(t))) if schedule == "inv_sqrt"
               else diam / np.sqrt(v))
        m = hint if optimistic else np.zeros_like(hint)
        x = _project_ball(x_hat - eta[:, None] * m, radius) if optimistic else x_hat.copy()
        etas.append(eta)
        hints.append(m)
        played.append(x)
        _, _, _, _, info = env.step(torch.as_tensor(x))
        grads.append(info["feedback"]["grad"].numpy().astype(np.float64))
        if t > delay:
            s = t - delay - 1                                    # 0-based round of the feedback
            step = etas[s] if delayed_step == "own" else eta
            x_hat = _project_ball(x_hat - step[:, None] * grads[s], radius)
            v = v + ((grads[s] - hints[s]) ** 2).sum(-1)
            hint = grads[s]
    return np.stack(played), np.stack(etas)


_RUNS = itertools.count()
ENV = {"dim": 3, "loss": "quadratic", "sigma": 0.3, "scale": 2.0}


@pytest.mark.parametrize("delayed_step", ["own", "current"])
@pytest.mark.parametrize(("cls", "kwargs"), [
    (RecordedOGD, {"schedule": "inv_sqrt"}),
    (RecordedOGD, {"schedule": "adaptive"}),
    (RecordedOMD, {}),
])
def test_delayed_steps_match_a_hand_written_reference(tmp_path, cls, kwargs, delayed_step):
    """``delay = 3`` through ``olearn.simulate``: points and the logged ``eta`` as by hand."""
    horizon, replicates, delay = 60, 2, 3
    register_agent("test/Recorded-v0", cls)
    spec = {"name": "delay", "horizon": horizon, "replicates": replicates, "seed": 0,
            "delay": delay, "record": {"every": 1},
            "env": {"id": "olearn/SEA-v0", "kwargs": ENV},
            "agents": [{"label": "a", "id": "test/Recorded-v0",
                        "kwargs": {**kwargs, "delayed_step": delayed_step}}]}
    result = olearn.simulate(spec, out=tmp_path / f"run-{next(_RUNS)}", quiet=True)
    optimistic = cls is RecordedOMD
    want_x, want_eta = _reference(ENV, horizon=horizon, replicates=replicates, seed=0,
                                  delay=delay, schedule=kwargs.get("schedule", "adaptive"),
                                  delayed_step=delayed_step, optimistic=optimistic)
    got_x = torch.stack(cls.played).numpy()
    np.testing.assert_allclose(got_x, want_x, rtol=0, atol=1e-12)
    trace = result.load().sort("t", "replicate").collect()
    got_eta = trace["eta"].to_numpy().reshape(horizon, replicates)
    np.testing.assert_allclose(got_eta, want_eta, rtol=1e-13, atol=0)
    # the two choices really differ (so this test tells them apart), and agree without delay
    other = _reference(ENV, horizon=horizon, replicates=replicates, seed=0, delay=delay,
                       schedule=kwargs.get("schedule", "adaptive"), optimistic=optimistic,
                       delayed_step="current" if delayed_step == "own" else "own")[0]
    assert np.abs(other - want_x).max() > 1e-3


def test_without_delay_own_and_current_step_sizes_are_the_same_bits(tmp_path):
    agents = [{"label": f"{k}-{s}", "id": i, "kwargs": {"delayed_step": s}}
              for k, i in (("ogd", "olearn/OGD-v0"), ("oomd", "olearn/OptimisticOMD-v0"))
              for s in ("own", "current")]
    spec = {"name": "d0", "horizon": 200, "replicates": 2, "record": {"every": 1},
            "env": {"id": "olearn/SEA-v0", "kwargs": ENV}, "agents": agents}
    trace = olearn.simulate(spec, out=tmp_path / "run", quiet=True).load()
    for k in ("ogd", "oomd"):
        own, cur = (trace.filter(pl.col("agent") == f"{k}-{s}").sort("t", "replicate")
                    .select("regret", "eta").collect() for s in ("own", "current"))
        assert own.equals(cur)
