"""Episodic adversarial linear MDPs (one round = one episode), with exact DP regret and a
simulator of the dynamics for the agents that may use one."""
