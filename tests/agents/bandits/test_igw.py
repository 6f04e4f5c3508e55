"""Inverse-gap weighting: distributions, limits and FastCB edge cases (papers §3.5 claims 1–2)."""

from __future__ import annotations

import pytest
import torch

from olearn.agents.bandits.igw import fastcb_probs, squarecb_probs

RULES = [squarecb_probs, fastcb_probs]


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("gamma", [0.0, 0.5, 10.0, 1e3])
def test_valid_distribution(rule, gamma):
    g = torch.Generator().manual_seed(0)
    losses = torch.rand(200, 7, generator=g, dtype=torch.float64)
    p = rule(losses, gamma)
    assert (p >= 0).all()
    assert torch.allclose(p.sum(1), torch.ones(200, dtype=torch.float64))
    best = losses.argmin(1)
    assert (p[torch.arange(200), best] >= 1 / 7 - 1e-12).all()


@pytest.mark.parametrize("rule", RULES)
def test_gamma_zero_is_uniform(rule):
    losses = torch.tensor([[0.2, 0.9, 0.4, 0.7]])
    assert torch.allclose(rule(losses, 0.0), torch.full((1, 4), 0.25))


@pytest.mark.parametrize("rule", RULES)
def test_large_gamma_is_greedy(rule):
    losses = torch.tensor([[0.6, 0.1, 0.4]], dtype=torch.float64)
    p = rule(losses, 1e9)
    assert p[0, 1] > 1 - 1e-7
    assert rule(losses, float("inf"))[0].tolist() == [0.0, 1.0, 0.0]


def test_gamma_per_replicate_and_ties_lowest_index():
    losses = torch.tensor([[0.3, 0.3, 0.9], [0.3, 0.3, 0.9]])
    p = squarecb_probs(losses, torch.tensor([0.0, 100.0]))
    assert torch.allclose(p[0], torch.full((3,), 1 / 3))
    # tie: the second tied arm keeps 1/K, the greedy (lowest index) takes the rest
    assert p[1, 1] == pytest.approx(1 / 3) and p[1, 0] > p[1, 1]


def test_squarecb_formula():
    p = squarecb_probs(torch.tensor([[0.0, 0.5, 1.0]], dtype=torch.float64), 4.0)
    assert p[0].tolist() == pytest.approx([1 - 1 / 5 - 1 / 7, 1 / 5, 1 / 7])


def test_fastcb_best_zero_is_greedy_and_all_zero_uniform():
    p = fastcb_probs(torch.tensor([[0.0, 0.2, 0.9]]), 1.0)
    assert p[0].tolist() == [1.0, 0.0, 0.0]
    p = fastcb_probs(torch.tensor([[0.0, 0.0, 0.0]]), 50.0)
    assert torch.allclose(p, torch.full((1, 3), 1 / 3))


def test_fastcb_first_order_behaviour():
    """As the best predicted loss goes to 0 the non-greedy mass vanishes; SquareCB's does not."""
    masses = []
    for y_best in [0.5, 0.1, 0.01, 0.001]:
        losses = torch.tensor([[y_best, 0.6, 0.9]], dtype=torch.float64)
        masses.append(1 - float(fastcb_probs(losses, 10.0)[0, 0]))
    assert all(a > b for a, b in zip(masses, masses[1:], strict=False))
    assert masses[-1] < 1e-3
    assert 1 - float(squarecb_probs(torch.tensor([[0.001, 0.6, 0.9]]), 10.0)[0, 0]) > 0.1


def test_fastcb_clips_predictions():
    p = fastcb_probs(torch.tensor([[-0.5, 1.5, 0.5]]), 10.0)
    assert p[0].tolist() == [1.0, 0.0, 0.0]
