"""Built-in agents. Importing this package only registers ids; agent modules load when made."""

from __future__ import annotations

from olearn.registry import agent_registry, register_agent

_AGENTS = {
    # id: (module:Class, one-line description)
    "olearn/Uniform-v0": ("baselines:Uniform", "uniform random arm every round"),
    "olearn/EpsilonGreedy-v0": ("baselines:EpsilonGreedy", "ε-greedy on a ridge regression model"),
    "olearn/LinUCB-v0": ("linear:LinUCB", "LinUCB, disjoint or shared ridge models"),
    "olearn/LinTS-v0": ("linear:LinTS", "linear Thompson sampling"),
    "olearn/OGD-v0": ("ogd:OGD", "projected online gradient descent (1/√t, 1/(λt) or adaptive steps)"),
    "olearn/OptimisticOMD-v0": ("omd:OptimisticOMD", "optimistic OMD for the SEA model (convex, strongly convex, exp-concave)"),
    "olearn/OptimisticFTRL-v0": ("ftrl:OptimisticFTRL", "adaptive optimistic FTRL (Sachs et al. 2022)"),
    "olearn/OptimisticOMDEnsemble-v0": ("omd_ensemble:OptimisticOMDEnsemble", "step-size grid of optimistic OMD + optimistic Hedge (dynamic regret)"),
    "olearn/SquareCB-v0": ("squarecb:SquareCB", "SquareCB (inverse-gap weighting) on a ridge oracle"),
    "olearn/FastCB-v0": ("squarecb:FastCB", "FastCB (first-order inverse-gap weighting) on a ridge oracle"),
    "olearn/NeuSquareCB-v0": ("neural_cb:NeuSquareCB", "SquareCB on a perturbed-ensemble neural oracle"),
    "olearn/NeuFastCB-v0": ("neural_cb:NeuFastCB", "FastCB on a perturbed sigmoid-ensemble KL neural oracle"),
    "olearn/NeuralUCB-v0": ("neural_ucb:NeuralUCB", "NeuralUCB, diagonal or full gradient covariance"),
    "olearn/NeuralTS-v0": ("neural_ucb:NeuralTS", "NeuralTS, diagonal or full gradient covariance"),
}

for _id, (_ref, _doc) in _AGENTS.items():
    if _id not in agent_registry:
        register_agent(_id, f"olearn.agents.{_ref}", description=_doc)
