"""The OCO pieces: hints, schedules and regularizers are pure transformations of explicit state."""

from __future__ import annotations

import io
import math

import pytest
import torch

from olearn.agents.common.mirror_maps import Euclidean, NegativeEntropy, newton_step
from olearn.agents.oco.ftrl import OptimisticFTRL
from olearn.agents.oco.hints import LastGradient, MeanGradient, ZeroHint
from olearn.agents.oco.ogd import OGD
from olearn.agents.oco.omd import OptimisticOMD
from olearn.agents.oco.omd_ensemble import OptimisticHedge, OptimisticOMDEnsemble
from olearn.agents.oco.regularizers import OnlineNewton, ScaledMirror, SurrogateLeader
from olearn.agents.oco.schedules import AdaptiveOOMD, Constant, InvLambdaT, InvSqrt, SachsFTRL
from olearn.envs.oco.sea import SEAVector
from olearn.spaces import Domain
from olearn.types import Step

CPU = torch.device("cpu")
F64 = torch.float64
R, D = 3, 4


def _stream(n: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return [tuple(torch.randn(R, D, generator=gen, dtype=F64) for _ in range(2))
            for _ in range(n)]


def _tensors(state) -> list[torch.Tensor]:
    return [v.clone() for v in state if isinstance(v, torch.Tensor)]


PIECES = [LastGradient(), MeanGradient(), ZeroHint(), Constant(0.3), InvSqrt(2.0),
          InvLambdaT(0.5, 2.0), AdaptiveOOMD(2.0, 1.0, 0.5), SachsFTRL(2.0, 1.5)]


@pytest.mark.parametrize("piece", PIECES, ids=lambda p: type(p).__name__)
def test_update_returns_a_new_state_and_leaves_the_old_one_alone(piece):
    state = piece.init(R, D, CPU)
    for g, m in _stream(5):
        before = _tensors(state)
        eta = torch.full((R,), 0.1, dtype=F64)
        new = piece.update(state, g, m, eta)
        assert all(torch.equal(a, b) for a, b in zip(before, _tensors(state), strict=True))
        state = new
    value = piece.value(state, 6)
    assert value.shape in ((R,), (R, D)) and value.dtype == F64


def test_hints_predict_the_last_and_the_mean_gradient():
    stream = _stream(6)
    last, mean = LastGradient(), MeanGradient()
    s_last, s_mean = last.init(R, D, CPU), mean.init(R, D, CPU)
    assert torch.equal(last.value(s_last, 1), torch.zeros(R, D, dtype=F64))
    for g, _ in stream:
        s_last, s_mean = last.update(s_last, g, None, None), mean.update(s_mean, g, None, None)
    assert torch.equal(last.value(s_last, 7), stream[-1][0])
    torch.testing.assert_close(mean.value(s_mean, 7), torch.stack([g for g, _ in stream]).mean(0))


def test_schedules_follow_their_formulas():
    t = 9
    for sched, want in [(Constant(0.3), 0.3), (InvSqrt(2.0), 2.0 / 3.0),
                        (InvLambdaT(0.5, 2.0), 2.0 / (0.5 * 9))]:
        torch.testing.assert_close(sched.value(sched.init(R, D, CPU), t),
                                   torch.full((R,), want, dtype=F64), rtol=1e-15, atol=0)
    stream = _stream(7, seed=1)
    chen, sachs = AdaptiveOOMD(2.0, 1.5, 0.5), SachsFTRL(3.0, 0.7)
    s_chen, s_sachs = chen.init(R, D, CPU), sachs.init(R, D, CPU)
    acc = torch.full((R,), 0.5 + 4 * 1.5 ** 2, dtype=F64)
    sachs_acc = torch.full((R,), 0.7, dtype=F64)
    for i, (g, m) in enumerate(stream, 1):
        eta_chen, eta_sachs = chen.value(s_chen, i), sachs.value(s_sachs, i)
        torch.testing.assert_close(eta_chen, 2.0 / acc.sqrt(), rtol=1e-14, atol=0)
        torch.testing.assert_close(eta_sachs, 9.0 / sachs_acc, rtol=1e-14, atol=0)
        var = ((g - m) ** 2).sum(-1)
        acc, sachs_acc = acc + var, sachs_acc + eta_sachs * var     # η_s of the round itself
        s_chen = chen.update(s_chen, g, m, eta_chen)
        s_sachs = sachs.update(s_sachs, g, m, eta_sachs)
    with pytest.raises(ValueError, match="eta"):
        sachs.update(s_sachs, g, m, None)


def test_scaled_mirror_is_the_map_at_the_schedules_step():
    simplex = Domain("simplex", dim=D)
    reg = ScaledMirror(NegativeEntropy(D), InvSqrt(1.0))
    state = reg.init(R, D, CPU)
    eta = reg.eta(state, 4)
    x_hat = simplex.center(R, CPU)
    g, m = _stream(1)[0]
    assert torch.equal(reg.step(state, x_hat, g, eta), NegativeEntropy(D).step(x_hat, g, eta))
    assert torch.equal(reg.leader(state, g, m, eta), NegativeEntropy(D).ftrl(g + m, eta))


@pytest.mark.parametrize("metric", ["variation", "gradient"])
def test_online_newton_learns_its_metric_from_the_rounds_own_hint(metric):
    reg = OnlineNewton(radius=50.0, beta=0.4, delta=2.0, metric=metric)
    state = reg.init(R, D, CPU)
    want = 2.0 * torch.eye(D, dtype=F64).expand(R, D, D)
    for g, m in _stream(5, seed=2):
        v = g - m if metric == "variation" else g
        want = want + 0.2 * v.unsqueeze(-1) * v.unsqueeze(-2)
        state = reg.update(state, g, m, reg.eta(state, 1), g)
    torch.testing.assert_close(state.u, want, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(reg.eta(state, 6), D / want.diagonal(dim1=-2, dim2=-1).sum(-1))
    x_hat, (g, _) = torch.zeros(R, D, dtype=F64), _stream(1, seed=3)[0]
    inside = reg.step(state, x_hat, g, reg.eta(state, 6))           # big ball: interior point
    torch.testing.assert_close(inside, -torch.linalg.solve(want, g), rtol=1e-10, atol=1e-12)
    assert torch.equal(inside, newton_step(x_hat, g, state.u, 50.0))
    with pytest.raises(ValueError, match="FTRL"):
        OnlineNewton(1.0, 1.0).leader(state, g, g, reg.eta(state, 6))


def test_surrogate_leader_minimizes_the_surrogates_over_the_ball():
    ball = Domain("ball", dim=D, radius=1.0)
    reg = SurrogateLeader(lam=0.5, domain=ball)
    state = reg.init(R, D, CPU)
    assert torch.equal(reg.leader(state, torch.ones(R, D, dtype=F64), torch.zeros(R, D, dtype=F64),
                                  reg.eta(state, 1)), ball.center(R, CPU))
    played, grads = [], []
    for g, x in _stream(4, seed=4):
        x = ball.project(x)
        state = reg.update(state, g, torch.zeros_like(g), reg.eta(state, 1), x)
        played.append(x)
        grads.append(3.0 * g)                                       # big gradients: boundary
    assert state.n == 4
    torch.testing.assert_close(reg.eta(state, 99), torch.full((R,), 1 / (0.5 * 4), dtype=F64))
    g_sum, m = torch.stack(grads).sum(0), _stream(1, seed=5)[0][0]
    x = reg.leader(state, g_sum, m, reg.eta(state, 5))

    def objective(z: torch.Tensor) -> torch.Tensor:                 # Σ ℓ_s(z) + ⟨M, z⟩
        quad = sum(0.25 * ((z - p) ** 2).sum(-1) for p in played)
        return ((g_sum + m) * z).sum(-1) + quad

    gen = torch.Generator().manual_seed(6)
    for _ in range(200):
        z = ball.project(x + 0.3 * torch.randn(R, D, generator=gen, dtype=F64))
        assert bool((objective(x) <= objective(z) + 1e-12).all())
    with pytest.raises(ValueError, match="no mirror-descent step"):
        reg.step(state, x, g_sum, reg.eta(state, 5))


def test_optimistic_hedge_learns_against_the_rounds_own_optimism():
    hedge = OptimisticHedge(experts=3, scale=1.0)
    state = hedge.init(2, torch.ones(2, dtype=F64))
    lin = torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0]], dtype=F64)
    opt = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype=F64)
    new = hedge.update(state, lin, opt)
    assert new.loss.tolist() == lin.tolist() and new.v.tolist() == [5.0, 2.0]
    p, lr = hedge.probs(new, torch.zeros(2, 3, dtype=F64))
    torch.testing.assert_close(lr, torch.sqrt(math.log(3) / new.v))
    torch.testing.assert_close(p, torch.softmax(-lr.unsqueeze(-1) * lin, -1))


