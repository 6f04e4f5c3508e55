"""SEA-v0: API, determinism, domain errors, variance terms and the exact comparator."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import olearn.envs  # noqa: F401  (registers)
from olearn.envs.oco.sea import SEAVector

F64 = torch.float64

CONFIGS = [
    {"dim": 3},
    {"dim": 3, "domain": "simplex", "regime": "adversarial", "switch_every": 3},
    {"dim": 3, "loss": "quadratic", "regime": "rom", "items": 6},
    {"dim": 3, "loss": "quadratic", "regime": "corrupted", "budget": 3.0, "domain": "simplex",
     "track_dynamic": True},
    {"dim": 3, "loss": "squared", "regime": "drift", "drift_speed": 0.3, "items": 8,
     "track_dynamic": True},
    {"dim": 3, "loss": "squared", "regime": "rom", "items": 5, "passes": "single"},
    {"dim": 2, "loss": "logistic", "regime": "iid", "sigma": 0.2, "items": 6},
    {"dim": 2, "loss": "logistic", "regime": "adversarial", "sigma": 0.0, "items": 4},
    {"dim": 3, "loss": "linear", "regime": "rom", "items": 4, "sigma": 0.5},
]


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_check_env(kwargs):
    check_env(gym.make("olearn/SEA-v0", **kwargs).unwrapped, skip_render_check=True)


def _rollout(env: SEAVector, seeds: list[int], rounds: int) -> list[dict]:
    env.reset(seed=seeds)
    space = env.single_action_space
    space.seed(0)
    out = []
    for _ in range(rounds):
        a = torch.as_tensor(np.stack([space.sample() for _ in seeds]))
        *_, info = env.step(a)
        out.append(info)
    return out


@pytest.mark.parametrize("kwargs", CONFIGS[:6])
def test_replicate_alone_equals_replicate_in_batch(kwargs):
    batch = _rollout(SEAVector(num_envs=3, **kwargs), [11, 12, 13], 5)
    space = SEAVector(num_envs=1, **kwargs).single_action_space
    space.seed(0)
    actions = [[space.sample() for _ in range(3)] for _ in range(5)]
    alone = SEAVector(num_envs=1, **kwargs)
    alone.reset(seed=[12])
    for t in range(5):
        *_, info = alone.step(torch.as_tensor(actions[t][1])[None])
        for key in ("comparator_cum_loss", "sigma2_cum", "adv_variation_cum"):
            torch.testing.assert_close(info["oracle"][key][0], batch[t]["oracle"][key][1])


@pytest.mark.parametrize(("domain", "bad"), [("ball", [0.9, 0.9, 0.0]),
                                             ("simplex", [0.5, 0.6, 0.0])])
def test_action_outside_domain_names_the_round(domain, bad):
    env = SEAVector(num_envs=1, dim=3, domain=domain)
    env.reset(seed=0)
    ok = [0.5, 0.5, 0.0]
    env.step(torch.tensor([ok], dtype=F64))
    with pytest.raises(ValueError, match="round 2"):
        env.step(torch.tensor([bad], dtype=F64))


@pytest.mark.parametrize(("domain", "bad"), [("ball", [0.9, 0.9, 0.0]),
                                             ("simplex", [0.5, 0.6, 0.0])])
def test_fused_round_refuses_an_outside_action_and_changes_nothing(domain, bad):
    from olearn.seeding import stream_kind

    with stream_kind("fast"):
        env = SEAVector(num_envs=2, dim=3, domain=domain, regime="corrupted", budget=1.0)
        env.reset(seed=0)
    assert env._family.fused
    ok = [0.5, 0.5, 0.0]
    env.step(torch.tensor([ok, ok], dtype=F64))
    before = copy.deepcopy((env._family.s_real, env._cum, env._spent, env._t))
    with pytest.raises(ValueError, match="round 2: action of replicate 1"):
        env.step(torch.tensor([ok, bad], dtype=F64))
    after = (env._family.s_real, env._cum, env._spent, env._t)
    assert torch.equal(before[0], after[0]) and before[2:] == after[2:]
    assert all(torch.equal(before[1][k], after[1][k]) for k in before[1])


@pytest.mark.parametrize("bad", [{"loss": "cubic"}, {"regime": "chaos"}, {"sigma": -1.0},
                                 {"radius": 0}, {"loss": "squared", "domain": "simplex"},
                                 {"loss": "logistic", "sigma": 0.7}, {"switch_every": 0},
                                 {"regime": "drift", "dim": 1}])
def test_invalid_arguments_raise_value_error(bad):
    with pytest.raises(ValueError, match=next(iter(bad)) if "domain" not in bad else "domain"):
        SEAVector(**{"dim": 3, **bad})


def test_rom_single_pass_ends_with_a_clear_error():
    env = SEAVector(num_envs=1, dim=2, regime="rom", items=3, passes="single")
    env.reset(seed=0)
    for _ in range(3):
        env.step(torch.zeros(1, 2, dtype=F64))
    with pytest.raises(ValueError, match="passes='multi'"):
        env.step(torch.zeros(1, 2, dtype=F64))


def test_variance_terms_linear_closed_form():
    env = SEAVector(num_envs=2, dim=4, sigma=0.3, regime="adversarial", switch_every=1, scale=2.0)
    env.reset(seed=5)
    for _t in range(1, 11):
        *_, info = env.step(torch.zeros(2, 4, dtype=F64))
    o = info["oracle"]
    torch.testing.assert_close(o["sigma2_cum"], torch.full((2,), 10 * 0.09 * 4, dtype=F64))
    # Sigma^2 = ||c_1||^2 + sum_{t>=2} ||c_t - c_{t-1}||^2 = 4 + 9 * 16 (sign flip every round)
    torch.testing.assert_close(o["adv_variation_cum"], torch.full((2,), 4.0 + 9 * 16.0, dtype=F64))


def _cum_expected_loss(kwargs: dict, seed: int, rounds: int, points: np.ndarray) -> np.ndarray:
    """Σ_{s≤t} F_s(x) at many fixed points x at once: one replicate per point, same seed.

    Nature does not react to actions, so a replicate that always plays ``x`` sums exactly the
    expected losses ``F_s(x)`` the env reports: a brute-force evaluation that does not use the
    comparator's sufficient statistics.
    """
    env = SEAVector(num_envs=len(points), **kwargs)
    env.reset(seed=[seed] * len(points))
    total = np.zeros(len(points))
    x = torch.as_tensor(points, dtype=F64)
    for _ in range(rounds):
        *_, info = env.step(x)
        total += info["oracle"]["loss"].numpy()
    return total


EXACT = [
    {"dim": 3, "sigma": 0.5},
    {"dim": 3, "domain": "simplex", "sigma": 0.5, "regime": "drift", "drift_speed": 0.5},
    {"dim": 3, "loss": "quadratic", "regime": "rom", "items": 4, "sigma": 1.0, "scale": 2.0},
    {"dim": 3, "loss": "quadratic", "domain": "simplex", "regime": "corrupted", "budget": 3.0},
    {"dim": 3, "loss": "squared", "items": 6, "sigma": 0.3, "scale": 2.5},
    {"dim": 3, "loss": "squared", "regime": "rom", "items": 4, "scale": 0.5},
    {"dim": 2, "loss": "logistic", "items": 5, "sigma": 0.2, "scale": 3.0},
    {"dim": 2, "loss": "logistic", "regime": "adversarial", "items": 3, "sigma": 0.0},
]


@pytest.mark.parametrize("kwargs", EXACT)
def test_comparator_equals_brute_force_minimum(kwargs):
    """The env's comparator equals a brute-force search over the domain (no statistics used).

    Batched random search: evaluate a cloud of points, then resample around the best one in
    shrinking balls (radius x0.6 per step, 22 steps) and keep the best value found.
    """
    rounds, seed, d = 6, 21, kwargs["dim"]
    env = SEAVector(num_envs=1, **kwargs)
    env.reset(seed=[seed])
    x = env._domain.center(1, torch.device("cpu"))
    for _ in range(rounds):
        *_, info = env.step(x)
    comparator = float(info["oracle"]["comparator_cum_loss"][0])
    space = env.single_action_space
    space.seed(1)
    cloud = np.stack([space.sample() for _ in range(400)] + list(np.eye(d)))
    values = _cum_expected_loss(kwargs, seed, rounds, env._domain.project(
        torch.as_tensor(cloud)).numpy())
    # the comparator is a lower bound on the expected cumulative loss of every point
    assert comparator <= values.min() + 1e-9
    best, best_value = cloud[values.argmin()], values.min()
    rng = np.random.default_rng(0)
    radius = 1.0
    for _ in range(22):
        z = rng.standard_normal((300, d))
        z *= (rng.random((300, 1)) ** (1 / d)) / np.linalg.norm(z, axis=1, keepdims=True)
        cand = env._domain.project(torch.as_tensor(np.vstack([best, best + radius * z]))).numpy()
        vals = _cum_expected_loss(kwargs, seed, rounds, cand)
        if vals.min() < best_value:
            best, best_value = cand[vals.argmin()], vals.min()
        radius *= 0.6
    assert comparator <= best_value + 1e-9
    assert best_value - comparator < 1e-6 * max(1.0, abs(best_value))


def test_dynamic_oracle_linear_switching():
    env = SEAVector(num_envs=1, dim=2, sigma=0.0, regime="adversarial", switch_every=2,
                    track_dynamic=True)
    env.reset(seed=0)
    for _ in range(6):
        *_, info = env.step(torch.zeros(1, 2, dtype=F64))
    # minimizer flips between -c and +c (|c| = radius = 1) at rounds 3 and 5
    assert float(info["oracle"]["path_length"][0]) == pytest.approx(4.0)
    assert float(info["oracle"]["dynamic_regret"][0]) == pytest.approx(6.0)


@pytest.mark.parametrize("kwargs", [
    {"dim": 5},
    {"dim": 5, "domain": "simplex", "regime": "adversarial", "noise": "uniform"},
    {"dim": 5, "regime": "drift", "sigma": 0.3},
    {"dim": 5, "regime": "corrupted", "budget": 3.0, "sigma": 0.0},
    {"dim": 5, "regime": "adversarial", "switch_every": 3, "radius": 2.0},
])
def test_fused_linear_round_matches_the_torch_path(kwargs):
    """Under the fast streams the CPU linear rounds run in one compiled pass
    (envs/oco/sea_kernels.py); the torch path on the same streams gives the same numbers up
    to rounding, every oracle entry included."""
    from olearn.seeding import stream_kind

    def run(fused: bool) -> list[dict]:
        with stream_kind("fast"):
            env = SEAVector(num_envs=7, **kwargs)
            env.reset(seed=3)
        assert env._family.fused
        env._family.fused = fused
        g = torch.Generator().manual_seed(0)
        out = []
        for _ in range(30):
            x = env._domain.project(torch.randn(7, 5, generator=g, dtype=F64))
            *_, info = env.step(x)
            out.append({**info["oracle"], **info["feedback"]})
        return out

    for a, b in zip(run(True), run(False), strict=True):
        for key in a:
            assert torch.allclose(a[key], b[key], rtol=1e-12, atol=1e-12), key


def test_corruption_spread_every_k_rounds_until_the_budget_is_spent():
    env = SEAVector(num_envs=1, dim=2, sigma=0.0, regime="corrupted", budget=6.0,
                    corrupt_every=10)
    env.reset(seed=0)
    c = env._c.clone()
    flipped = [t for t in range(1, 60) if not torch.allclose(env.centre(t), c)]
    assert flipped == [10, 20, 30]            # 3 rounds of ‖e_t‖ = 2 spend the budget 6
    assert torch.allclose(env.centre(40), c)
    with pytest.raises(ValueError, match="corrupt_every"):
        SEAVector(num_envs=1, regime="corrupted", corrupt_every=0)
