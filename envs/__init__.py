"""Built-in environments, one folder per family (``bandits/``, ``oco/``), registered with
gymnasium under ``olearn/``.

Importing this package only registers ids (``import olearn`` does it); environment modules
load when an environment is made.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

_ENVS = {
    # id: (module, single-view class, vector class)
    "olearn/ContextualBandit-v0": (
        "bandits.contextual",
        "ContextualBandit",
        "ContextualBanditVector",
    ),
    "olearn/SEA-v0": ("oco.sea", "SEA", "SEAVector"),
    "olearn/LinearMDP-v0": ("mdp.linear_mdp", "LinearMDP", "LinearMDPVector"),
    "olearn/ClassificationBandit-v0": (
        "bandits.classification",
        "ClassificationBandit",
        "ClassificationBanditVector",
    ),
    "olearn/AggregateResponses-v0": (
        "aggregate.responses",
        "AggregateResponses",
        "AggregateResponsesVector",
    ),
}

for _id, (_mod, _single, _vector) in _ENVS.items():
    if _id not in registry:
        register(id=_id, entry_point=f"olearn.envs.{_mod}:{_single}",
                 vector_entry_point=f"olearn.envs.{_mod}:{_vector}")
