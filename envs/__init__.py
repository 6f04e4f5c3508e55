"""Built-in environments, registered with gymnasium under ``olearn/``.

Importing this package only registers ids; environment modules load when made.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

_ENVS = {
    # id: (module, single-view class, vector class)
    "olearn/ContextualBandit-v0": ("contextual", "ContextualBandit", "ContextualBanditVector"),
    "olearn/SEA-v0": ("sea", "SEA", "SEAVector"),
    "olearn/ClassificationBandit-v0": ("classification", "ClassificationBandit", "ClassificationBanditVector"),
}

for _id, (_mod, _single, _vector) in _ENVS.items():
    if _id not in registry:
        register(id=_id, entry_point=f"olearn.envs.{_mod}:{_single}",
                 vector_entry_point=f"olearn.envs.{_mod}:{_vector}")
