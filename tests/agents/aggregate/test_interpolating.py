"""The learner's interface: validation, held-out prediction, saving the final model."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import olearn.agents  # noqa: F401  (registers)
from olearn.agents.aggregate.interpolating import BagLevel, Interpolating
from olearn.errors import SpecError
from olearn.registry import make_agent
from olearn.types import Step

OBS = gym.spaces.Box(-np.inf, np.inf, (4, 3), dtype=np.float64)
ACT = gym.spaces.Box(-np.inf, np.inf, (4,), dtype=np.float64)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"rho": 1.5}, "rho must be a finite number in"),
    ({"model": "tree"}, "model must be 'linear' or 'mlp'"),
    ({"model": "mlp", "solver": "closed_form"}, "solver='closed_form' is for model='linear'"),
    ({"lr": 0.0}, "lr must be"),
    ({"steps_per_bag": 0}, "steps_per_bag must be an integer >= 1"),
    ({"hidden": ()}, "hidden must be a non-empty sequence"),
    ({"inverse": "lu"}, "inverse must be 'auto', 'woodbury' or 'refactor'"),
])
def test_bad_hyperparameters_are_one_line(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Interpolating(OBS, ACT, **kwargs)
    with pytest.raises(SpecError):
        make_agent("olearn/Interpolating-v0", OBS, ACT, **kwargs)


def test_needs_a_bag_observation_and_one_prediction_per_instance():
    with pytest.raises(ValueError, match=r"shape \(k, d\)"):
        Interpolating(gym.spaces.Box(-1, 1, (3,)), ACT)
    with pytest.raises(ValueError, match="predicts every instance"):
        Interpolating(OBS, gym.spaces.Box(-1, 1, (5,)))


@pytest.mark.parametrize("kwargs", [{}, {"model": "mlp", "hidden": (8,)}])
def test_predict_and_save_the_final_model(tmp_path, kwargs):
    agent = BagLevel(OBS, ACT, **kwargs)
    agent.reset(seeds=[1, 2], device=torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    for t in range(1, 6):
        x = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
        y = x.sum(-1).mean(-1)
        action, info = agent.act(x)
        assert action.shape == (2, 4) and info == {}
        agent.update(Step(t, x, action, info, -y, {"bag_mean": y}))
    held = torch.randn(7, 3, generator=g, dtype=torch.float64)
    pred = agent.predict(held)
    assert pred.shape == (2, 7) and pred.dtype == torch.float64
    agent.save(tmp_path / "model.pt")
    saved = torch.load(tmp_path / "model.pt", weights_only=False)
    assert "BagLevel(" in saved["repr"] and saved["state"]
    if not kwargs:      # 5 bags of 4 for d = 3: ρ = 0 is exact least squares on bag means
        assert torch.allclose(saved["state"]["theta"], torch.ones(2, 3, dtype=torch.float64))


def test_state_dict_is_the_whole_learner_state_and_round_trips():
    """``state_dict`` is BatchedAgent's (the runner saves it); ``model_state`` the model alone."""
    agent, other = Interpolating(OBS, ACT, rho=0.4), Interpolating(OBS, ACT, rho=0.4)
    for a in (agent, other):
        a.reset(seeds=[1, 2], device=torch.device("cpu"))
    g = torch.Generator().manual_seed(3)
    for t in range(1, 9):
        x = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
        y = x.sum(-1).mean(-1)
        action, info = agent.act(x)
        agent.update(Step(t, x, action, info, -y, {"bag_mean": y}))
    assert agent._factor is not None and "theta" in agent.model_state()
    other.load_state_dict(agent.state_dict())
    x = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    assert torch.equal(other.act(x)[0], agent.act(x)[0])
