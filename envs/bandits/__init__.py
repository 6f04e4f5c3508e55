"""Contextual-bandit environments: synthetic rewards and classification data sets as bandits."""
