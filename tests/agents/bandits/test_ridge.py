"""BatchedRidge: exact against a direct solve; the compiled CPU kernels and torch agree."""

import hashlib
import pickle

import pytest
import torch

from olearn.agents.bandits.ridge import BatchedRidge

CPU = torch.device("cpu")


def _stream(r: int, k: int, d: int, n: int, per_arm: bool, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    shape = (r, k, d) if per_arm else (r, d)
    for _ in range(n):
        yield (torch.randn(shape, generator=g), torch.randint(0, k, (r,), generator=g),
               torch.randn(r, generator=g))


@pytest.mark.parametrize(("models", "per_arm"), [(4, False), (1, True), (4, True)])
def test_matches_a_direct_ridge_solve(models, per_arm):
    r, k, d, reg = 3, 4, 5, 0.7
    ridge = BatchedRidge(replicates=r, models=models, dim=d, reg=reg, device=CPU)
    gram = torch.eye(d, dtype=torch.float64).repeat(r, models, 1, 1) * reg
    b = torch.zeros(r, models, d, dtype=torch.float64)
    for x, a, y in _stream(r, k, d, 40, per_arm):
        xa = x[torch.arange(r), a] if per_arm else x
        m = a if models > 1 else torch.zeros_like(a)
        ridge.update(m, xa, y)
        xa, rows = xa.double(), torch.arange(r)
        gram[rows, m] += xa.unsqueeze(-1) * xa.unsqueeze(-2)
        b[rows, m] += y.double().unsqueeze(-1) * xa
    theta = torch.linalg.solve(gram, b.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(ridge.theta, theta)
    torch.testing.assert_close(ridge.a_inv, torch.linalg.inv(gram))
    x = next(_stream(r, k, d, 1, per_arm, seed=1))[0].double()
    if per_arm and models == 1:
        mean, w2 = x @ theta[:, 0, :, None], (x @ torch.linalg.inv(gram[:, 0]) * x).sum(-1)
    elif per_arm:
        mean = (theta * x).sum(-1)
        w2 = (x.unsqueeze(-2) @ torch.linalg.inv(gram) @ x.unsqueeze(-1))[..., 0, 0]
    else:
        mean = theta @ x[:, :, None]
        w2 = (x[:, None, None, :] @ torch.linalg.inv(gram) @ x[:, None, :, None])[..., 0, 0]
    torch.testing.assert_close(ridge.mean(x), mean.reshape(r, -1))
    torch.testing.assert_close(ridge.width2(x), w2)
    torch.testing.assert_close(ridge.bound(x, 2.0), mean.reshape(r, -1) + 2.0 * w2.sqrt())


@pytest.mark.parametrize(("models", "per_arm"), [(4, False), (1, True), (4, True)])
def test_kernels_and_torch_agree(models, per_arm):
    kw = {"replicates": 3, "models": models, "dim": 5, "reg": 1.0, "device": CPU}
    host, dev = BatchedRidge(host=True, **kw), BatchedRidge(host=False, **kw)
    for x, a, y in _stream(3, 4, 5, 30, per_arm):
        xa = x[torch.arange(3), a] if per_arm else x
        m = a if models > 1 else torch.zeros_like(a)
        host.update(m, xa, y)
        dev.update(m, xa, y)
        assert torch.equal(host.best(x, 1.0), dev.best(x, 1.0))
    assert isinstance(host.backend._a_inv, type(host.theta.numpy()))
    assert isinstance(dev.backend._a_inv, torch.Tensor)
    torch.testing.assert_close(host.a_inv, dev.a_inv, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(host.theta, dev.theta, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("models", "per_arm"), [(4, False), (1, True), (4, True)])
def test_a_replicate_alone_and_in_a_batch_on_any_thread_count_give_the_same_bits(models, per_arm):
    """Replicate re-runs and ``threads`` (not part of a spec's digest) must not move a trace."""
    import numba

    r, k, d = 70, 4, 7   # at least SERIAL_BELOW: the batch runs on every thread numba allows
    kw = {"models": models, "dim": d, "reg": 0.5, "device": CPU}
    batch, alone = BatchedRidge(replicates=r, **kw), BatchedRidge(replicates=1, **kw)
    threads = numba.get_num_threads()
    try:
        for t, (x, a, y) in enumerate(_stream(r, k, d, 25, per_arm)):
            numba.set_num_threads(1 + t % threads)
            xa = x[torch.arange(r), a] if per_arm else x
            m = a if models > 1 else torch.zeros_like(a)
            for ridge, rows in ((batch, slice(None)), (alone, slice(r - 1, r))):
                scores = ridge.bound(x[rows], 0.7), ridge.best(x[rows], 0.7)
                ridge.update(m[rows], xa[rows], y[rows])
                if ridge is batch:
                    want = [s[-1:] for s in scores]
            assert all(torch.equal(p, q) for p, q in zip(want, scores, strict=True))
    finally:
        numba.set_num_threads(threads)
    assert torch.equal(batch.a_inv[-1:], alone.a_inv) and torch.equal(batch.theta[-1:], alone.theta)


def test_a_model_index_out_of_range_is_an_error():
    ridge = BatchedRidge(replicates=2, models=3, dim=2, reg=1.0, device=CPU)
    with pytest.raises(IndexError, match=r"2 indices in \[0, 3\), got \[0, 3\]"):
        ridge.update(torch.tensor([0, 3]), torch.ones(2, 2), torch.ones(2))
    for model in (torch.tensor([1, -1]), torch.tensor([0]), torch.tensor([[0, 1]])):
        with pytest.raises(IndexError, match="2 indices in"):
            ridge.update(model, torch.ones(2, 2), torch.ones(2))
    with pytest.raises(ValueError, match=r"x must be \(R, d\) = \(2, 2\)"):
        ridge.update(torch.tensor([0, 1]), torch.ones(2, 3), torch.ones(2))
    with pytest.raises(ValueError, match="contexts must be"):
        ridge.best(torch.ones(3, 2), 1.0)
    assert torch.equal(ridge.a_inv, torch.eye(2, dtype=torch.float64).expand(2, 3, 2, 2))


def test_host_state_needs_a_cpu_and_graphs_a_gpu():
    with pytest.raises(ValueError, match="needs device='cpu'"):
        BatchedRidge(replicates=1, models=1, dim=2, reg=1.0, device=torch.device("meta"), host=True)
    with pytest.raises(ValueError, match="needs a CUDA device"):
        BatchedRidge(replicates=1, models=1, dim=2, reg=1.0, device=CPU, graphs=True)


def test_wide_features_go_to_the_torch_backend(monkeypatch):
    from olearn.agents.bandits import ridge, ridge_kernels

    assert ridge._HOST_MAX_DIM == ridge_kernels.MAX_DIM
    with pytest.raises(ValueError, match="1 <= d <= 4096 features, got 4097"):
        ridge_kernels.compiled(ridge_kernels.MAX_DIM + 1)
    monkeypatch.setattr(ridge, "_HOST_MAX_DIM", 3)
    assert not BatchedRidge(replicates=1, models=1, dim=4, reg=1.0, device=CPU).host
    assert BatchedRidge(replicates=1, models=1, dim=3, reg=1.0, device=CPU).host


def test_a_context_changed_in_place_is_converted_again():
    ridge = BatchedRidge(replicates=1, models=2, dim=3, reg=1.0, device=CPU)
    x = torch.ones(1, 3)
    first = ridge.width2(x).clone()
    x.mul_(2.0)
    torch.testing.assert_close(ridge.width2(x), 4.0 * first)


@pytest.mark.gpu
@pytest.mark.parametrize(("models", "per_arm"), [(4, False), (1, True), (4, True)])
def test_cuda_graphs_give_the_same_numbers(models, per_arm):
    cuda = torch.device("cuda")
    kw = {"replicates": 3, "models": models, "dim": 5, "reg": 1.0, "device": cuda}
    graphed, plain = BatchedRidge(graphs=True, **kw), BatchedRidge(graphs=False, **kw)
    for x, a, y in _stream(3, 4, 5, 30, per_arm):
        x, a, y = x.to(cuda), a.to(cuda), y.to(cuda)
        xa = x[torch.arange(3, device=cuda), a] if per_arm else x
        m = a if models > 1 else torch.zeros_like(a)
        assert torch.equal(graphed.best(x, 1.0), plain.best(x, 1.0))
        z = torch.rand(3, 4, device=cuda)
        assert torch.equal(graphed.best(x, z), plain.best(x, z))
        graphed.update(m, xa, y)
        plain.update(m, xa, y)
    torch.testing.assert_close(graphed.a_inv, plain.a_inv, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(graphed.theta, plain.theta, rtol=1e-12, atol=1e-12)
    again = pickle.loads(pickle.dumps(graphed))   # graphs are dropped and captured again
    again.update(m, xa, y)
    plain.update(m, xa, y)
    torch.testing.assert_close(again.a_inv, plain.a_inv, rtol=1e-12, atol=1e-12)


def test_a_graph_that_cannot_be_captured_falls_back_to_plain_calls(monkeypatch):
    from olearn import cuda_graphs

    def refuse(self, inputs, key):
        raise cuda_graphs.CaptureError("cannot capture a CUDA graph: not here")

    monkeypatch.setattr(cuda_graphs.Replay, "_capture", refuse)
    kw = {"replicates": 2, "models": 3, "dim": 4, "reg": 1.0, "device": CPU, "host": False}
    ridge, plain = BatchedRidge(**kw), BatchedRidge(**kw)
    ridge.backend.graphs = True  # as on a GPU whose driver refuses to capture
    x, m, y = torch.randn(2, 4), torch.tensor([0, 2]), torch.randn(2)
    with pytest.warns(RuntimeWarning, match="runs without CUDA graphs"):
        ridge.update(m, x, y)
    plain.update(m, x, y)
    assert not ridge.graphs
    assert torch.equal(ridge.best(x, 1.0), plain.best(x, 1.0))
    torch.testing.assert_close(ridge.a_inv, plain.a_inv, rtol=0, atol=0)


def test_the_torch_backend_never_imports_numba():
    """A GPU machine runs the torch backend; numba is needed only where the kernels run."""
    import subprocess
    import sys

    code = ("import sys, torch, olearn, olearn.agents.bandits.linear\n"
            "from olearn.agents.bandits.ridge import BatchedRidge\n"
            "r = BatchedRidge(replicates=2, models=3, dim=4, reg=1.0, device=torch.device('cpu'),"
            " host=False)\n"
            "r.update(torch.tensor([0, 2]), torch.ones(2, 4), torch.ones(2))\n"
            "r.best(torch.ones(2, 4), 1.0)\n"
            "assert 'numba' not in sys.modules, 'numba was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_deferred_update_is_applied_before_any_read_and_pickles_settled():
    """The host backend learns in the next scoring call; nothing can observe the delay."""
    kw = {"replicates": 3, "models": 4, "dim": 5, "reg": 1.0, "device": CPU}
    lazy, eager = BatchedRidge(**kw), BatchedRidge(**kw)
    for i, (x, a, y) in enumerate(_stream(3, 4, 5, 12, per_arm=False)):
        lazy.update(a, x, y)
        eager.update(a, x, y)
        eager.backend._settle()
        read = (lambda r: r.theta, lambda r: r.a_inv, lambda r, x=x: r.best(x, 1.0),
                lambda r, x=x: r.mean(x), lambda r: pickle.loads(pickle.dumps(r)).theta)[i % 5]
        assert torch.equal(read(lazy), read(eager))
        assert lazy.backend._pending is None
    x, y = x.double(), torch.ones(3)   # float64: the host backend could view these bytes
    eager.update(a.clone(), x.clone(), y.clone())
    lazy.update(a, x, y)
    for t in (a, x, y):   # the deferred step owns its inputs: later changes do not leak in
        t.zero_()
    assert torch.equal(lazy.theta, eager.theta)


def test_the_front_picks_the_backend():
    from olearn.agents.bandits import ridge
    from olearn.agents.bandits.ridge_compiled import CompiledRidge
    from olearn.agents.bandits.ridge_torch import TorchRidge

    kw = {"replicates": 2, "models": 3, "dim": 4, "reg": 1.0}
    cases = [({"device": CPU}, CompiledRidge, True, False),
             ({"device": CPU, "host": False}, TorchRidge, False, False),
             ({"device": torch.device("meta")}, TorchRidge, False, False)]
    if torch.cuda.is_available():
        cases.append(({"device": torch.device("cuda")}, TorchRidge, False, True))
    for extra, cls, host, graphs in cases:
        front = BatchedRidge(**kw, **extra)
        assert type(front.backend) is cls and isinstance(front.backend, ridge.RidgeBackend)
        assert (front.host, front.graphs, front.shape) == (host, graphs, (2, 3, 4))


def _stream_digest(ridge, per_arm: bool) -> str:
    """SHA-256 of ``θ`` and ``A⁻¹`` after 40 updates of exactly representable data, with
    scoring calls (which apply the deferred update in the fused pass) in 2 of 3 rounds."""
    r, m, d = ridge.shape
    k = 4 if per_arm else m
    rows, cols = torch.arange(r, dtype=torch.float64)[:, None], torch.arange(d)[None, :]
    for t in range(40):
        x = ((rows * 11 + cols * 37 + t * 5) % 17 - 8) / 8
        y = ((torch.arange(r) * 3 + t * 7) % 11 - 5) / 4.0
        ridge.update((torch.arange(r) + t) % m, x, y)
        if t % 3:
            ctx = x[:, None, :] * (1 + torch.arange(k))[:, None] if per_arm else x
            ridge.best(ctx.contiguous(), 0.5)
    h = hashlib.sha256()
    for t in (ridge.theta, ridge.a_inv):
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize(("shape", "per_arm", "digest"), [
    ((3, 4, 5), False, "b3fa5d86e7c1fe67"), ((70, 1, 7), True, "fcf6c4194b171c69"),
    ((70, 4, 7), True, "5a69ac3353fc1da0"), ((65, 10, 20), False, "0c9808749fbe0365")])
def test_the_compiled_backend_learns_the_same_bits_as_before_the_split(shape, per_arm, digest):
    """Learning is strict IEEE, so these digests (taken before the backends were split out of
    BatchedRidge) hold on any CPU; through the front and alone the bits are the same."""
    from olearn.agents.bandits.ridge_compiled import CompiledRidge

    kw = dict(zip(("replicates", "models", "dim"), shape, strict=True), reg=0.7)
    assert _stream_digest(BatchedRidge(**kw, device=CPU), per_arm) == digest
    assert _stream_digest(CompiledRidge(**kw), per_arm) == digest


def test_the_torch_backend_alone_matches_the_front():
    from olearn.agents.bandits.ridge_torch import TorchRidge

    kw = {"replicates": 5, "models": 4, "dim": 6, "reg": 0.7}
    assert (_stream_digest(BatchedRidge(**kw, device=CPU, host=False), per_arm=True)
            == _stream_digest(TorchRidge(**kw, device=CPU), per_arm=True))


def test_the_compiled_backend_runs_few_replicates_on_one_thread():
    """Its thread policy: under the caller's numba thread count (the cap), one thread below
    SERIAL_BELOW replicates; the kernels restore the caller's count."""
    import numba
    import numpy as np

    from olearn.agents.bandits import ridge_compiled, ridge_kernels

    below = ridge_compiled.SERIAL_BELOW
    assert [ridge_compiled.kernel_threads(r) for r in (1, below - 1, below, 1000)] == [1, 1, 0, 0]
    assert BatchedRidge(replicates=8, models=2, dim=3, reg=1.0, device=CPU).backend.threads == 1

    @numba.njit(parallel=True)
    def thread_ids(out, limit):   # the kernels' way of limiting their threads
        old = ridge_kernels._limit_threads(limit)
        for i in numba.prange(out.shape[0]):
            out[i] = numba.get_thread_id()
        ridge_kernels._set_threads(old)

    cap = numba.get_num_threads()
    ids = np.empty(4 * numba.config.NUMBA_NUM_THREADS, np.int64)
    thread_ids(ids, 1)
    assert set(ids.tolist()) == {0} and numba.get_num_threads() == cap
    for r in (below - 1, below):
        ridge = BatchedRidge(replicates=r, models=2, dim=3, reg=1.0, device=CPU)
        ridge.update(torch.zeros(r, dtype=torch.long), torch.ones(r, 3), torch.ones(r))
        ridge.update(torch.ones(r, dtype=torch.long), torch.ones(r, 3), torch.ones(r))
        ridge.best(torch.ones(r, 3), 1.0)
        assert numba.get_num_threads() == cap
