"""The layered MDP's exact pieces: dynamic programming, trajectory sampling, the simulator.

Shapes: ``H`` layers, ``S`` states per layer, ``A`` actions. Transitions ``P`` are
``(H − 1, S, A, S)`` (layer ``h`` to layer ``h + 1``); loss tables are ``(H, S, A)``; policies
``(R, H, S, A)``. ``P`` and the loss tables may also carry a leading replicate dimension,
``(R, H − 1, S, A, S)`` and ``(R, H, S, A)`` (one instance per replicate): every function then
works replicate by replicate (a leading 1 broadcasts). The start state is state 0 of layer 0,
or (``start="random"``) uniform over layer 0, drawn afresh each episode; values are then
averaged over it. All float64.

Examples
--------
>>> P = torch.full((1, 2, 2, 2), 0.5, dtype=torch.float64)
>>> loss = torch.tensor([[[0.0, 1.0], [0.0, 1.0]], [[1.0, 0.0], [0.5, 0.5]]], dtype=torch.float64)
>>> uniform = torch.full((1, 2, 2, 2), 0.5, dtype=torch.float64)
>>> policy_value(P, loss, uniform).tolist(), float(best_value(P, loss))
([1.0], 0.25)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["LinearMDPSimulator", "best_value", "policy_value", "sample_trajectories"]


def policy_value(P: Tensor, loss: Tensor, policy: Tensor, start: str = "fixed") -> Tensor:  # noqa: N803
    """``V^π(s_1)`` of every replicate's policy under one loss table, shape ``(R,)``.

    Backward DP: ``Q_h = ℓ_h + P_h V_{h+1}``, ``V_h(s) = Σ_a π_h(a|s) Q_h(s, a)``. With a
    leading replicate dimension on ``P`` or ``loss``, replicate ``r`` uses its own.
    """
    if P.dim() == 5 or loss.dim() == 4:
        return _policy_value_batched(P, loss, policy, start)
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


def _policy_value_batched(P: Tensor, loss: Tensor, policy: Tensor, start: str) -> Tensor:  # noqa: N803
    p = P if P.dim() == 5 else P.unsqueeze(0)                       # (B, H-1, S, A, S')
    ell = loss if loss.dim() == 4 else loss.unsqueeze(0)            # (B', H, S, A)
    horizon = ell.shape[1]
    v = None
    for h in range(horizon - 1, -1, -1):
        q = ell[:, h] if v is None else ell[:, h] + (p[:, h] * v[:, None, None]).sum(-1)
        v = (policy[:, h] * q).sum(-1)                                # (R, S)
    assert v is not None
    return v[:, 0] if start == "fixed" else v.mean(-1)


def best_value(P: Tensor, loss: Tensor, start: str = "fixed") -> Tensor:  # noqa: N803
    """``min_π V^π(s_1)`` under one loss table (a scalar tensor), by backward DP with a min.

    Applied to the running sum ``Σ_{τ≤k} ℓ_τ`` it gives ``min_π Σ_{τ≤k} V^π_τ(s_1)``: the
    dynamics are fixed, so values add over episodes. With a leading replicate dimension on
    ``P`` or ``loss`` the result is one value per replicate, shape ``(R,)``.
    """
    if P.dim() == 5 or loss.dim() == 4:
        p = P if P.dim() == 5 else P.unsqueeze(0)
        ell = loss if loss.dim() == 4 else loss.unsqueeze(0)
        vb = None
        for h in range(ell.shape[1] - 1, -1, -1):
            # Σ_s' P(s'|s, a) V(s') as a broadcast product (faster than R tiny matmuls)
            q = ell[:, h] if vb is None else ell[:, h] + (p[:, h] * vb[:, None, None]).sum(-1)
            vb = q.amin(-1)                                           # (R, S)
        assert vb is not None
        return vb[:, 0] if start == "fixed" else vb.mean(-1)
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
    ``P.cumsum(-1)``, precomputed. ``P`` of shape ``(R, H − 1, S, A, S)``: replicate ``r``
    moves by its own dynamics.
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
        if h + 1 < horizon and p_cdf.dim() == 5:     # one transition kernel per replicate
            rows = p_cdf[:, h].flatten(1, 2).gather(
                1, (s * n_actions + a).unsqueeze(-1).expand(r, n, p_cdf.shape[-1]))
            s = _pick(rows.contiguous(), noise[:, :, h, 1])
        elif h + 1 < horizon:
            s = _pick(p_cdf[h].flatten(0, 1)[s * n_actions + a].contiguous(), noise[:, :, h, 1])
    return torch.stack(states, -1), torch.stack(actions, -1)


class LinearMDPSimulator:
    """The true dynamics of a :class:`~olearn.envs.mdp.linear_mdp.LinearMDPVector` as a simulator.

    ``rollouts(policy, noise)`` returns ``{"states", "actions"}`` of shape ``(R, n, H)`` (never
    losses); ``noise`` of ``noise_shape(n)`` per replicate comes from the caller's streams
    (see :mod:`olearn.simulator`). ``P`` is a transition tensor, shared ``(H − 1, S, A, S)`` or
    per replicate ``(R, H − 1, S, A, S)``, or a zero-argument callable returning one: an env
    whose instance is drawn at ``reset`` (one per replicate) lends a simulator that reads its
    current dynamics at every call, so each replicate simulates from its own.

    Examples
    --------
    >>> sim = LinearMDPSimulator(torch.full((1, 2, 2, 2), 0.5, dtype=torch.float64))
    >>> out = sim.rollouts(torch.full((3, 2, 2, 2), 0.5, dtype=torch.float64),
    ...                    torch.rand(3, *sim.noise_shape(5)))
    >>> out["states"].shape, sorted(out)
    (torch.Size([3, 5, 2]), ['actions', 'states'])
    """

    def __init__(self, P: Tensor | Callable[[], Tensor], start: str = "fixed",  # noqa: N803
                 horizon: int | None = None) -> None:
        self.start = start
        if callable(P):
            if horizon is None:
                msg = "LinearMDPSimulator with a callable P needs the horizon"
                raise ValueError(msg)
            self._source: Callable[[], Tensor] | None = P
            self._P: Tensor | None = None
            self._cdf: Tensor | None = None
        else:
            self._source, self._P, self._cdf = None, P, P.cumsum(-1)
        self.horizon = P.shape[0] + 1 if horizon is None else horizon  # type: ignore[union-attr]

    def noise_shape(self, n: int) -> tuple[int, ...]:
        """Uniform noise per replicate for ``n`` trajectories: ``(n, H, 2)``."""
        return (n, self.horizon, 2)

    def _dynamics(self, device: torch.device) -> tuple[Tensor, Tensor]:
        if self._source is not None:
            P = self._source()  # noqa: N806
            if P is not self._P:              # a new instance (the env was reset): new cdf
                self._P, self._cdf = P, P.cumsum(-1)
        assert self._P is not None and self._cdf is not None
        if self._P.device != device:
            self._P, self._cdf = self._P.to(device), self._cdf.to(device)
        return self._P, self._cdf

    def rollouts(self, policy: Tensor, noise: Tensor) -> dict[str, Tensor]:
        """``n`` trajectories of each replicate's policy (states and actions only)."""
        P, cdf = self._dynamics(policy.device)  # noqa: N806
        if P.dim() == 5 and P.shape[0] != policy.shape[0]:
            msg = (f"the simulator holds {P.shape[0]} replicate instances but got policies for "
                   f"{policy.shape[0]} replicates")
            raise ValueError(msg)
        states, actions = sample_trajectories(P, policy.to(P.dtype), noise.to(P.dtype),
                                              self.start, cdf)
        return {"states": states, "actions": actions}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if self._source is not None:          # re-read from the env after unpickling
            state["_P"] = state["_cdf"] = None
        return state