@pytest.mark.parametrize(("cls", "kw", "want"), [
    (OptimisticOMD, {}, (ScaledMirror, AdaptiveOOMD)),
    (OptimisticOMD, {"curvature": "strongly_convex"}, (ScaledMirror, InvLambdaT)),
    (OptimisticOMD, {"curvature": "exp_concave"}, (OnlineNewton, None)),
    (OptimisticFTRL, {}, (ScaledMirror, SachsFTRL)),
    (OptimisticFTRL, {"curvature": "strongly_convex"}, (SurrogateLeader, None)),
    (OGD, {"schedule": "adaptive"}, (ScaledMirror, AdaptiveOOMD)),
])
def test_curvature_picks_the_regularizer(cls, kw, want):
    env = SEAVector(num_envs=2, dim=3)
    agent = cls(env.single_observation_space, env.single_action_space, **kw)
    agent.reset(seeds=[0, 1], device=CPU)
    assert isinstance(agent._reg, want[0])
    if want[1] is not None:
        assert isinstance(agent._reg.schedule, want[1])
        assert isinstance(agent._reg.mirror, Euclidean)


def _play(env, agent, obs, rounds, t0=0):
    out = []
    for t in range(t0 + 1, t0 + rounds + 1):
        action, info = agent.act(obs)
        nxt, reward, term, trunc, einfo = env.step(action)
        agent.update(Step(t, obs, action, info, reward, einfo["feedback"], nxt, term | trunc))
        out.append(action)
        obs = nxt
    return out, obs


@pytest.mark.parametrize(("cls", "kw"), [(c, kw) for c in (OGD, OptimisticOMD, OptimisticFTRL,
                                                             OptimisticOMDEnsemble)
                                         for kw in c._unit_test_params()])
def test_agents_survive_a_checkpoint_round_trip(cls, kw):
    """``--resume`` pickles agents mid-run: the pieces (frozen objects, NamedTuples) must too."""
    env = SEAVector(num_envs=R, dim=3, sigma=0.3, regime="drift", loss="squared")
    agent = cls(env.single_observation_space, env.single_action_space, **kw)
    obs, _ = env.reset(seed=0)
    agent.reset(seeds=[1, 2, 3], device=CPU)
    _, obs = _play(env, agent, obs, 10)
    buf = io.BytesIO()
    torch.save({"agent": agent, "env": env}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=False)
    ours, _ = _play(env, agent, obs, 10, t0=10)
    theirs, _ = _play(saved["env"], saved["agent"], obs, 10, t0=10)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
