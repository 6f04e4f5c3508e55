"""Policy optimization for episodic adversarial linear MDPs (Dai, Luo, Wei, Zimmert, ICML 2023):
log-barrier FTRL per state, magnitude-reduced exponential weights, the exponential-weights
baseline, a simulator-free variant and uniform play. Shared pieces live in ``common.py``."""
