"""Contextual-bandit agents: linear (LinUCB, LinTS, SquareCB, FastCB, ε-greedy) and neural
(NeuSquareCB, NeuFastCB, NeuralUCB, NeuralTS), with their ridge and network models."""
