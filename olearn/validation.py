"""Argument checks shared by the engine, the environments and the agents."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["check_choice", "check_number", "check_positive", "check_positive_int"]


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


def check_number(name: str, value: Any, *, low: float = float("-inf"), strict: bool = False,
                 high: float = float("inf")) -> float:
    """Validate a real hyperparameter: a finite number in ``[low, high]`` (``(low, high]``
    if strict).

    >>> check_number("alpha", "big", low=0.0)
    Traceback (most recent call last):
    ...
    ValueError: alpha must be a finite number >= 0.0, got 'big'
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if strict else value >= low) and value <= high
    if not ok:
        bound = f"> {low}" if strict else f">= {low}"
        if high != float("inf"):
            bound = f"in {'(' if strict else '['}{low}, {high}]"
        msg = f"{name} must be a finite number {bound}, got {value!r}"
        raise ValueError(msg)
    return float(value)


def check_positive_int(name: str, value: Any) -> int:
    """``value`` must be an integer >= 1 (a Python or numpy integer, not a bool).

    >>> check_positive_int("switch_every", 0)
    Traceback (most recent call last):
    ...
    ValueError: switch_every must be a positive integer, got 0
    """
    import numpy as np

    if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1):
        msg = f"{name} must be a positive integer, got {value!r}"
        raise ValueError(msg)
    return int(value)


def check_positive(**values: float | None) -> None:
    """Each value (``None`` skipped) must be a positive finite number.

    >>> check_positive(G=1.0, D=None, lam=0)
    Traceback (most recent call last):
    ...
    ValueError: lam must be a positive finite number, got 0
    """
    for name, v in values.items():
        if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool)
                                  and math.isfinite(v) and v > 0):
            msg = f"{name} must be a positive finite number, got {v!r}"
            raise ValueError(msg)
