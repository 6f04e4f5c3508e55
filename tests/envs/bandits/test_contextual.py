"""ContextualBandit-v0: the compiled (CPU) and torch paths agree; an out-of-range arm is refused."""

import pytest
import torch

import olearn
import olearn.envs.bandits.contextual as mod
from olearn.errors import AgentError


def _rollout(per_arm: bool, reward: str) -> list[torch.Tensor]:
    env = mod.ContextualBanditVector(3, arms=4, dim=5, per_arm=per_arm, reward=reward)
    obs, _ = env.reset(seed=[1, 2, 3])
    out = [obs]
    g = torch.Generator().manual_seed(0)
    for _ in range(1100):  # crosses a block boundary (1024 or 512 rounds) in both layouts
        obs, r, _, _, info = env.step(torch.randint(0, 4, (3,), generator=g))
        out += [obs, r, *info["oracle"].values()]
    return out


@pytest.mark.parametrize(("per_arm", "reward"), [(False, "linear"), (False, "quadratic"),
                                                 (True, "cosine"), (True, "linear")])
def test_compiled_and_torch_paths_agree(monkeypatch, per_arm, reward):
    """The CPU kernels and the torch operations (any device) compute the same env."""
    host = _rollout(per_arm, reward)
    monkeypatch.setattr(mod, "_compiled_on", lambda device: False)
    device = _rollout(per_arm, reward)
    for a, b in zip(host, device, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.dtype == torch.int64:   # the best arm (a tie would be a measure-zero event)
            assert torch.equal(a, b)
        else:                        # rounding only: norms and sums in another order
            tol = 1e-6 if a.dtype == torch.float32 else 1e-12
            torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("per_arm", [False, True])
def test_a_rounds_observation_is_contiguous(per_arm):
    """Blocks are round-major: a round's contexts are one slice, not a row per replicate."""
    env = mod.ContextualBanditVector(4, arms=3, dim=5, per_arm=per_arm)
    obs, _ = env.reset(seed=0)
    for _ in range(3):
        assert obs.is_contiguous()
        obs, *_ = env.step(torch.zeros(4, dtype=torch.long))


def test_an_arm_out_of_range_is_an_agent_error():
    class Late:
        vectorized = True

        def __init__(self, observation_space, action_space):
            self.t = 0

        def reset(self, *, seeds, device):
            pass

        def act(self, obs):
            self.t += 1
            return torch.full((obs.shape[0],), 7 if self.t == 5 else 0), {}

        def update(self, step):
            pass

    mod.Late = Late
    spec = {"name": "late", "horizon": 10, "replicates": 2,
            "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 3, "dim": 2}},
            "agents": [{"label": "late", "id": "olearn.envs.bandits.contextual:Late"}]}
    with pytest.raises(AgentError,
                       match=r"round 5: action 7 of replicate 0 is outside Discrete\(3\)"):
        olearn.simulate(spec, quiet=True)


def test_a_float_or_out_of_range_action_is_refused_before_anything_is_written():
    env = mod.ContextualBanditVector(2, arms=3, dim=2)
    env.reset(seed=0)
    for bad in (torch.tensor([0.0, 1.0]), torch.tensor([0, 3]), torch.tensor([-1, 0])):
        with pytest.raises(IndexError):
            env.step(bad)
    assert env._t == 0   # no round was consumed
    env.step(torch.tensor([0, 2]))
    assert env._t == 1


def test_the_block_kernel_limits_its_threads_and_restores_both_counts():
    """Few replicates: one numba thread for the block; numba's and torch's counts come back."""
    import numba

    from olearn.envs.bandits import contextual_kernels as ck

    if numba.config.NUMBA_NUM_THREADS < 2:
        return
    numba.set_num_threads(2)
    torch.set_num_threads(1)   # after numba's, which resets torch's OpenMP threads
    seen = []
    with ck.thread_limit(1):
        seen.append(numba.get_num_threads())
    assert seen == [1] and numba.get_num_threads() == 2 and torch.get_num_threads() == 1
    env = mod.ContextualBanditVector(num_envs=3, arms=3, dim=4)
    env.reset(seed=0)
    env.step(torch.zeros(3, dtype=torch.long))
    assert numba.get_num_threads() == 2 and torch.get_num_threads() == 1


def _contexts(per_arm: bool, rounds: int, **kwargs) -> torch.Tensor:
    env = mod.ContextualBanditVector(2, arms=3, dim=4, per_arm=per_arm, reward="cosine", **kwargs)
    obs, _ = env.reset(seed=[5, 6])
    out = [obs]
    for _ in range(rounds - 1):
        obs, *_ = env.step(torch.zeros(2, dtype=torch.long))
        out.append(obs)
    return torch.stack(out)   # (T, R, [K,] d)


@pytest.mark.parametrize("per_arm", [False, True])
@pytest.mark.parametrize("compiled", [True, False])
def test_switching_contexts_follow_the_schedule(monkeypatch, per_arm, compiled):
    """contexts="switching": the default draw with x[0]'s sign set by the round alone, +1 in
    the first ``switch_every`` rounds, then -1, ... (across a block boundary: 1100 rounds)."""
    if not compiled:
        monkeypatch.setattr(mod, "_compiled_on", lambda device: False)
    iid = _contexts(per_arm, 1100)
    assert torch.equal(iid, _contexts(per_arm, 1100, contexts="sphere"))   # the default
    sw = _contexts(per_arm, 1100, contexts="switching", switch_every=70)
    sign = 1.0 - 2.0 * ((torch.arange(1100) // 70) % 2).float()
    sign = sign.view(-1, *([1] * (sw.dim() - 2)))
    assert torch.equal(sw[..., 0], iid[..., 0].abs() * sign)
    assert torch.equal(sw[..., 1:], iid[..., 1:])
    # both half-spheres are visited, and every context of a round lies in one
    assert (sw[..., 0] * sign > 0).all()


def test_switching_rewards_are_the_fixed_reward_function():
    """The reward function does not change with the regime: μ = cos(3 θ_aᵀx) on the shown x."""
    env = mod.ContextualBanditVector(1, arms=3, dim=4, reward="cosine", noise=0.0,
                                     contexts="switching", switch_every=2)
    obs, _ = env.reset(seed=3)
    theta = env._theta[0].double()
    for t in range(6):
        mu = torch.cos(3.0 * theta @ obs[0].double())
        obs2, r, _, _, info = env.step(torch.tensor([t % 3]))
        torch.testing.assert_close(info["oracle"]["expected_reward"][0], mu[t % 3],
                                   rtol=1e-6, atol=1e-6)
        obs = obs2


@pytest.mark.parametrize("kwargs", [{"contexts": "adversary"}, {"switch_every": 0},
                                    {"switch_every": 2.5}, {"switch_every": True}])
def test_bad_context_regime_raises(kwargs):
    with pytest.raises(ValueError, match="contexts|switch_every"):
        mod.ContextualBanditVector(1, arms=3, dim=4, **kwargs)
