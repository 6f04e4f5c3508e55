"""OptimisticOMD's compiled Euclidean ball steps (agents/oco/omd_kernels.py, CPU, fast kind)
give the torch path's numbers up to rounding."""

from __future__ import annotations

import pytest
import torch

from olearn.seeding import replicate_seeds, stream_kind


@pytest.mark.parametrize(("kwargs", "delay"), [
    ({}, 0), ({"hint": "zero"}, 0), ({"delayed_step": "current"}, 2), ({}, 3),
    ({"hint": "mean_gradient", "G": 3.0, "D": 0.5}, 0)])
def test_fused_steps_match_the_torch_path(kwargs, delay):
    from olearn.agents.oco.omd import OptimisticOMD
    from olearn.envs.oco.sea import SEAVector
    from olearn.types import Step

    def run(fused: bool) -> list[torch.Tensor]:
        with stream_kind("fast"):
            env = SEAVector(num_envs=5, dim=6, sigma=0.3, radius=2.0)
            agent = OptimisticOMD(env.single_observation_space, env.single_action_space,
                                  **kwargs)
            obs, _ = env.reset(seed=1)
            agent.reset(seeds=replicate_seeds(1, "agent:a", range(5)),
                        device=torch.device("cpu"))
        assert agent._fused
        agent._fused = fused
        out, queue = [], []
        for t in range(1, 60):
            x, info = agent.act(obs)
            obs, reward, _, _, env_info = env.step(x)
            queue.append(Step(t=t, obs=obs, action=x, act_info=info, reward=reward,
                              feedback=env_info["feedback"]))
            if len(queue) > delay:   # feedback `delay` rounds late, as the loop's queue
                agent.update(queue.pop(0))
            out += [x, info["eta"]]
        return out

    for a, b in zip(run(True), run(False), strict=True):
        assert torch.allclose(a, b, rtol=1e-11, atol=1e-12)


def test_not_fused_under_the_portable_kind_or_off_the_ball():
    from olearn.agents.oco.omd import OptimisticOMD
    from olearn.envs.oco.sea import SEAVector

    for domain, kind, fused in [("ball", "portable", False), ("simplex", "fast", False),
                                ("ball", "fast", True)]:
        env = SEAVector(num_envs=2, dim=3, domain=domain)
        agent = OptimisticOMD(env.single_observation_space, env.single_action_space)
        with stream_kind(kind):
            agent.reset(seeds=[1, 2], device=torch.device("cpu"))
        assert agent._fused is fused


def test_fused_state_round_trip_keeps_the_next_step():
    """A fused update makes the next act's point (``_ahead``); a state saved after it and loaded
    into a fresh agent acts the same."""
    import io

    from olearn.agents.oco.omd import OptimisticOMD
    from olearn.envs.oco.sea import SEAVector
    from olearn.types import Step

    cpu = torch.device("cpu")

    def fresh(env: SEAVector) -> OptimisticOMD:
        agent = OptimisticOMD(env.single_observation_space, env.single_action_space)
        with stream_kind("fast"):
            agent.reset(seeds=replicate_seeds(0, "agent:a", range(3)), device=cpu)
        return agent

    with stream_kind("fast"):
        env = SEAVector(num_envs=3, dim=4, sigma=0.3)
        obs, _ = env.reset(seed=0)
    a = fresh(env)
    for t in range(1, 6):
        x, info = a.act(obs)
        obs, reward, _, _, env_info = env.step(x)
        a.update(Step(t=t, obs=obs, action=x, act_info=info, reward=reward,
                      feedback=env_info["feedback"]))
    assert a._ahead is not None
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = fresh(env)
    b.load_state_dict(torch.load(buf, weights_only=True))
    (xa, ia), (xb, ib) = a.act(obs), b.act(obs)
    assert torch.equal(xa, xb) and torch.equal(ia["eta"], ib["eta"])
