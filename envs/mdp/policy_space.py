"""The action space of an episodic MDP round: a policy table, one distribution per state."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

__all__ = ["BatchedPolicySpace", "PolicySpace"]

TOL = 1e-6


def _inside(x: np.ndarray) -> bool:
    return bool(np.isfinite(x).all() and (x >= -TOL).all()
                and (np.abs(x.sum(axis=-1) - 1.0) <= TOL).all())


class PolicySpace(spaces.Box):
    """Policies of a layered MDP: ``(H, S, A)`` tables whose rows are distributions over actions.

    A float64 ``Box`` on ``[0, 1]^(H, S, A)`` whose ``contains`` is the true set (every row
    ``≥ −1e-6`` and summing to 1 within 1e-6) and whose ``sample`` draws every row uniformly
    from the simplex (Dirichlet(1)).

    Examples
    --------
    >>> space = PolicySpace(2, 3, 4, seed=0)
    >>> pi = space.sample()
    >>> pi.shape, space.contains(pi), space.contains(np.full((2, 3, 4), 0.5))
    ((2, 3, 4), True, False)
    """

    def __init__(self, horizon: int, states: int, actions: int, seed: Any = None) -> None:
        super().__init__(0.0, 1.0, (horizon, states, actions), dtype=np.float64, seed=seed)

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        """A policy with every row uniform on the simplex."""
        h, s, a = self.shape
        return self.np_random.dirichlet(np.ones(a), size=(h, s))

    def contains(self, x: Any) -> bool:
        """Shape, dtype and every row a distribution (tolerance 1e-6)."""
        x = np.asarray(x)
        return x.shape == self.shape and np.can_cast(x.dtype, self.dtype) and _inside(x)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PolicySpace) and other.shape == self.shape

    def __repr__(self) -> str:
        return "PolicySpace(H={}, states={}, actions={})".format(*self.shape)


class BatchedPolicySpace(spaces.Box):
    """``n`` policies of a :class:`PolicySpace` (what ``batch_space`` makes of one).

    Examples
    --------
    >>> b = batch_space(PolicySpace(2, 3, 4), 5)
    >>> _ = b.seed(0)
    >>> b.contains(b.sample()), b.sample().shape
    (True, (5, 2, 3, 4))
    """

    def __init__(self, single: PolicySpace, n: int, seed: Any = None) -> None:
        super().__init__(0.0, 1.0, (n, *single.shape), dtype=np.float64, seed=seed)
        self.single, self.n = single, n

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        """One policy per replicate."""
        h, s, a = self.single.shape
        return self.np_random.dirichlet(np.ones(a), size=(self.n, h, s))

    def contains(self, x: Any) -> bool:
        """Shape ``(n, H, S, A)``, dtype and every row a distribution."""
        x = np.asarray(x)
        return x.shape == self.shape and np.can_cast(x.dtype, self.dtype) and _inside(x)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, BatchedPolicySpace) and other.n == self.n
                and other.single == self.single)

    def __repr__(self) -> str:
        return f"BatchedPolicySpace({self.single!r}, n={self.n})"


@batch_space.register(PolicySpace)
def _batch_policy_space(space: PolicySpace, n: int = 1) -> BatchedPolicySpace:
    return BatchedPolicySpace(space, n, seed=deepcopy(space.np_random))
