"""GPU checks (marked ``gpu``; skipped where no CUDA device is present)."""

from __future__ import annotations

import pytest

import olearn

pytestmark = pytest.mark.gpu

SPEC = {"name": "gpu", "horizon": 2000, "replicates": 64, "seed": 5,
        "env": {"id": "olearn/ContextualBandit-v0",
                "kwargs": {"arms": 5, "dim": 8, "dtype": "float64"}},
        "agents": [{"label": "linucb", "id": "olearn/LinUCB-v0"},
                   {"label": "eg", "id": "olearn/EpsilonGreedy-v0"}]}


def test_cuda_run_matches_cpu_run():
    cpu = olearn.simulate({**SPEC, "device": "cpu"}, quiet=True, out="cpu")
    gpu = olearn.simulate({**SPEC, "device": "cuda"}, quiet=True, out="gpu")
    assert gpu.meta["device"].startswith("cuda") and "device_name" in gpu.meta
    a = cpu.load().sort("agent", "replicate", "t").collect()
    b = gpu.load().sort("agent", "replicate", "t").collect()
    assert a.height == b.height
    # same random streams on both devices: the curves agree up to float rounding (and the
    # rare arm tie that rounding breaks differently)
    fa, fb = cpu.final_regret(), gpu.final_regret()
    for label in fa:
        assert fb[label] == pytest.approx(fa[label], rel=0.02)
    same = (a["regret"] - b["regret"]).abs() < 1e-6
    assert same.mean() > 0.9


def test_every_registered_agent_runs_on_cuda():
    import olearn.agents  # noqa: F401
    from olearn.registry import agent_registry

    for agent_id, spec in sorted(agent_registry.items()):
        if not agent_id.startswith("olearn/"):
            continue
        cls = spec.load()
        env_id, env_kwargs = getattr(cls, "test_env",
                                     ("olearn/ContextualBandit-v0", {"arms": 3, "dim": 4}))
        run = {"name": "each", "horizon": 50, "replicates": 8, "device": "cuda",
               "env": {"id": env_id, "kwargs": env_kwargs},
               "agents": [{"label": "a", "id": agent_id, "kwargs": cls._unit_test_params()[0]}]}
        r = olearn.simulate(run, quiet=True, out=f"each-{agent_id.split('/')[1]}")
        df = r.load().collect()
        assert df.height == 8 * 50 and df["regret"].is_finite().all(), agent_id
