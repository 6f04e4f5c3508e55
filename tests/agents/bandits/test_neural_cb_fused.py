"""The compiled perturbed step of NeuSquareCB / NeuFastCB (fast kind, CPU) against the torch path.

The fused kernel (``olearn.agents.bandits.neural_cb_kernels``) must make the torch step's update
with the same Philox normals ξ, to float32 rounding: from the same state, step by step (the
first step has δ = θ − θ_0 = 0), and over a run, with and without the ``radius`` projection.
"""

from __future__ import annotations

import pickle

import gymnasium as gym
import polars as pl
import pytest
import torch

import olearn
from olearn.agents.bandits.networks import flatten
from olearn.agents.bandits.neural_cb import NeuFastCB, NeuSquareCB
from olearn.seeding import stream_kind
from olearn.types import Step

CPU = torch.device("cpu")
OBS, ACT = gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(3)
SEEDS = [11, 12, 13]
CASES = [
    (NeuSquareCB, {"hidden": (16,), "c_p": 0.1}),
    (NeuFastCB, {"hidden": (16,), "c_p": 0.1, "S": 3}),
    (NeuSquareCB, {"hidden": (16,), "c_p": 0.3, "lr": 2.0, "radius": 0.05}),
    (NeuSquareCB, {"hidden": (8, 6), "activation": "tanh", "c_p": 0.3, "update_every": 3,
                   "steps_per_round": 2}),
    (NeuFastCB, {"hidden": (7,), "activation": "gelu", "c_p": 0.2, "update_every": 2,
                 "radius": 0.1, "lr": 3.0}),
]
RTOL = 1e-5


def _agent(cls, kwargs, *, fused: bool, seeds=SEEDS):
    agent = cls(OBS, ACT, **kwargs)
    with stream_kind("fast"):
        agent.reset(seeds=seeds, device=CPU)
    assert agent._fused
    agent._fused = fused
    return agent


def _rounds(n: int, r: int = len(SEEDS), seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(r, 4, generator=g), torch.rand(r, generator=g)) for _ in range(n)]


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = RTOL) -> bool:
    """``max |a − b| ≤ rtol · max |b|`` (float32 rounding, relative to the whole array)."""
    return float((a - b).abs().max()) <= rtol * float(b.abs().max()) + 1e-12


@pytest.mark.parametrize(("cls", "kwargs"), CASES)
def test_fused_step_matches_torch_step_from_the_same_state(cls, kwargs):
    fused, ref = _agent(cls, kwargs, fused=True), _agent(cls, kwargs, fused=False)
    projected = 0
    for t, (obs, reward) in enumerate(_rounds(12), 1):
        ref._params = [p.detach().clone() for p in fused._params]   # the same state
        before = flatten(fused._params).clone()
        delta = before - fused._theta0
        assert torch.allclose(fused._n2.sqrt().float(), delta.norm(dim=1), rtol=1e-5, atol=0)
        if t == 1:
            assert not delta.any()                                  # δ = 0: the first step
        action, info = fused.act(obs)
        action_ref, _ = ref.act(obs)
        assert torch.equal(action, action_ref)
        step = Step(t=t, obs=obs, action=action, act_info=info, reward=reward)
        fused.update(step)
        ref.update(step)
        assert fused._steps == ref._steps
        new, new_ref = flatten(fused._params), flatten(ref._params)
        assert _close(new - before, new_ref - before)               # the step itself
        assert _close(new - fused._theta0, new_ref - fused._theta0)
        if kwargs.get("radius"):
            dist = (new - fused._theta0).norm(dim=1)
            assert (dist <= kwargs["radius"] * (1 + 1e-5)).all()
            projected += int((dist > kwargs["radius"] * (1 - 1e-4)).sum())
    assert fused._steps > 0
    if kwargs.get("radius"):
        assert projected > 0                                        # the projection was used


