"""Argument checks shared by the engine, the environments and the agents."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["check_choice"]


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> None:
    """``value`` must be one of ``allowed``; else a one-line ``ValueError`` naming them.

    >>> check_choice("noise", "cauchy", ("gaussian", "uniform"))
    Traceback (most recent call last):
        ...
    ValueError: noise must be 'gaussian' or 'uniform', got 'cauchy'
    """
    allowed = tuple(allowed)
    if value not in allowed:
        names = [repr(a) for a in allowed]
        options = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        msg = f"{name} must be {options}, got {value!r}"
        raise ValueError(msg)
