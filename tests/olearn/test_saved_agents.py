"""Trained agents are saved with the run (OUT/agents/<label>.pt) and read back by load_agent."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import olearn
import olearn.runner
from olearn.errors import OlearnError
from olearn.registry import make_agent, make_env
from olearn.seeding import replicate_seeds
from olearn.types import Step

AGG = {"name": "agg", "horizon": 60, "replicates": 3, "seed": 5,
       "record": {"every": 1, "chunk": 10},
       "env": {"id": "olearn/AggregateResponses-v0", "kwargs": {"dim": 4, "bag_size": 3}},
       "agents": [{"label": "int", "id": "olearn/Interpolating-v0", "kwargs": {"rho": 0.3}},
                  {"label": "bag", "id": "olearn/BagLevel-v0"}]}
UCB = {"name": "ucb", "horizon": 80, "replicates": 2, "seed": 2,
       "record": {"every": 1, "chunk": 10},
       "env": {"id": "olearn/ContextualBandit-v0", "kwargs": {"arms": 3, "dim": 4}},
       "agents": [{"label": "linucb", "id": "olearn/LinUCB-v0"}]}


def replay(spec: dict, label: str):
    """The agent ``label`` trained by hand on the run's seeds: what the in-run agent was."""
    env_spec, entry = spec["env"], next(a for a in spec["agents"] if a["label"] == label)
    ids = list(range(spec["replicates"]))
    env = make_env(env_spec["id"], num_envs=len(ids), kwargs=env_spec["kwargs"])
    agent = make_agent(entry["id"], env.single_observation_space, env.single_action_space,
                       label=label, **entry.get("kwargs", {}))
    obs, _ = env.reset(seed=replicate_seeds(spec["seed"], "env", ids))
    agent.reset(seeds=replicate_seeds(spec["seed"], f"agent:{label}", ids),
                device=torch.device("cpu"))
    for t in range(1, spec["horizon"] + 1):
        action, info = agent.act(obs)
        nxt, reward, term, trunc, einfo = env.step(action)
        agent.update(Step(t, obs, action, info, reward, einfo["feedback"], nxt, term | trunc))
        obs = nxt
    return agent, env


def test_a_run_saves_its_agents_and_load_agent_acts_as_the_trained_agent(tmp_path):
    run = olearn.simulate(AGG, out=tmp_path / "run", quiet=True)
    assert sorted(p.name for p in (run.out / "agents").iterdir()) == ["bag.pt", "int.pt"]
    for label in ("int", "bag"):
        saved = olearn.load_agent(run.out, label)
        trained, env = replay(AGG, label)
        gen = torch.Generator().manual_seed(1)
        fresh = torch.randn(3, 3, 4, dtype=torch.float64, generator=gen)
        assert saved.device == torch.device("cpu")
        assert torch.equal(saved.act(fresh)[0], trained.act(fresh)[0])
        assert torch.equal(saved.predict(fresh[0]), trained.predict(fresh[0]))


def test_a_saved_linucb_chooses_the_trained_agents_arms(tmp_path):
    run = olearn.simulate(UCB, out=tmp_path / "run", quiet=True)
    saved = olearn.load_agent(run.out, "linucb")
    trained, env = replay(UCB, "linucb")
    for seed in range(5):
        x = torch.randn(2, *env.single_observation_space.shape,
                        generator=torch.Generator().manual_seed(seed)).to(env.dtype)
        assert torch.equal(saved.act(x)[0], trained.act(x)[0])