@pytest.mark.parametrize(("cls", "kwargs"), CASES)
def test_fused_run_tracks_torch_run(cls, kwargs):
    fused, ref = _agent(cls, kwargs, fused=True), _agent(cls, kwargs, fused=False)
    for t, (obs, reward) in enumerate(_rounds(25), 1):
        action, info = ref.act(obs)
        fused.act(obs)
        step = Step(t=t, obs=obs, action=action, act_info=info, reward=reward)
        fused.update(step)
        ref.update(step)
    a, b = flatten(fused._params), flatten(ref._params)
    assert torch.isfinite(b).all()
    assert _close(a, b)
    assert _close(a - fused._theta0, b - ref._theta0)


def test_fused_step_draws_the_streams_normals():
    """The kernel's ξ is ``self._xi(step)``: at the first step (δ = 0) a weight with no gradient
    moves by ``−η c_p ‖w‖ ξ``, so its moves are the stream's draw 0 times one number per
    replicate (the first layer's rows for the other arms' blocks of the disjoint encoding)."""
    agent = _agent(NeuSquareCB, {"hidden": (5,), "c_p": 0.5}, fused=True)
    obs, reward = _rounds(1)[0]
    action, info = agent.act(obs)
    before = flatten(agent._params).clone()
    agent.update(Step(t=1, obs=obs, action=action, act_info=info, reward=reward))
    move = (flatten(agent._params) - before).view(len(SEEDS), -1)
    xi = agent._xi(0)                                            # (R, p), the stream's draw 0
    w1 = slice(0, 12 * 5)                                        # W1: (12 inputs, 5 hidden)
    for r, a in enumerate(action.tolist()):
        rows = [i for i in range(12) if i // 4 != a]                # zero inputs: no gradient
        idx = torch.tensor([i * 5 + j for i in rows for j in range(5)])
        ratio = move[r, w1][idx] / xi[r, w1][idx]
        assert float(ratio.std() / ratio.mean().abs()) < 1e-5
        assert float(ratio.mean()) < 0                              # −η c_p ‖w‖


def test_update_takes_acts_forward_and_depends_only_on_its_step(monkeypatch):
    """The update reuses act's forward pass over all arms when θ and the observation are
    act's, else makes the same pass again: played in order or with every act before the
    updates (delayed feedback), the weights are the same bit for bit."""
    kwargs = {"hidden": (64,), "c_p": 0.2}
    in_order, delayed = (_agent(NeuSquareCB, kwargs, fused=True) for _ in range(2))
    calls = {"in_order": 0, "delayed": 0}
    for name, agent in (("in_order", in_order), ("delayed", delayed)):
        def counted(*args, _forward=agent._net.pre_activations, _name=name):
            calls[_name] += 1
            return _forward(*args)

        monkeypatch.setattr(agent._net, "pre_activations", counted)
    steps = []
    for t, (obs, reward) in enumerate(_rounds(4), 1):
        action, info = in_order.act(obs)
        steps.append(Step(t=t, obs=obs, action=action, act_info=info, reward=reward))
        in_order.update(steps[-1])
    for step in steps:
        delayed.act(step.obs)
    for step in steps:
        delayed.update(step)
    assert calls == {"in_order": 4, "delayed": 8}   # in order: act's passes only
    assert torch.equal(in_order._flat, delayed._flat)
    assert torch.equal(in_order._n2, delayed._n2)


def test_batched_replicate_equals_replicate_alone_bit_for_bit():
    kwargs = {"hidden": (12,), "c_p": 0.4, "radius": 0.3, "lr": 1.0}
    batch = _agent(NeuSquareCB, kwargs, fused=True)
    alone = _agent(NeuSquareCB, kwargs, fused=True, seeds=SEEDS[1:2])
    for t, (obs, reward) in enumerate(_rounds(15), 1):
        action, info = batch.act(obs)
        batch.update(Step(t=t, obs=obs, action=action, act_info=info, reward=reward))
        alone.act(obs[1:2])
        alone.update(Step(t=t, obs=obs[1:2], action=action[1:2],
                          act_info={k: v[1:2] for k, v in info.items()}, reward=reward[1:2]))
    # the kernel treats replicates independently; torch's batched matmuls may round alike
    assert torch.allclose(flatten(batch._params)[1], flatten(alone._params)[0], atol=1e-6)


def test_pickle_roundtrip_keeps_the_flat_weights():
    agent = _agent(NeuFastCB, {"hidden": (8,), "c_p": 0.1}, fused=True)
    rounds = _rounds(20)

    def feed(a, part):
        for t, (obs, reward) in enumerate(part, 1):
            action, info = a.act(obs)
            a.update(Step(t=t, obs=obs, action=action, act_info=info, reward=reward))

    feed(agent, rounds[:10])
    clone = pickle.loads(pickle.dumps(agent))
    assert clone._params[0].untyped_storage().data_ptr() == clone._flat.untyped_storage().data_ptr()
    feed(agent, rounds[10:])
    feed(clone, rounds[10:])
    assert torch.equal(agent._flat, clone._flat)
    assert torch.equal(flatten(agent._params), agent._flat)


def _spec(replicates: int = 4) -> dict:
    return {"name": "ncb-fused", "horizon": 40, "replicates": replicates, "seed": 3,
            "rng": "fast",
            "env": {"id": "olearn/ContextualBandit-v0",
                    "kwargs": {"arms": 4, "dim": 5, "reward": "cosine", "noise": 0.1}},
            "agents": [{"label": "sq", "id": "olearn/NeuSquareCB-v0",
                        "kwargs": {"hidden": [16], "c_p": 0.1}},
                       {"label": "fast", "id": "olearn/NeuFastCB-v0",
                        "kwargs": {"hidden": [16], "S": 2, "radius": 0.5}}]}


def test_same_spec_and_seed_give_the_same_trace(tmp_path):
    cols = ["agent", "replicate", "t", "regret", "propensity"]
    runs = [olearn.simulate(_spec(), out=tmp_path / name, quiet=True).load().select(cols)
            .sort("agent", "replicate", "t").collect() for name in ("a", "b")]
    assert runs[0].height == 2 * 4 * 40
    assert runs[0].equals(runs[1])
    assert runs[0].filter(pl.col("propensity") < 1).height > 0


def test_kernel_numbers_do_not_depend_on_threads():
    """Each replicate is one thread's, in a fixed order: 1 thread or all give the same bits."""
    import numba
    import numpy as np

    from olearn.agents.bandits import neural_cb_kernels as kernels

    rng = np.random.default_rng(0)
    r, n_in, width = 9, 50, 30
    sizes = [n_in * width, width, width, 1]
    starts = np.array([0, *np.cumsum(sizes)])
    theta0 = rng.standard_normal((r, starts[-1]), dtype=np.float32)
    hs = (rng.standard_normal((r, 2, n_in), dtype=np.float32), np.ones((r, 2, 1), np.float32),
          rng.standard_normal((r, 2, width), dtype=np.float32), np.ones((r, 2, 1), np.float32))
    ds = (*(2 * (rng.standard_normal((r, 2, width), dtype=np.float32),)),
          *(2 * (rng.standard_normal((r, 2, 1), dtype=np.float32),)))
    keys = np.arange(r, dtype=np.uint64), np.arange(r, dtype=np.uint64) + np.uint64(5)
    out = []
    cap = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined,unused-ignore]
    if cap < 2:
        pytest.skip("one numba thread")
    old, old_torch = numba.get_num_threads(), torch.get_num_threads()
    numba.set_num_threads(cap)
    try:
        for threads in (1, 0):
            theta, n2 = theta0.copy(), np.zeros(r)
            for step in range(3):   # the first with δ = 0; then with the projection
                kernels.perturbed_step(theta, theta0, hs, ds, starts, *keys, step, np.ones(r),
                                       np.full(r, 0.5), 0.1, 0.3, 0.05, n2, threads)
            out.append((theta, n2))
    finally:
        numba.set_num_threads(old)
        torch.set_num_threads(old_torch)
    assert np.array_equal(out[0][0], out[1][0]) and np.array_equal(out[0][1], out[1][1])
    assert np.allclose(np.sqrt(out[0][1]), 0.05, rtol=1e-5)      # on the ball
