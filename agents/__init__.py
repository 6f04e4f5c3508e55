"""Built-in agents, one folder per family (``bandits/``, ``oco/``; shared pieces in ``common/``).

Importing this package only registers ids (``import olearn`` does it); agent modules load
when an agent is made.
"""

from __future__ import annotations

from olearn.registry import agent_registry, register_agent

_AGENTS = {
    # id: (module:Class, one-line description)
    "olearn/Uniform-v0": (
        "bandits.baselines:Uniform",
        "uniform random arm every round",
    ),
    "olearn/EpsilonGreedy-v0": (
        "bandits.baselines:EpsilonGreedy",
        "ε-greedy on a ridge regression model",
    ),
    "olearn/LinUCB-v0": (
        "bandits.linear:LinUCB",
        "LinUCB, disjoint or shared ridge models",
    ),
    "olearn/LinTS-v0": (
        "bandits.linear:LinTS",
        "linear Thompson sampling",
    ),
    "olearn/OGD-v0": (
        "oco.ogd:OGD",
        "projected online gradient descent (1/√t, 1/(λt) or adaptive steps)",
    ),
    "olearn/OptimisticOMD-v0": (
        "oco.omd:OptimisticOMD",
        "optimistic OMD for the SEA model (convex, strongly convex, exp-concave)",
    ),
    "olearn/OptimisticFTRL-v0": (
        "oco.ftrl:OptimisticFTRL",
        "adaptive optimistic FTRL (Sachs et al. 2022)",
    ),
    "olearn/OptimisticOMDEnsemble-v0": (
        "oco.omd_ensemble:OptimisticOMDEnsemble",
        "step-size grid of optimistic OMD + optimistic Hedge (dynamic regret)",
    ),
    "olearn/SquareCB-v0": (
        "bandits.squarecb:SquareCB",
        "SquareCB (inverse-gap weighting) on a ridge oracle",
    ),
    "olearn/FastCB-v0": (
        "bandits.squarecb:FastCB",
        "FastCB (first-order inverse-gap weighting) on a ridge oracle",
    ),
    "olearn/NeuSquareCB-v0": (
        "bandits.neural_cb:NeuSquareCB",
        "SquareCB on a perturbed-ensemble neural oracle",
    ),
    "olearn/NeuFastCB-v0": (
        "bandits.neural_cb:NeuFastCB",
        "FastCB on a perturbed sigmoid-ensemble KL neural oracle",
    ),
    "olearn/NeuralUCB-v0": (
        "bandits.neural_ucb:NeuralUCB",
        "NeuralUCB, diagonal or full gradient covariance",
    ),
    "olearn/NeuralTS-v0": (
        "bandits.neural_ucb:NeuralTS",
        "NeuralTS, diagonal or full gradient covariance",
    ),
    "olearn/UniformPolicy-v0": (
        "mdp.uniform_policy:UniformPolicy",
        "uniform policy in an episodic MDP",
    ),
    "olearn/LogBarrierPO-v0": (
        "mdp.log_barrier_po:LogBarrierPO",
        "log-barrier policy optimization with a simulator (Dai et al. 2023, Alg. 1 reconstruction)",
    ),
    "olearn/ExpWeightsPO-v0": (
        "mdp.exp_weights_po:ExpWeightsPO",
        "exponential-weights policy optimization, large γ (Luo et al. 2021 baseline)",
    ),
    "olearn/MagnitudeReducedPO-v0": (
        "mdp.magnitude_reduced_po:MagnitudeReducedPO",
        "experimental: exp. weights + magnitude-reduced estimator (Alg. 2 reconstruction)",
    ),
    "olearn/SimulatorFreePO-v0": (
        "mdp.simulator_free_po:SimulatorFreePO",
        "simulator-free log-barrier policy optimization for linear MDPs (epochs; direct or MGR)",
    ),
    "olearn/Interpolating-v0": (
        "aggregate.interpolating:Interpolating",
        "interpolating bag-/instance-level loss from aggregate responses (rho)",
    ),
    "olearn/BagLevel-v0": (
        "aggregate.interpolating:BagLevel",
        "bag-level loss from aggregate responses (rho = 0)",
    ),
    "olearn/InstanceLevel-v0": (
        "aggregate.interpolating:InstanceLevel",
        "instance-level loss from aggregate responses (rho = 1)",
    ),
}

for _id, (_ref, _doc) in _AGENTS.items():
    if _id not in agent_registry:
        register_agent(_id, f"olearn.agents.{_ref}", description=_doc)