def test_a_resumed_run_saves_the_same_agent(tmp_path, monkeypatch):
    out = tmp_path / "run"
    spec = {**AGG, "checkpoint_seconds": 0}
    real = olearn.runner.run_loop

    def interrupted(*args, **kwargs):      # Ctrl-C right after the first checkpoint
        flush = kwargs["on_flush"]

        def on_flush(state):
            flush(state)
            if any((out / "checkpoints").glob("*.pt")):
                raise KeyboardInterrupt
        kwargs["on_flush"] = on_flush
        return real(*args, **kwargs)

    monkeypatch.setattr(olearn.runner, "run_loop", interrupted)
    with pytest.raises(KeyboardInterrupt):
        olearn.simulate(spec, out=out, quiet=True)
    assert not (out / "agents" / "int.pt").exists() and (out / "checkpoints" / "int.pt").exists()
    monkeypatch.setattr(olearn.runner, "run_loop", real)
    olearn.simulate(spec, out=out, resume=True, quiet=True)
    clean = olearn.simulate(spec, out=tmp_path / "clean", quiet=True)
    eye = torch.eye(4, dtype=torch.float64)
    for label in ("int", "bag"):
        assert torch.equal(olearn.load_agent(out, label).predict(eye),
                           olearn.load_agent(clean.out, label).predict(eye))


def test_unknown_label_or_no_saved_agents_is_one_line(tmp_path):
    run = olearn.simulate(AGG, out=tmp_path / "run", quiet=True)
    with pytest.raises(OlearnError, match="no saved agent 'ucb'; saved agents: bag, int") as e:
        olearn.load_agent(run.out, "ucb")
    assert "\n" not in str(e.value)
    with pytest.raises(OlearnError, match="does not exist") as e:
        olearn.load_agent(tmp_path / "nothing", "int")
    assert "\n" not in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(OlearnError, match="has no saved agents") as e:
        olearn.load_agent(tmp_path / "empty", "int")
    assert "\n" not in str(e.value)


class _Unpicklable:
    """A batched agent that cannot be pickled (it holds a lambda)."""

    vectorized = True

    def __init__(self, observation_space, action_space):
        self.fn = lambda x: x

    def reset(self, *, seeds, device):
        self.zeros = torch.zeros(len(seeds), dtype=torch.long)

    def act(self, obs):
        return self.zeros, {}

    def update(self, step):
        pass


def test_an_agent_holding_a_function_saves_and_loads(tmp_path):
    """Functions are not state: they come back from the agent's constructor."""
    olearn.register_agent("test/UnpicklableSaved-v0", _Unpicklable)
    spec = {**UCB, "agents": [{"label": "u", "id": "test/UnpicklableSaved-v0"}]}
    run = olearn.simulate(spec, quiet=True, out=tmp_path / "run")
    agent = olearn.load_agent(run.out, "u")
    assert agent.fn(3) == 3 and agent.zeros.shape == (2,)


def test_saved_files_load_with_weights_only(tmp_path):
    run = olearn.simulate(AGG, out=tmp_path / "run", quiet=True)
    record = torch.load(run.out / "agents" / "int.pt", weights_only=True)
    assert record["id"] == "olearn/Interpolating-v0" and record["replicates"] == 3


def test_force_overwrites_a_run_with_saved_agents(tmp_path):
    out = tmp_path / "run"
    olearn.simulate(UCB, out=out, quiet=True)
    olearn.simulate(UCB, out=out, quiet=True, force=True)
    assert (Path(out) / "agents" / "linucb.pt").is_file()


def test_no_save_agents_writes_none_and_a_warm_start_from_it_says_why(tmp_path):
    from click.testing import CliRunner

    from olearn.cli import main

    spec = olearn.RunSpec.from_dict(UCB)
    (tmp_path / "ucb.toml").write_text(spec.to_toml())
    res = CliRunner().invoke(main, ["simulate", str(tmp_path / "ucb.toml"), "--out", "run",
                                    "-q", "--no-plot", "--no-save-agents"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "run" / "trace").is_dir() and not (tmp_path / "run" / "agents").exists()
    with pytest.raises(OlearnError, match="unless run with --no-save-agents"):
        olearn.load_agent(tmp_path / "run", "linucb")
    saved = olearn.simulate(UCB, out=tmp_path / "saved", quiet=True)   # the default saves
    assert (saved.out / "agents" / "linucb.pt").is_file()
