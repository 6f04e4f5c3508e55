"""The layered MDP's exact pieces: dynamic programming, trajectory sampling, the simulator.

Shapes: ``H`` layers, ``S`` states per layer, ``A`` actions. Transitions ``P`` are
``(H − 1, S, A, S)`` (layer ``h`` to layer ``h + 1``); loss tables are ``(H, S, A)``; policies
``(R, H, S, A)``. The start state is state 0 of layer 0, or (``start="random"``) uniform over
layer 0, drawn afresh each episode; values are then averaged over it. All float64.

Examples
--------
>>> P = torch.full((1, 2, 2, 2), 0.5, dtype=torch.float64)
>>> loss = torch.tensor([[[0.0, 1.0], [0.0, 1.0]], [[1.0, 0.0], [0.5, 0.5]]], dtype=torch.float64)
>>> uniform = torch.full((1, 2, 2, 2), 0.5, dtype=torch.float64)
>>> policy_value(P, loss, uniform).tolist(), float(best_value(P, loss))
([1.0], 0.25)
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["LinearMDPSimulator", "best_value", "policy_value", "sample_trajectories"]


def policy_value(P: Tensor, loss: Tensor, policy: Tensor, start: str = "fixed") -> Tensor:  # noqa: N803
    """``V^π(s_1)`` of every replicate's policy under one loss table, shape ``(R,)``.

    Backward DP: ``Q_h = ℓ_h + P_h V_{h+1}``, ``V_h(s) = Σ_a π_h(a|s) Q_h(s, a)``.
    """
    horizon = loss.shape[0]
    v = None
    for h in range(horizon - 1, -1, -1):
        if v is None:
            v = (policy[:, h] * loss[h]).sum(-1)
        else:   # Q_h = ℓ_h + P_h V_{h+1}: one (R, S') x (S', S·A) product
            nxt = (v @ P[h].flatten(0, 1).T).view(policy.shape[0], *loss.shape[1:])
            v = (policy[:, h] * (loss[h] + nxt)).sum(-1)
    assert v is not None
    return v[:, 0] if start == "fixed" else v.mean(-1)


def best_value(P: Tensor, loss: Tensor, start: str = "fixed") -> Tensor:  # noqa: N803
    """``min_π V^π(s_1)`` under one loss table (a scalar tensor), by backward DP with a min.

    Applied to the running sum ``Σ_{τ≤k} ℓ_τ`` it gives ``min_π Σ_{τ≤k} V^π_τ(s_1)``: the
    dynamics are fixed, so values add over episodes.
    """
    v = None
    for h in range(loss.shape[0] - 1, -1, -1):
        q = loss[h] if v is None else loss[h] + P[h] @ v
        v = q.amin(-1)
    assert v is not None
    return v[0] if start == "fixed" else v.mean()


def _pick(cdf: Tensor, u: Tensor) -> Tensor:
    """Inverse-CDF draw: the first index whose cumulative probability exceeds ``u``."""
    idx = torch.searchsorted(cdf, u.unsqueeze(-1).contiguous(), right=True).squeeze(-1)
    return idx.clamp_max(cdf.shape[-1] - 1)


def sample_trajectories(P: Tensor, policy: Tensor, noise: Tensor,  # noqa: N803
                        start: str = "fixed", P_cdf: Tensor | None = None  # noqa: N803
                        ) -> tuple[Tensor, Tensor]:
    """Trajectories of ``policy`` (R, H, S, A) driven by uniforms ``noise`` (R, n, H, 2).

    Returns ``(states, actions)``, each ``(R, n, H)`` int64; ``noise[..., h, 0]`` draws the
    action at layer ``h``, ``noise[..., h, 1]`` the next state, and the last layer's unused
    ``noise[..., H − 1, 1]`` the start state when ``start="random"``. ``P_cdf`` (optional) is
    ``P.cumsum(-1)``, precomputed.
    """
    r, n, horizon, _ = noise.shape
    n_states, n_actions = policy.shape[2], policy.shape[3]
    p_cdf = P.cumsum(-1) if P_cdf is None else P_cdf
    pi_cdf = policy.cumsum(-1).flatten(1, 2)                       # (R, H·S, A)
    if start == "fixed":
        s = torch.zeros(r, n, dtype=torch.long, device=policy.device)
    else:
        s = (noise[:, :, -1, 1] * n_states).long().clamp_max(n_states - 1)
    states, actions = [], []
    for h in range(horizon):
        rows = pi_cdf.gather(1, (s + h * n_states).unsqueeze(-1).expand(r, n, n_actions))
        a = _pick(rows, noise[:, :, h, 0])
        states.append(s)
        actions.append(a)
        if h + 1 < horizon:
            s = _pick(p_cdf[h].flatten(0, 1)[s * n_actions + a].contiguous(), noise[:, :, h, 1])
    return torch.stack(states, -1), torch.stack(actions, -1)


class LinearMDPSimulator:
    """The true dynamics of a :class:`~olearn.envs.mdp.linear_mdp.LinearMDPVector` as a simulator.

    ``rollouts(policy, noise)`` returns ``{"states", "actions"}`` of shape ``(R, n, H)`` (never
    losses); ``noise`` of ``noise_shape(n)`` per replicate comes from the caller's streams
    (see :mod:`olearn.simulator`).

    Examples
    --------
    >>> sim = LinearMDPSimulator(torch.full((1, 2, 2, 2), 0.5, dtype=torch.float64))
    >>> out = sim.rollouts(torch.full((3, 2, 2, 2), 0.5, dtype=torch.float64),
    ...                    torch.rand(3, *sim.noise_shape(5)))
    >>> out["states"].shape, sorted(out)
    (torch.Size([3, 5, 2]), ['actions', 'states'])
    """

    def __init__(self, P: Tensor, start: str = "fixed", horizon: int | None = None) -> None:  # noqa: N803
        self._P, self.start = P, start
        self._cdf = P.cumsum(-1)
        self.horizon = P.shape[0] + 1 if horizon is None else horizon

    def noise_shape(self, n: int) -> tuple[int, ...]:
        """Uniform noise per replicate for ``n`` trajectories: ``(n, H, 2)``."""
        return (n, self.horizon, 2)

    def rollouts(self, policy: Tensor, noise: Tensor) -> dict[str, Tensor]:
        """``n`` trajectories of each replicate's policy (states and actions only)."""
        if self._P.device != policy.device:
            self._P, self._cdf = self._P.to(policy.device), self._cdf.to(policy.device)
        states, actions = sample_trajectories(self._P, policy.to(self._P.dtype),
                                              noise.to(self._P.dtype), self.start, self._cdf)
        return {"states": states, "actions": actions}
