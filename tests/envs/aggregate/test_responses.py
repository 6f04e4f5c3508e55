"""AggregateResponses-v0: bad input, bags, the exact comparator, the DP mechanism's noise scale."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

import olearn.envs  # noqa: F401  (registers)
from olearn.envs.aggregate.privacy import laplace_scale, laplace_variance, release
from olearn.envs.aggregate.responses import AggregateResponsesVector as Env
from olearn.errors import SpecError
from olearn.registry import make_env


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40),
                          "id": np.arange(40.0), "y": rng.normal(size=40),
                          "name": [f"r{i}" for i in range(40)]})
    frame.drop("name").write_csv(tmp_path / "t.csv")
    frame.write_csv(tmp_path / "text.csv")
    frame.drop("name").write_parquet(tmp_path / "t.parquet")
    return tmp_path


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"data": "missing.csv", "target": "y"}, "does not exist"),
    ({"data": "{t}/t.csv", "target": "nope"}, "target column 'nope' is not in"),
    ({"data": "{t}/t.csv"}, "needs target="),
    ({"data": "{t}/text.csv", "target": "y"}, "column 'name' .* is not numeric"),
    ({"data": "{t}/t.csv", "target": "y", "bag_size": 41}, "bag_size=41 is larger than the 40"),
    ({"bag_size": 0}, "bag_size must be an integer >= 1"),
    ({"dp_epsilon": 0.0}, "dp_epsilon must be a finite number > 0"),
    ({"dp_epsilon": -1.0}, "dp_epsilon must be"),
    ({"dp_clip": "row"}, "dp_clip must be 'label' or 'aggregate'"),
    ({"clip": 0}, "clip must be"),
])
def test_bad_input_is_one_line_and_exit_2(table, kwargs, match):
    kwargs = {k: v.format(t=table) if isinstance(v, str) else v for k, v in kwargs.items()}
    with pytest.raises(ValueError, match=match) as e:
        Env(**kwargs)
    assert "\n" not in str(e.value)
    with pytest.raises(SpecError) as e:       # the factory's bad-input error (CLI exit 2)
        make_env("olearn/AggregateResponses-v0", num_envs=1, kwargs=kwargs)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", ["t.csv", "t.parquet"])
def test_file_bags_do_not_overlap_within_a_pass_and_skip_the_holdout(table, name):
    env = Env(num_envs=2, data=str(table / name), target="y", bag_size=6, holdout=0.25)
    obs, _ = env.reset(seed=3)
    assert env.dim == 3 and env.heldout()[0].shape == (10, 3)
    held = {tuple(np.round(r, 9)) for r in env.heldout()[0].numpy()}
    seen: list[set] = [set(), set()]
    for _ in range(5):                    # 30 training rows: 5 bags of 6 per pass
        for r in range(2):
            rows = {tuple(np.round(x, 9)) for x in obs[r].numpy()}
            assert not rows & seen[r] and not rows & held
            seen[r] |= rows
        obs, *_ = env.step(torch.zeros(2, 6, dtype=torch.float64))
    assert len(seen[0]) == 30 and seen[0] == seen[1]
    # the second pass draws a fresh partition, different per replicate
    assert not torch.equal(obs[0], obs[1])


def test_comparator_is_the_exact_best_linear_predictor_in_hindsight():
    env = Env(num_envs=3, dim=4, bag_size=2)
    obs, _ = env.reset(seed=1)
    xs, ys = [], []
    for t in range(1, 8):     # rounds 1, 2 have fewer instances than d: the comparator is exact 0
        x, y, _ = env._bag
        xs.append(x.numpy())
        ys.append(y.numpy())
        obs, _, _, _, info = env.step(torch.zeros(3, 2, dtype=torch.float64))
        X, Y = np.concatenate(xs, 1), np.concatenate(ys, 1)
        for r in range(3):
            theta = np.linalg.lstsq(X[r], Y[r], rcond=None)[0]
            best = ((Y[r] - X[r] @ theta) ** 2).sum() / 2
            got = float(info["oracle"]["comparator_cum_loss"][r])
            assert got == pytest.approx(best, abs=1e-9), (t, r)
        assert torch.allclose(info["oracle"]["loss"], torch.as_tensor((ys[-1] ** 2).mean(-1)))
        assert torch.allclose(info["oracle"]["excess_loss"], torch.as_tensor(
            ((xs[-1] @ env.theta_star.numpy()[:, :, None])[..., 0] ** 2).mean(-1)))


def test_reward_uses_only_the_released_aggregate_and_snr_sets_theta_norm():
    env = Env(num_envs=2, dim=5, bag_size=3, snr=4.0, noise=0.5)
    env.reset(seed=0)
    assert torch.allclose(env.theta_star.norm(dim=-1) ** 2, torch.tensor(4.0 * 0.25,
                                                                          dtype=torch.float64))
    pred = torch.ones(2, 3, dtype=torch.float64)
    _, reward, _, _, info = env.step(pred)
    assert torch.allclose(reward, -(1.0 - info["feedback"]["bag_mean"]) ** 2)


@pytest.mark.parametrize("mode", ["label", "aggregate"])
def test_released_dp_noise_has_the_stated_laplace_scale(mode):
    """Claim 6: released mean − (clipped) mean is Laplace(2C/(kε)) (label) or (2C/ε)."""
    kw = {"dim": 2, "bag_size": 4, "clip": 50.0}    # clipping never binds: y ~ N(0, 2)
    plain, private = Env(num_envs=64, **kw), Env(num_envs=64, dp_epsilon=2.0, dp_clip=mode, **kw)
    plain.reset(seed=5)
    private.reset(seed=5)
    noise = []
    for _ in range(300):
        zero = torch.zeros(64, 4, dtype=torch.float64)
        a, b = plain.step(zero)[4]["feedback"], private.step(zero)[4]["feedback"]
        noise.append(b["bag_mean"] - a["bag_mean"])
    z = torch.cat(noise)
    b = laplace_scale(clip=50.0, bag_size=4, epsilon=2.0, mode=mode)
    assert b == (12.5 if mode == "label" else 50.0)
    assert float(z.var()) == pytest.approx(laplace_variance(b), rel=0.05)
    assert float(z.abs().mean()) == pytest.approx(b, rel=0.05)        # E|Lap(b)| = b


def test_release_clips_labels_or_the_aggregate():
    y = torch.tensor([[10.0, -1.0, 0.0, 1.0]], dtype=torch.float64)
    u = torch.tensor([0.5], dtype=torch.float64)                       # Laplace draw 0
    assert release(y, u, clip=2.0, epsilon=1.0, mode="label").item() == pytest.approx(0.5)
    assert release(y, u, clip=2.0, epsilon=1.0, mode="aggregate").item() == pytest.approx(2.0)
    assert release(y, None, clip=2.0, epsilon=None).item() == pytest.approx(2.5)


def test_privacy_loss_on_neighbouring_datasets_is_at_most_epsilon():
    """Claim 6: densities of the release on neighbouring label vectors differ by ≤ e^ε."""
    eps, clip, k = 0.7, 1.0, 5
    b = laplace_scale(clip=clip, bag_size=k, epsilon=eps)
    y = torch.tensor([[0.3, -0.2, 1.5, 0.1, -0.5]], dtype=torch.float64)
    y2 = y.clone()
    y2[0, 2] = -40.0                           # one label changed, far beyond the clip
    m1, m2 = (release(v, torch.tensor([0.5], dtype=torch.float64), clip=clip, epsilon=eps)
              for v in (y, y2))
    grid = torch.linspace(-5, 5, 2001, dtype=torch.float64)
    log_ratio = ((grid - m2).abs() - (grid - m1).abs()) / b      # log p1(z) − log p2(z)
    assert float(log_ratio.abs().max()) <= eps + 1e-12
    assert float(log_ratio.abs().max()) == pytest.approx(eps)     # tight: the bound is reached


@pytest.mark.parametrize(("kwargs", "rounds"), [({"dim": 6, "bag_size": 3}, 400),
                                                ({"dim": 5, "bag_size": 1, "noise": 0.0}, 60)])
def test_factor_updates_match_a_direct_solve_every_round(kwargs, rounds):
    """Once Σxxᵀ is definite the comparator comes from rank-k updates of the augmented factor:
    it stays on a direct float64 solve of the normal equations to 1e-8 (relative to Σy²)."""
    env = Env(num_envs=3, **kwargs)
    env.reset(seed=4)
    k, d = env.bag_size, env.dim
    A, b, syy = np.zeros((3, d, d)), np.zeros((3, d)), np.zeros(3)
    for t in range(1, rounds + 1):
        x, y, _ = (v.numpy() if v is not None else None for v in env._bag)
        A += np.einsum("rki,rkj->rij", x, x)
        b += np.einsum("rki,rk->ri", x, y)
        syy += (y * y).sum(-1)
        _, _, _, _, info = env.step(torch.zeros(3, k, dtype=torch.float64))
        got = info["oracle"]["comparator_cum_loss"].numpy()
        if t * k >= d + 2:
            best = (syy - np.einsum("ri,ri->r", b, np.linalg.solve(A, b[..., None])[..., 0])) / k
            assert np.abs(got - best).max() <= 1e-8 * syy.max() / k, t
    assert env._factor is not None


def test_collinear_columns_stay_on_the_min_norm_solve(table):
    frame = pl.read_csv(table / "t.csv").with_columns(c=pl.col("a") * 2.0)
    frame.write_csv(table / "dup.csv")
    env = Env(num_envs=2, data=str(table / "dup.csv"), target="y", bag_size=4)
    env.reset(seed=0)
    X, Y = [], []
    for _ in range(30):
        x, y, _ = env._bag
        X.append(x.numpy())
        Y.append(y.numpy())
        _, _, _, _, info = env.step(torch.zeros(2, 4, dtype=torch.float64))
    assert env._factor is None
    Xs, Ys = np.concatenate(X, 1), np.concatenate(Y, 1)
    for r in range(2):
        theta = np.linalg.lstsq(Xs[r], Ys[r], rcond=None)[0]
        best = ((Ys[r] - Xs[r] @ theta) ** 2).sum() / 4
        assert float(info["oracle"]["comparator_cum_loss"][r]) == pytest.approx(best, rel=1e-8)


def test_rebag_false_serves_the_same_bags_every_pass(table):
    kw = {"data": str(table / "t.csv"), "target": "y", "bag_size": 5}
    fixed, fresh = Env(num_envs=2, rebag=False, **kw), Env(num_envs=2, **kw)
    seen = {}
    for name, env in (("fixed", fixed), ("fresh", fresh)):
        env.reset(seed=1)
        bags = []
        for _ in range(16):                  # two passes of 8 bags
            bags.append(env._bag[0].clone())
            env.step(torch.zeros(2, 5, dtype=torch.float64))
        seen[name] = bags
    assert all(torch.equal(a, b) for a, b in zip(seen["fixed"][:8], seen["fixed"][8:],
                                                 strict=True))
    assert all(torch.equal(a, b) for a, b in zip(seen["fixed"][:8], seen["fresh"][:8],
                                                 strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(seen["fresh"][:8], seen["fresh"][8:],
                                                     strict=True))
    with pytest.raises(ValueError, match="rebag must be true or false"):
        Env(rebag=1)
