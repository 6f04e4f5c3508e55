"""OCO agents on SEA-v0 with a hand loop: domain, equivalences, perfect hints, validation."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

from olearn.agents.oco.ftrl import OptimisticFTRL
from olearn.agents.oco.ogd import OGD
from olearn.agents.oco.omd import OptimisticOMD
from olearn.agents.oco.omd_ensemble import OptimisticOMDEnsemble
from olearn.envs.oco.sea import SEAVector
from olearn.types import Step

CPU = torch.device("cpu")


def _loop(env: SEAVector, agent, rounds: int, seed: int = 0, check=None) -> list[dict]:
    """Play ``rounds``; return per-round dicts of action, act_info and oracle."""
    obs, _ = env.reset(seed=seed)
    agent.reset(seeds=list(range(100, 100 + env.num_envs)), device=CPU)
    out = []
    for t in range(1, rounds + 1):
        action, act_info = agent.act(obs)
        if check is not None:
            check(agent, action)
        nxt, reward, term, trunc, info = env.step(action)
        agent.update(Step(t, obs, action, act_info, reward, info["feedback"], nxt, term | trunc))
        out.append({"action": action.clone(), "info": act_info, "oracle": info["oracle"]})
        obs = nxt
    return out


def _make(cls, env: SEAVector, **kw):
    return cls(env.single_observation_space, env.single_action_space, **kw)


CASES = [
    (OGD, {}, {"dim": 4}), (OGD, {"schedule": "inv_lambda_t"}, {"dim": 4, "domain": "simplex"}),
    (OptimisticOMD, {}, {"dim": 4, "regime": "adversarial"}),
    (OptimisticOMD, {"mirror": "entropy"}, {"dim": 4, "domain": "simplex"}),
    (OptimisticOMD, {"mirror": "log_barrier", "hint": "mean_gradient"},
     {"dim": 4, "domain": "simplex", "regime": "drift"}),
    (OptimisticOMD, {"curvature": "strongly_convex"},
     {"dim": 4, "loss": "quadratic", "sigma": 1.0}),
    (OptimisticOMD, {"curvature": "exp_concave", "beta": 0.5, "G": 4.0},
     {"dim": 4, "loss": "squared", "items": 10}),
    (OptimisticFTRL, {"mirror": "log_barrier"}, {"dim": 4, "domain": "simplex", "sigma": 2.0}),
    (OptimisticFTRL, {"mirror": "entropy"}, {"dim": 4, "domain": "simplex"}),
    (OptimisticFTRL, {"curvature": "strongly_convex"}, {"dim": 4, "loss": "quadratic"}),
    (OptimisticOMDEnsemble, {"horizon": 200}, {"dim": 4, "regime": "drift", "sigma": 0.5}),
]


@pytest.mark.parametrize(("cls", "kw", "env_kw"), CASES)
def test_iterates_stay_in_the_domain_and_eta_is_logged(cls, kw, env_kw):
    env = SEAVector(num_envs=3, sigma=env_kw.pop("sigma", 0.3), scale=2.0, **env_kw)
    agent = _make(cls, env, **kw)

    def check(a, action):
        assert float(env._domain.violation(action).max()) <= 1e-9
        hat = getattr(a, "_x_hat", None)
        if hat is not None:
            assert float(env._domain.violation(hat.reshape(-1, env.dim)).max()) <= 1e-9

    rows = _loop(env, agent, 200, check=check)  # the env itself also rejects outside points
    assert {k for k in rows[0]["info"] if not k.startswith("_")} == set(cls.info_keys)
    for row in rows:
        assert row["info"]["eta"].shape == (3,) and bool((row["info"]["eta"] > 0).all())
    if kw.get("curvature", "convex") == "convex" and cls is not OptimisticOMDEnsemble:
        etas = torch.stack([r["info"]["eta"] for r in rows])
        assert bool((etas[1:] <= etas[:-1] + 1e-15).all())             # non-increasing


def test_zero_hint_omd_is_adaptive_ogd():
    env = SEAVector(num_envs=4, dim=5, sigma=0.5, regime="adversarial", scale=1.5)
    omd = _loop(env, _make(OptimisticOMD, env, hint="zero", G=2.0, delta=0.5), 300)
    ogd = _loop(env, _make(OGD, env, schedule="adaptive", G=2.0, delta=0.5), 300)
    for a, b in zip(omd, ogd, strict=True):
        torch.testing.assert_close(a["action"], b["action"], rtol=0, atol=1e-12)
        torch.testing.assert_close(a["info"]["eta"], b["info"]["eta"], rtol=0, atol=1e-15)
    # and the optimistic default differs (the hint changes the path)
    opt = _loop(env, _make(OptimisticOMD, env, G=2.0, delta=0.5), 300)
    assert float((opt[-1]["action"] - omd[-1]["action"]).abs().max()) > 1e-3


@pytest.mark.parametrize(("cls", "kw", "env_kw", "after", "tol", "zero_hint_pays"), [
    (OptimisticOMD, {}, {}, 1, 1e-9, 0.05),
    (OptimisticFTRL, {}, {}, 1, 1e-9, None),
])
def test_perfect_hint_gives_no_further_regret(cls, kw, env_kw, after, tol, zero_hint_pays):
    """Static linear losses, σ = 0: the last gradient is a perfect hint from round 2 on.

    The variation term Σ‖g_t − M_t‖² is then zero, so regret stops growing: Euclidean maps
    reach the optimum of the ball right after round 1 (``M_1 = 0`` costs a constant). (On the
    simplex every map needs a number of rounds set by the loss gaps to reach a vertex, so
    flatness there starts late and is not asserted.)

    The same agent with ``hint="zero"`` is the weaker learner: OMD without the hint keeps
    paying after round 1 (0.106 more over 400 rounds). FTRL without the hint does not (its
    leader on a static linear loss is already the optimum after round 1: 2e-12 more), so for
    FTRL this case does not test the hint, and says so.
    """
    env = SEAVector(num_envs=3, dim=4, sigma=0.0, **env_kw)

    def regret(agent_kw):
        rows = _loop(env, _make(cls, env, **agent_kw), 400)
        cum_loss = torch.cumsum(torch.stack([r["oracle"]["loss"] for r in rows]), 0)
        return cum_loss - torch.stack([r["oracle"]["comparator_cum_loss"] for r in rows])

    reg = regret(kw)
    assert float(reg[0].min()) > 0.1                      # the first round does cost
    assert float((reg[-1] - reg[after - 1]).abs().max()) < tol
    weak = regret({**kw, "hint": "zero"})
    if zero_hint_pays is not None:
        assert float((weak[-1] - weak[after - 1]).min()) > zero_hint_pays


@pytest.mark.parametrize(("cls", "kw", "match"), [
    (OptimisticOMD, {"mirror": "entropy"}, "simplex"),
    (OptimisticOMD, {"curvature": "concave"}, "curvature"),
    (OptimisticOMD, {"hint": "oracle"}, "hint"),
    (OptimisticOMD, {"G": -1.0}, "G"),
    (OptimisticOMD, {"curvature": "exp_concave", "mirror": "euclidean", "D": 0.0}, "D"),
    (OptimisticFTRL, {"nu": 0.0}, "nu"),
    (OptimisticFTRL, {"curvature": "strongly_convex", "mirror": "entropy"}, "euclidean"),
    (OGD, {"schedule": "constant"}, "schedule"),
    (OptimisticOMDEnsemble, {"horizon": 0}, "horizon"),
])
def test_constructor_validation(cls, kw, match):
    ball = SEAVector(dim=3)
    with pytest.raises(ValueError, match=match):
        _make(cls, ball, **kw)


def test_exp_concave_needs_a_ball_and_agents_need_a_box_space():
    simplex = SEAVector(dim=3, domain="simplex")
    with pytest.raises(ValueError, match="ball"):
        _make(OptimisticOMD, simplex, curvature="exp_concave")
    with pytest.raises(ValueError, match="Box"):
        OptimisticOMD(gym.spaces.Discrete(3), gym.spaces.Discrete(3))
