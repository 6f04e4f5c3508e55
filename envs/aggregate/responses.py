"""A stream of bags whose responses are released only as (optionally private) bag means."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from olearn.envs.aggregate.data import BUNDLED, load_table
from olearn.envs.aggregate.privacy import DP_CLIP, release
from olearn.linalg import (
    definite_factor,
    factor_add_instances,
    factors_compiled,
    min_norm_solve,
    one_thread,
    replicate_chunks,
    row_space_solve,
)
from olearn.seeding import BlockStream, draw
from olearn.validation import check_choice, check_number
from olearn.vector import BatchedEnv, single_view

__all__ = ["AggregateResponses", "AggregateResponsesVector"]


class AggregateResponsesVector(BatchedEnv):
    r"""Learning from aggregate responses: one round is one bag, the label is its mean.

    Description
    -----------
    Round ``t``: a bag of ``k = bag_size`` instances ``x_1..x_k`` arrives; the learner predicts
    every instance's response, then sees only the bag's *released* mean response ``ỹ``
    (Javanmard et al., ICLR 2024; papers §4). Data:

    * ``data="gaussian"``: ``y = xᵀθ* + ε``, ``x ~ N(0, I_dim)``, ``ε ~ N(0, noise²)``, fresh
      every round; ``θ*`` is a random direction per replicate with ``‖θ*‖² = snr·noise²``
      (``‖θ*‖² = snr`` when ``noise = 0``). papers §4.3's table has ``‖θ*‖² = 1``: use
      ``snr = 1/noise²``.
    * ``data="diabetes"`` (scikit-learn's bundled copy) or a CSV/Parquet path with
      ``target="<column>"`` (read with Polars; numeric columns only): features and response
      standardized. The rows (minus a fixed ``holdout`` fraction chosen by ``split_seed``, the
      same for every replicate; see :meth:`heldout`) are cut into ``⌊n/k⌋`` random
      non-overlapping bags of size ``k``, served one per round; each pass over the data draws a
      fresh random partition per replicate (the ``n mod k`` rows left over sit out that pass),
      or, with ``rebag=False``, serves the first pass's bags again (the paper's fixed bags:
      with fresh partitions, enough passes make the individual labels identifiable from the
      bag means).

    Label differential privacy (``dp_epsilon`` set; papers §4.4): labels clipped to
    ``[−clip, clip]`` and the mean released with Laplace noise of scale ``2·clip/(kε)``
    (``dp_clip="label"``), or the mean clipped and released with scale ``2·clip/ε``
    (``"aggregate"``). Guarantee: ε-label-DP for each pass over a data set (disjoint bags,
    parallel composition; features are public and bags are assigned independently of the
    labels); ``P`` passes over the same rows compose to ``Pε``. Gaussian data is fresh every
    round, so every label is released once.

    Regret: ``Σ_t loss_t − min_θ Σ_t (1/k) Σ_i (y_{t,i} − x_{t,i}ᵀθ)²``, the cumulative mean
    squared error of the per-instance predictions against the individual responses, minus that
    of the best fixed *linear* predictor (no intercept) in hindsight, exact every round: while
    ``Σxxᵀ`` is singular, from the running sums ``Σxxᵀ``, ``Σxy``, ``Σy²`` (a minimum-norm
    solve); once it is positive definite for every replicate (on the CPU), from the upper
    triangular factor ``F`` of the augmented Gram matrix of ``[x, y]``, whose last diagonal
    entry squared is the residual sum of squares: each bag is a rank-``k`` Householder update
    of ``F`` (``2k(d+1)²`` flops a replicate, no solve; :func:`olearn.linalg.factor_update`).
    For non-linear data the comparator is still the best linear predictor, not the Bayes
    predictor.

    Action Space
    ------------
    ``Box(−inf, inf, (k,), float64)``: the prediction of each instance of the bag.

    Observation Space
    -----------------
    ``Box(−inf, inf, (k, dim), float64)``: the bag's features.

    Rewards
    -------
    ``−(f̄ − ỹ)²``: the bag-level squared error of the mean prediction ``f̄`` against the
    released aggregate, the only error the learner can compute.

    Info
    ----
    ``feedback``: ``bag_mean`` ``ỹ`` (R,). ``oracle`` (never seen by agents): ``loss`` the mean
    squared error of the predictions against the individual responses; ``excess_loss``
    (Gaussian data only) the same against ``E[y|x] = xᵀθ*``: the bag is fresh when predicted, so
    its running mean is a progressive-validation estimate of the current model's excess risk;
    ``comparator_cum_loss`` the best fixed linear predictor's cumulative loss (see Regret).

    Arguments
    ---------
    data, target, dim, snr, noise, bag_size, dp_epsilon, clip, dp_clip, holdout, split_seed, rebag
        As above (``dim`` is read from the table for real data). ``num_envs`` is the number of
        replicates; ``device`` and ``dtype`` (float64 by default) where tensors live.

    Version History
    ---------------
    v0: initial version.

    Examples
    --------
    >>> env = AggregateResponsesVector(num_envs=2, dim=3, bag_size=4)
    >>> obs, _ = env.reset(seed=0)
    >>> obs.shape
    torch.Size([2, 4, 3])
    >>> obs, reward, term, trunc, info = env.step(torch.zeros(2, 4, dtype=torch.float64))
    >>> sorted(info["feedback"]), sorted(info["oracle"])
    (['bag_mean'], ['comparator_cum_loss', 'excess_loss', 'loss'])
    >>> bool((info["oracle"]["comparator_cum_loss"] <= info["oracle"]["loss"]).all())
    True
    """

    finite_observations = True   # made here from finite, validated numbers

    @property
    def oracle_keys(self) -> dict[str, str]:  # type: ignore[override]
        """The per-replicate ``info["oracle"]`` entries (trace columns), all float64."""
        keys = ["loss", "comparator_cum_loss"] + (["excess_loss"] if self._synthetic else [])
        return dict.fromkeys(keys, "float64")

    @classmethod
    def _unit_test_kwargs(cls) -> list[dict[str, Any]]:
        """Configurations the contract tests run: synthetic, real data, both DP clippings."""
        return [
            {},
            {"dim": 3, "bag_size": 1, "noise": 0.0},
            {"dim": 4, "bag_size": 3, "dp_epsilon": 1.0, "clip": 2.0},
            {"data": "diabetes", "bag_size": 8, "dp_epsilon": 0.5, "dp_clip": "aggregate",
             "holdout": 0.2},
        ]

    def __init__(self, num_envs: int = 1, *, data: str = "gaussian", target: str | None = None,
                 dim: int = 5, snr: float = 1.0, noise: float = 1.0, bag_size: int = 5,
                 dp_epsilon: float | None = None, clip: float = 3.0,
                 dp_clip: Literal["label", "aggregate"] = "label", holdout: float = 0.0,
                 split_seed: int = 0, rebag: bool = True, device: str | torch.device = "cpu",
                 dtype: str | torch.dtype = "float64") -> None:
        super().__init__(num_envs, device=device, dtype=dtype)
        if not isinstance(data, str):
            msg = f"data must be 'gaussian', 'diabetes' or a CSV/Parquet path, got {data!r}"
            raise ValueError(msg)
        if not (isinstance(bag_size, int) and not isinstance(bag_size, bool) and bag_size >= 1):
            msg = f"bag_size must be an integer >= 1, got {bag_size!r}"
            raise ValueError(msg)
        if dp_epsilon is not None:
            check_number("dp_epsilon", dp_epsilon, low=0.0, strict=True)
        check_number("clip", clip, low=0.0, strict=True)
        check_choice("dp_clip", dp_clip, DP_CLIP)
        check_number("holdout", holdout, low=0.0, high=0.99)
        check_number("snr", snr, low=0.0)
        check_number("noise", noise, low=0.0)
        if not isinstance(rebag, bool):
            msg = f"rebag must be true or false, got {rebag!r}"
            raise ValueError(msg)
        self.rebag = rebag
        self.data, self.target, self.snr, self.noise = data, target, float(snr), float(noise)
        self.bag_size, self.dp_epsilon = bag_size, dp_epsilon
        self.clip, self.dp_clip = clip, dp_clip
        self.holdout, self.split_seed = float(holdout), int(split_seed)
        self._synthetic = data == "gaussian"
        if self._synthetic:
            if not (isinstance(dim, int) and not isinstance(dim, bool) and dim >= 1):
                msg = f"dim must be a positive integer, got {dim!r}"
                raise ValueError(msg)
            if target is not None:
                msg = "target names a column of a data file; data='gaussian' has none"
                raise ValueError(msg)
            self.dim = dim
        else:
            if data in BUNDLED and target is not None:
                msg = f"data={data!r} is bundled with its own response; drop target"
                raise ValueError(msg)
            X, y = load_table(data, target=target)
            order = np.random.default_rng(self.split_seed).permutation(len(y))
            cut = int(round(self.holdout * len(y)))
            test, train = order[:cut], order[cut:]
            if bag_size > len(train):
                msg = (f"bag_size={bag_size} is larger than the {len(train)} rows available "
                       f"for bags (of {len(y)}, holdout={holdout})")
                raise ValueError(msg)
            self._table = (X[train], y[train])
            self._test = (X[test], y[test])
            self.dim = X.shape[1]
        k, d = self.bag_size, self.dim
        self.single_observation_space = spaces.Box(-np.inf, np.inf, (k, d), dtype=np.float64)
        self.single_action_space = spaces.Box(-np.inf, np.inf, (k,), dtype=np.float64)
        self._finish_spaces()

    # ------------------------------------------------------------------ data
    def heldout(self) -> tuple[Tensor, Tensor]:
        """The held-out rows ``(X, y)`` of a real data set (never served in bags)."""
        if self._synthetic:
            msg = "data='gaussian' has no held-out set: its excess_loss is exact"
            raise ValueError(msg)
        X, y = self._test
        return (torch.as_tensor(X, dtype=self.dtype, device=self.device),
                torch.as_tensor(y, dtype=self.dtype, device=self.device))

    @property
    def theta_star(self) -> Tensor:
        """``θ*`` (R, dim) of Gaussian data (for tests and studies; agents never see it)."""
        return self._theta

    def _reset(self, seeds: list[int], options: dict[str, Any]) -> tuple[Tensor, dict]:
        dev, k, d = self.device, self.bag_size, self.dim
        f64 = torch.float64
        if self._synthetic:
            theta = draw(seeds, "theta", (d,), device=dev)
            norm = math.sqrt(self.snr) * (self.noise if self.noise > 0 else 1.0)
            self._theta = norm * theta / theta.norm(dim=-1, keepdim=True)
            self._x = BlockStream(seeds, "x", (k, d), device=dev, dtype=f64)
            self._eps = BlockStream(seeds, "eps", (k,), device=dev, dtype=f64)
        else:
            X, y = self._table
            self._X = torch.as_tensor(X, dtype=f64, device=dev)
            self._Y = torch.as_tensor(y, dtype=f64, device=dev)
            self._bags_per_pass = len(y) // k
            self._order = BlockStream(seeds, "bags", (len(y),), kind="uniform", device=dev)
            self._pass, self._perm = -1, torch.empty(0)
        self._dp = (BlockStream(seeds, "dp", (), kind="uniform", device=dev, dtype=f64,
                                precision="float64")
                    if self.dp_epsilon is not None else None)
        r = self.num_envs
        self._A = torch.zeros(r, d, d, dtype=f64, device=dev)
        self._b = torch.zeros(r, d, dtype=f64, device=dev)
        self._syy = torch.zeros(r, dtype=f64, device=dev)
        self._chunks = replicate_chunks(r, d)
        self._factor: Tensor | None = None      # augmented factor of [x, y] once definite
        # the instances while at most d have come (Σxxᵀ singular): least squares in their span
        self._rows: Tensor | None = torch.zeros(r, d, d + 1, dtype=f64, device=dev)
        self._next_try = max(1, math.ceil(d / k))
        self._t = 0
        self._bag = self._draw_bag(1)
        return self._bag[0].to(self.dtype), {}

    def _draw_bag(self, t: int) -> tuple[Tensor, Tensor, Tensor | None]:
        """Features (R, k, d), responses (R, k) and E[y|x] (Gaussian) of round ``t``'s bag."""
        if self._synthetic:
            x = self._x(t - 1)
            mean = (x @ self._theta.unsqueeze(-1)).squeeze(-1)
            return x, mean + self.noise * self._eps(t - 1), mean
        p, j = divmod(t - 1, self._bags_per_pass)
        if p != self._pass:
            self._pass, self._perm = p, self._order(p if self.rebag else 0).argsort(dim=-1)
        idx = self._perm[:, j * self.bag_size:(j + 1) * self.bag_size]
        return self._X[idx], self._Y[idx], None

    # ------------------------------------------------------------------ step
    def step(self, action: Any) -> tuple[Tensor, Tensor, Tensor, Tensor, dict]:
        pred = self._as_action(action, torch.float64)
        k = self.bag_size
        if pred.shape != (self.num_envs, k):
            msg = (f"round {self._t + 1}: action of shape {tuple(pred.shape)}, expected "
                   f"{(self.num_envs, k)} (one prediction per instance of the bag)")
            raise ValueError(msg)
        if not bool(pred.isfinite().all()):
            msg = f"round {self._t + 1}: predictions must be finite (got NaN or inf)"
            raise ValueError(msg)
        self._t += 1
        x, y, mean = self._bag
        u = self._dp(self._t - 1) if self._dp is not None else None
        released = release(y, u, clip=self.clip, epsilon=self.dp_epsilon, mode=self.dp_clip)
        comparator = self._comparator(x, y)
        oracle = {"loss": ((pred - y) ** 2).mean(-1), "comparator_cum_loss": comparator}
        if mean is not None:
            oracle["excess_loss"] = ((pred - mean) ** 2).mean(-1)
        reward = -((pred.mean(-1) - released) ** 2)
        info = {"feedback": {"bag_mean": released.to(self.dtype)}, "oracle": oracle}
        self._bag = self._draw_bag(self._t + 1)
        false = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        return self._bag[0].to(self.dtype), reward.to(self.dtype), false, false, info


    def _comparator(self, x: Tensor, y: Tensor) -> Tensor:
        """The best fixed linear predictor's cumulative loss after adding the bag ``(x, y)``."""
        k, d = self.bag_size, self.dim
        self._b += (x.transpose(-1, -2) @ y.unsqueeze(-1)).squeeze(-1)
        self._syy += (y * y).sum(-1)
        if self._factor is not None:       # rank-k update of the augmented factor
            factor_add_instances(self._factor, x, y)
            return self._factor[:, d, d] ** 2 / k
        fast = self._row_space(x, y)
        best = torch.empty_like(self._b)
        with one_thread():
            for sl in self._chunks:          # update and solve while in cache
                self._A[sl].baddbmm_(x[sl].mT, x[sl])
                if fast is None:
                    best[sl] = min_norm_solve(self._A[sl], self._b[sl])
        if fast is not None:
            return fast
        comparator = ((self._syy - (self._b * best).sum(-1)) / k).clamp_min(0.0)
        if self._t >= self._next_try and factors_compiled(self.device):
            # definite from here on (Σxxᵀ only grows); retried at growing intervals while not
            # (collinear columns keep it singular for ever: ≤ 1/8 more factorizations)
            self._next_try = self._t + max(1, self._t // 8)
            with one_thread():
                factor = definite_factor(self._A, self._b)
            if factor is not None:
                rss = self._syy - (factor[:, :d, d] ** 2).sum(-1)
                factor[:, d, d] = rss.clamp_min(0.0).sqrt()
                self._factor, self._rows = factor, None
        return comparator

    def _row_space(self, x: Tensor, y: Tensor) -> Tensor | None:
        """The comparator while at most ``d`` instances have come, by the minimum-norm fit in
        their span (an ``n × n`` Cholesky, not a ``d × d`` eigendecomposition): its residual,
        0 up to rounding for independent rows; ``None`` past ``d`` rows or for dependent ones."""
        if self._rows is None:
            return None
        k, d, n = self.bag_size, self.dim, (self._t - 1) * self.bag_size
        if n + k > d:
            self._rows = None
            return None
        self._rows[:, n:n + k, :d] = x
        self._rows[:, n:n + k, d] = y
        rows = self._rows[:, :n + k]
        theta = row_space_solve(rows[..., :d], rows[..., d])
        if theta is None:
            return None
        resid = rows[..., d] - (rows[..., :d] @ theta.unsqueeze(-1)).squeeze(-1)
        return (resid * resid).sum(-1) / k


AggregateResponses = single_view(AggregateResponsesVector)
