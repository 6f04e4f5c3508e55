"""Philox4x32-10 (olearn/philox.py): known answers, the compiled CPU kernels against the torch
ops, statistics, and replicate identity of the fast streams."""

from __future__ import annotations

import math

import pytest
import torch

from olearn import philox
from olearn.seeding import (
    BlockStream,
    PhiloxStream,
    replicate_seeds,
    resolve_kind,
    stream,
    stream_kind,
)

# Random123's kat_vectors (philox4x32, 7 and 10 rounds): counter[4], key[2] -> output[4]
KAT = [
    (10, [0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    (10, [0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    (10, [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
    (7, [0, 0, 0, 0], [0, 0], [0x5F6FB709, 0x0D893F64, 0x4F121F81, 0x4F730A48]),
    (7, [0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x5207DDC2, 0x45165E59, 0x4D8EE751, 0x8C52F662]),
    (7, [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0x4DFCCABA, 0x190A87F0, 0xC47362BA, 0xB6B5242A]),
]
CPU = torch.device("cpu")


@pytest.mark.parametrize(("rounds", "ctr", "key", "expected"), KAT)
def test_known_answers(rounds, ctr, key, expected):
    args = [torch.tensor([w], dtype=torch.int64) for w in ctr + key]
    out = philox.philox4x32(*args, rounds=rounds)
    assert [int(w[0]) for w in out] == expected


def test_known_answers_batched_and_broadcast():
    """All vectors in one call, and a counter broadcast against several keys."""
    ten = [k for k in KAT if k[0] == 10]
    cols = [torch.tensor([k[1][i] for k in ten]) for i in range(4)]
    keys = [torch.tensor([k[2][i] for k in ten]) for i in range(2)]
    out = philox.philox4x32(*cols, *keys)
    assert torch.stack(out, 1).tolist() == [k[3] for k in ten]
    zero = torch.zeros(1, dtype=torch.int64)
    out = philox.philox4x32(zero, zero, zero, zero, torch.tensor([[0], [0xFFFFFFFF]]), zero)
    assert [int(w[0, 0]) for w in out] == KAT[0][3]


def _keys(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(-(2**62), 2**62, (n,), generator=g, dtype=torch.int64)
    k[:3] = torch.tensor([0, -1, 2**63 - 1])
    return k


@pytest.mark.parametrize("precision", [torch.float32, torch.float64])
def test_compiled_kernel_is_the_torch_path_bit_for_bit(precision):
    keys = _keys(37)
    draws = torch.tensor([0, 1, 2**32 - 1, 2**32, 2**40 + 5])
    for m in (1, 3, 26):
        a = philox.unit_block(keys, draws, m, precision=precision, compiled=True)
        b = philox.unit_block(keys, draws, m, precision=precision, compiled=False)
        assert a.dtype == precision and torch.equal(a, b)
        ua = philox.uniforms(keys, draws, 4 * m - 1, precision=precision, compiled=True)
        ub = philox.uniforms(keys, draws, 4 * m - 1, precision=precision, compiled=False)
        assert torch.equal(ua, ub)
        na = philox.normals(keys, draws, 4 * m - 1, precision=precision, compiled=True)
        nb = philox.normals(keys, draws, 4 * m - 1, precision=precision, compiled=False)
        if precision == torch.float64:
            assert torch.equal(na, nb)
        else:   # one compiled pass with its own float32 log/sin/cos: torch's to a few ulps
            assert na.dtype == torch.float32 and torch.allclose(na, nb, rtol=0, atol=4e-6)


def test_compiled_float32_normals_are_torchs_to_a_few_ulps_everywhere():
    """Every pair of a large block, the extreme words included (u1 = 2^-24, u2 near 0, ½, 1)."""
    keys = _keys(200, seed=5)
    na = philox.normals(keys, torch.arange(8), 400, compiled=True)
    nb = philox.normals(keys, torch.arange(8), 400, compiled=False)
    assert float((na - nb).abs().max()) < 4e-6
    w = torch.tensor([0, 1 << 9, 0x7FFFFF << 9, (1 << 22) << 9, 0xFFFFFFFF], dtype=torch.int64)
    u = ((w >> 9).to(torch.float64) + 0.5) * 2.0**-23
    from olearn import philox_cpu

    for a, b in [(x, y) for x in w.tolist() for y in w.tolist()]:
        s, c = philox_cpu.box_muller_pair(a, b)
        i, j = w.tolist().index(a), w.tolist().index(b)
        rad = math.sqrt(-2 * math.log(float(u[i])))
        assert abs(s - rad * math.sin(2 * math.pi * float(u[j]))) < 4e-6
        assert abs(c - rad * math.cos(2 * math.pi * float(u[j]))) < 4e-6


@pytest.mark.parametrize("precision", [torch.float32, torch.float64])
def test_uniforms_are_open_and_the_words_of_the_counter(precision):
    keys = _keys(5)
    draws = torch.arange(3)
    u = philox.uniforms(keys, draws, 8, precision=precision)
    assert u.shape == (3, 5, 8) and bool(((u > 0) & (u < 1)).all())
    w = philox.words(keys, draws, 2)
    if precision == torch.float32:   # numbers q*m + j: words 0, 2, 1, 3 of group j for q = 0..3
        assert torch.equal(u[..., 2 * 2 + 1], ((w[1][..., 1] >> 9).float() + 0.5) * 2.0**-23)
        assert torch.equal(u[..., 2 * 1 + 0], ((w[2][..., 0] >> 9).float() + 0.5) * 2.0**-23)
    edge = philox._unit_f32(torch.tensor([0, 2**32 - 1]))
    assert 0 < float(edge[0]) and float(edge[1]) < 1
    edge = philox._unit_f64(torch.tensor([0, 2**32 - 1]), torch.tensor([0, 2**32 - 1]))
    assert 0 < float(edge[0]) and float(edge[1]) < 1


@pytest.mark.parametrize("precision", [torch.float32, torch.float64])
def test_moments_and_chi_square(precision):
    keys = _keys(64, seed=1)
    z = philox.normals(keys, torch.arange(64), 250, precision=precision).double().flatten()
    n = z.numel()                                      # ~1e6
    se = 1 / math.sqrt(n)
    assert abs(float(z.mean())) < 5 * se
    assert abs(float(z.var()) - 1) < 5 * math.sqrt(2) * se
    assert abs(float((z**3).mean())) < 5 * math.sqrt(15) * se
    assert abs(float((z**4).mean()) - 3) < 5 * math.sqrt(96) * se
    u = philox.uniforms(keys, torch.arange(64), 250, precision=precision).flatten()
    counts = torch.bincount((u * 100).long(), minlength=100).double()
    chi2 = float(((counts - n / 100) ** 2 / (n / 100)).sum())
    assert chi2 < 99 + 5 * math.sqrt(2 * 99)          # 99 d.o.f.: mean 99, sd 14
    assert abs(float(u.mean()) - 0.5) < 5 * se / math.sqrt(12)


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().flatten(), b.double().flatten()
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


def test_neighbouring_replicates_streams_and_draws_are_uncorrelated():
    seeds = replicate_seeds(0, "env", range(64))
    a = PhiloxStream(seeds, "xi", (100,), device=CPU).block_of(0)[0]       # (B, R, 100)
    b = PhiloxStream(seeds, "xj", (100,), device=CPU).block_of(0)[0]
    tol = 5 / math.sqrt(a[:, :-1].numel())
    assert abs(_corr(a[:, :-1], a[:, 1:])) < tol       # replicate r and r + 1
    assert abs(_corr(a, b)) < tol                      # two streams of the same replicates
    assert abs(_corr(a[:-1], a[1:])) < tol             # draw i and i + 1
    assert abs(_corr(a[..., :-1], a[..., 1:])) < tol   # neighbouring elements of a draw
    # consecutive raw 64-bit keys (not derived seeds) too
    u = philox.normals(torch.arange(65), torch.arange(16), 100)
    assert abs(_corr(u[:, :-1], u[:, 1:])) < 5 / math.sqrt(u[:, 1:].numel())


@pytest.mark.parametrize("kind", ["normal", "uniform"])
@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_replicate_alone_equals_its_row_of_a_batch(kind, precision):
    seeds = replicate_seeds(3, "env", range(50))
    batch = PhiloxStream(seeds, "noise", (2, 3), kind=kind, device=CPU, precision=precision)
    for r in (0, 17, 49):
        alone = PhiloxStream(seeds[r:r + 1], "noise", (2, 3), kind=kind, device=CPU,
                             precision=precision)
        for i in (0, 5, 3000):
            assert torch.equal(batch(i)[r], alone(i)[0])


def test_block_size_is_not_part_of_the_stream():
    seeds = replicate_seeds(0, "env", range(3))
    a = PhiloxStream(seeds, "n", (5,), device=CPU, block=1)
    b = PhiloxStream(seeds, "n", (5,), device=CPU, block=64)
    for i in (0, 1, 63, 64, 200):
        assert torch.equal(a(i), b(i))


def test_stream_kinds():
    seeds = replicate_seeds(0, "env", range(2))
    assert resolve_kind("cpu") == "portable" and resolve_kind("cuda") == "fast"
    assert isinstance(stream(seeds, "x", device=CPU), BlockStream)
    with stream_kind("fast"):
        assert resolve_kind("cpu") == "fast"
        assert isinstance(stream(seeds, "x", device=CPU), PhiloxStream)
    with stream_kind("portable"):
        assert resolve_kind("cuda") == "portable"
    assert isinstance(stream(seeds, "x", device=CPU, rng="fast"), PhiloxStream)
    with pytest.raises(ValueError, match="rng"), stream_kind("quick"):
        pass


def test_a_pickled_stream_is_stateless_and_gives_the_same_numbers():
    import pickle

    s = PhiloxStream(replicate_seeds(0, "env", range(4)), "n", (3,), device=CPU)
    first = s(10).clone()
    t = pickle.loads(pickle.dumps(s))
    assert t._cache is None and torch.equal(t(10), first)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kind", ["normal", "uniform"])
def test_replicate_identity_on_cuda(kind):
    cuda = torch.device("cuda")
    seeds = replicate_seeds(0, "env", range(300))
    batch = PhiloxStream(seeds, "noise", (7,), kind=kind, device=cuda)
    for r in (0, 123, 299):
        alone = PhiloxStream(seeds[r:r + 1], "noise", (7,), kind=kind, device=cuda)
        for i in (0, 9, 4097):
            assert torch.equal(batch(i)[r], alone(i)[0])
    # the integer part and the uniforms are those of the CPU, bit for bit; normals to rounding
    cpu = PhiloxStream(seeds, "noise", (7,), kind=kind, device=CPU)
    if kind == "uniform":
        assert torch.equal(batch(5).cpu(), cpu(5))
    else:
        assert torch.allclose(batch(5).cpu(), cpu(5), atol=1e-5)
    keys = torch.tensor([1, 2, 3], device=cuda)
    w = philox.words(keys, torch.tensor([0, 2**33], device=cuda), 4)
    v = philox.words(keys.cpu(), torch.tensor([0, 2**33]), 4)
    assert all(torch.equal(a.cpu(), b) for a, b in zip(w, v, strict=True))


def _sea_grads(replicates: list[int], rounds: int = 40, **kw) -> torch.Tensor:
    from olearn.envs.oco.sea import SEAVector

    env = SEAVector(num_envs=len(replicates), dim=4, sigma=0.5, **kw)
    env.reset(seed=replicate_seeds(9, "env", replicates))
    x = torch.zeros(len(replicates), 4, dtype=torch.float64)
    return torch.stack([env.step(x)[4]["feedback"]["grad"] for _ in range(rounds)])


@pytest.mark.parametrize("kw", [{}, {"noise": "uniform", "regime": "adversarial"},
                                {"loss": "squared", "regime": "iid", "items": 9}])
def test_sea_under_the_fast_kind(kw):
    """The env's per-round streams come from Philox: replicate identity, other numbers than
    the portable kind's, the same law (the portable kind is unchanged, tests/envs/oco)."""
    with stream_kind("fast"):
        batch = _sea_grads(list(range(6)), **kw)
        alone = _sea_grads([4], **kw)
        again = _sea_grads(list(range(6)), **kw)
    assert torch.equal(batch[:, 4], alone[:, 0]) and torch.equal(batch, again)
    assert not torch.equal(batch, _sea_grads(list(range(6)), **kw))


def test_sea_fast_noise_has_the_right_law():
    with stream_kind("fast"):
        g = _sea_grads(list(range(50)), rounds=400)
    c = g.mean(0, keepdim=True)                       # the centre, per replicate
    z = (g - c) / 0.5
    assert abs(float(z.std()) - 1) < 0.02 and abs(float(z.mean())) < 0.01


def test_perturbed_neural_cb_under_the_fast_kind():
    import gymnasium as gym

    from olearn.agents.bandits.neural_cb import NeuSquareCB
    from olearn.types import Step

    def run(seeds: list[int]) -> torch.Tensor:
        agent = NeuSquareCB(gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(3), hidden=(8,),
                            c_p=0.5)
        agent.reset(seeds=seeds, device=CPU)
        assert (agent._xi is not None) == (resolve_kind(CPU) == "fast")
        obs = torch.linspace(-1, 1, 4).expand(len(seeds), 4)
        for t in range(1, 6):
            action, info = agent.act(obs)
            agent.update(Step(t=t, obs=obs, action=action, act_info=info,
                              reward=torch.ones(len(seeds))))
        return torch.cat([p.flatten(1) for p in agent._params], 1)

    seeds = replicate_seeds(0, "agent:n", range(5))
    with stream_kind("fast"):
        batch, alone = run(seeds), run(seeds[3:4])
    assert torch.allclose(batch[3], alone[0], atol=1e-6)
    assert not torch.allclose(batch, run(seeds))      # the portable kind: other numbers
