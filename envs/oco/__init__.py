"""Online convex optimization environments: the SEA model (stochastically extended adversary)."""
