"""Learners from aggregate responses: the interpolating bag-/instance-level estimator
(papers §4)."""
