"""Episodic adversarial linear MDP with bandit feedback, a simulator and exact DP regret."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from olearn.envs.mdp.dynamics import (
    LinearMDPSimulator,
    best_value,
    policy_value,
    sample_trajectories,
)
from olearn.envs.mdp.policy_space import PolicySpace
from olearn.seeding import BlockStream, derive
from olearn.validation import check_choice, check_positive_int
from olearn.vector import BatchedEnv, single_view

ADVERSARIES = ("switching", "random_walk", "stochastic", "anti_uniform")


class LinearMDPVector(BatchedEnv):
    r"""Episodic adversarial linear MDP (papers §2.2, §2.6): one round is one episode ``k``.

    Description
    -----------
    ``H`` layers of ``states`` states each, ``actions`` actions, start state 0 of layer 0
    (``start="fixed"``) or uniform over layer 0 afresh each episode (``start="random"``: with
    ``H = 1`` this is a linear contextual bandit with i.i.d. contexts, papers §2.1).
    Features ``φ(s, a) ∈ R^d``: ``features="simplex"`` draws them uniformly on the
    probability simplex ``Δ_d`` and the transitions are ``P_h(s'|s, a) = Σ_i φ_i(s, a)
    μ_{h,i}(s')`` with ``μ_{h,i}`` random distributions over the next layer (a true linear MDP);
    ``features="tabular"`` uses one-hot ``φ`` (``d = states · actions``) and random
    ``P_h(·|s, a)`` (a tabular MDP). Losses ``ℓ_k(s, a) = ⟨φ(s, a), θ_{k,h}⟩ ∈ [0, 1]`` with
    ``θ_{k,h} ∈ [0, 1]^d`` chosen by an oblivious ``adversary`` (fixed before the run):

    * ``switching``: two random vectors, alternating every ``switch_every`` episodes;
    * ``random_walk``: a random walk in ``[0, 1]^d`` (Gaussian steps of ``walk_step``,
      reflected at the faces);
    * ``stochastic``: i.i.d. ``θ_{k,h} ∈ {0, 1}^d`` with Bernoulli coordinates of a fixed
      random mean;
    * ``anti_uniform``: ``θ_h = 1 − e_{i_h}`` (loss ``1 − φ_{i_h}(s, a)``) for a fixed
      coordinate ``i_h`` per layer, so only the actions with large ``φ_{i_h}`` are good and
      uniform play has linear regret.

    ``instance="shared"`` (the default, as issue 14 asks): the instance (``φ``, ``μ``, the loss
    sequence) depends on ``instance_seed`` only, every replicate of a run faces the same MDP
    and losses, so replicates measure the learner's randomness (the trajectories are drawn
    from each replicate's own seed). ``instance="per_replicate"``: each replicate draws its own
    instance (``φ``, ``μ`` hence ``P``, ``θ`` and the adversary's loss sequence) at ``reset``
    from its own seed (and ``instance_seed``), so replicates also average over instances;
    replicate ``r`` alone equals replicate ``r`` of a batch. Its tensors carry a leading
    replicate dimension (``P`` ``(R, H − 1, S, A, S)``, ``φ`` ``(R, H, S, A, d)``, loss tables
    ``(R, H, S, A)``), and the DP oracle and the simulator run per replicate on the device.

    Regret: ``Σ_k V^{π_k}_k(s_1) − min_π Σ_k V^π_k(s_1)``. ``oracle["loss"]`` is the played
    policy's exact value ``V^{π_k}_k(s_1)`` (backward DP) and
    ``oracle["comparator_cum_loss"]`` one DP with a min on the running sum of loss tables.

    Action Space
    ------------
    :class:`~olearn.envs.mdp.policy_space.PolicySpace` ``(H, states, actions)``: the
    episode's policy table, float64, every row a distribution. A wrong shape, NaN, a negative
    entry or a row not summing to 1 within 1e-6 raises a ``ValueError`` naming the replicate,
    layer and state; nothing is renormalized.

    Observation Space
    -----------------
    ``Box(0, 1, (H, states, actions, d))``: the features ``φ``, the same values every round
    (a fresh tensor; with ``instance="per_replicate"`` each replicate's own); never ``P``,
    ``μ`` or the losses.

    Rewards
    -------
    ``−Σ_h ℓ_k(s_{k,h}, a_{k,h})``, the realized loss of the episode.

    Info
    ----
    ``feedback``: ``states``, ``actions`` (R, H) int64 and ``losses`` (R, H), the trajectory
    and the losses along it (bandit feedback). ``oracle``: ``loss``, ``comparator_cum_loss``.
    ``simulator()`` returns a :class:`~olearn.envs.mdp.dynamics.LinearMDPSimulator` of the
    true dynamics (see :mod:`olearn.simulator`); with ``instance="per_replicate"`` it reads
    this env's current per-replicate dynamics at every call, so it must be taken from the
    env that is reset and stepped (rollouts before that env's ``reset`` are refused).

    Arguments
    ---------
    H, states, actions, d, features, adversary, switch_every, walk_step, start, instance,
    instance_seed
        As above; ``d`` defaults to 4 (simplex) or ``states · actions`` (tabular).
        ``num_envs`` is the number of replicates; ``device``/``dtype`` where observations
        live (the dynamics and the oracle are float64).

    Version History
    ---------------
    v0: initial version. The ``instance`` argument was added without a version bump: its
    default (``"shared"``) keeps every seeded sequence of v0 bit for bit.

    Examples
    --------
    >>> env = LinearMDPVector(num_envs=2, H=2, states=3, actions=2)
    >>> obs, _ = env.reset(seed=0)
    >>> pi = torch.full((2, 2, 3, 2), 0.5, dtype=torch.float64)
    >>> obs, reward, term, trunc, info = env.step(pi)
    >>> obs.shape, info["feedback"]["states"].shape, sorted(info["oracle"])
    (torch.Size([2, 2, 3, 2, 4]), torch.Size([2, 2]), ['comparator_cum_loss', 'loss'])
    >>> bool((info["oracle"]["loss"] >= info["oracle"]["comparator_cum_loss"]).all())
    True
    >>> own = LinearMDPVector(num_envs=2, H=2, states=3, actions=2, instance="per_replicate")
    >>> obs, _ = own.reset(seed=0)
    >>> own.P.shape, bool((obs[0] != obs[1]).any())
    (torch.Size([2, 1, 3, 2, 3]), True)
    """

    finite_observations = True   # made here from finite, validated numbers

    oracle_keys = {"loss": "float64", "comparator_cum_loss": "float64"}  # noqa: RUF012

    @classmethod
    def _unit_test_kwargs(cls) -> list[dict[str, Any]]:
        """Configurations the contract tests run: every adversary, both feature kinds, H = 1."""
        return [
            {},
            {"H": 2, "states": 3, "actions": 2, "adversary": "random_walk"},
            {"H": 2, "states": 2, "actions": 3, "adversary": "stochastic", "d": 3},
            {"H": 3, "states": 2, "actions": 2, "features": "tabular", "adversary": "anti_uniform"},
            {"H": 1, "states": 1, "actions": 3, "switch_every": 2},
            {"H": 1, "states": 4, "actions": 3, "start": "random"},
            {"H": 2, "states": 3, "actions": 2, "instance": "per_replicate"},
            {"H": 2, "states": 2, "actions": 2, "adversary": "random_walk",
             "instance": "per_replicate", "start": "random"},
            {"H": 2, "states": 2, "actions": 2, "adversary": "stochastic", "features": "tabular",
             "instance": "per_replicate"},
        ]

    def __init__(self, num_envs: int = 1, *, H: int = 3, states: int = 5, actions: int = 4,  # noqa: N803
                 d: int | None = None, features: Literal["simplex", "tabular"] = "simplex",
                 adversary: Literal["switching", "random_walk", "stochastic",
                                    "anti_uniform"] = "switching",
                 switch_every: int = 500, walk_step: float = 0.05,
                 start: Literal["fixed", "random"] = "fixed",
                 instance: Literal["shared", "per_replicate"] = "shared", instance_seed: int = 0,
                 device: str | torch.device = "cpu",
                 dtype: str | torch.dtype = "float32") -> None:
        super().__init__(num_envs, device=device, dtype=dtype)
        for name, v in (("H", H), ("states", states), ("actions", actions),
                        ("switch_every", switch_every)):
            check_positive_int(name, v)
        check_choice("features", features, ("simplex", "tabular"))
        check_choice("adversary", adversary, ADVERSARIES)
        check_choice("start", start, ("fixed", "random"))
        check_choice("instance", instance, ("shared", "per_replicate"))
        if d is None:
            d = states * actions if features == "tabular" else 4
        check_positive_int("d", d)
        if features == "tabular" and d != states * actions:
            msg = (f"features='tabular' uses one-hot features with d = states * actions = "
                   f"{states * actions}, got d={d!r}; leave d unset or use features='simplex'")
            raise ValueError(msg)
        if not (isinstance(walk_step, (int, float)) and 0 <= walk_step <= 1):
            msg = f"walk_step must be a number in [0, 1], got {walk_step!r}"
            raise ValueError(msg)
        if not isinstance(instance_seed, (int, np.integer)) or isinstance(instance_seed, bool):
            msg = f"instance_seed must be an integer, got {instance_seed!r}"
            raise ValueError(msg)
        self.H, self.states, self.actions, self.d = int(H), int(states), int(actions), int(d)
        self.features, self.adversary = features, adversary
        self.switch_every, self.walk_step = int(switch_every), float(walk_step)
        self.start, self.instance, self.instance_seed = start, instance, int(instance_seed)
        self.per_replicate = instance == "per_replicate"
        self._loss_rng: np.random.Generator | None = None     # shared: the adversary's stream
        self._walk: np.ndarray = np.zeros(0)
        self._walk_t: Tensor = torch.zeros(0)                 # per replicate: the walks
        if not self.per_replicate:
            self._build_instance()
        self.single_observation_space = spaces.Box(0.0, 1.0, (self.H, self.states, self.actions,
                                                              self.d), dtype=np.float32)
        self.single_action_space = PolicySpace(self.H, self.states, self.actions)
        self._finish_spaces()

    # --------------------------------------------------------------- instance
    def _draw(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One instance: ``φ``, ``P`` and the adversary's fixed vectors (numpy, float64)."""
        h, s, a, d = self.H, self.states, self.actions, self.d
        if self.features == "tabular":
            phi = np.eye(d).reshape(s, a, d)[None].repeat(h, 0)
            mu = rng.dirichlet(np.ones(s), size=(max(h - 1, 0), d))
        else:
            phi = rng.dirichlet(np.ones(d), size=(h, s, a))
            mu = rng.dirichlet(np.ones(s), size=(max(h - 1, 0), d))     # (H-1, d, S)
        P = np.einsum("hsai,hit->hsat", phi[:-1], mu)  # noqa: N806
        anti = np.ones((h, d))
        out = {"phi": phi, "P": P / P.sum(-1, keepdims=True),
               "theta_pair": rng.uniform(size=(2, h, d)), "theta_mean": rng.uniform(size=(h, d))}
        target = rng.integers(d, size=h)
        anti[np.arange(h), target] = 0.0
        out["target"], out["anti"] = target, anti
        return out

    def _build_instance(self, seeds: list[int] | None = None) -> None:
        """The shared instance (from ``instance_seed``), or one per replicate seed."""
        if seeds is None:
            inst = self._draw(np.random.default_rng(derive(self.instance_seed, "linear_mdp")))
            self._instance_seeds: list[int] | None = None
        else:
            self._instance_seeds = [derive(sd, "linear_mdp_instance", str(self.instance_seed))
                                    for sd in seeds]
            draws = [self._draw(np.random.default_rng(i)) for i in self._instance_seeds]
            inst = {k: np.stack([x[k] for x in draws]) for k in draws[0]}
        def f64(x: np.ndarray) -> Tensor:
            return torch.as_tensor(x, dtype=torch.float64, device=self.device)
        self.phi, self.P = f64(inst["phi"]), f64(inst["P"])
        self._theta_pair, self._theta_mean = inst["theta_pair"], inst["theta_mean"]
        self._target, self._anti = inst["target"], inst["anti"]
        self._obs_single = self.phi.to(self.dtype)
        self._P_cdf = self.P.cumsum(-1)
        if seeds is None:
            first = self._theta_pair[0] if self.adversary == "switching" else self._anti
            self._tables = [self.loss_table(first), self.loss_table(self._theta_pair[1])]
        else:   # replicate axis first: (R, 2, H, d) -> two (R, H, d)
            pairs = f64(self._theta_pair)
            first_t = pairs[:, 0] if self.adversary == "switching" else f64(self._anti)
            self._tables = [self.loss_table(first_t), self.loss_table(pairs[:, 1])]

    def _current_P(self) -> Tensor:  # noqa: N802
        if not hasattr(self, "P"):
            msg = ("the simulator of a LinearMDP with instance='per_replicate' reads the "
                   "per-replicate dynamics drawn at reset: take it from the env that is reset "
                   "and stepped, after its reset (this env was never reset; olearn.simulate "
                   "attaches simulators from a separate env, so use instance='shared' with "
                   "simulator agents there)")
            raise RuntimeError(msg)
        return self.P

    def simulator(self) -> LinearMDPSimulator:
        """The true dynamics as a simulator (trajectories of any policy, never losses)."""
        if self.per_replicate:
            return LinearMDPSimulator(self._current_P, self.start, self.H)
        return LinearMDPSimulator(self.P, self.start, self.H)

    def theta(self, k: int) -> Any:
        """``θ_{k,h}`` of episode ``k`` (1-based); call in order (walks are stateful).

        ``(H, d)`` numpy for a shared instance, ``(R, H, d)`` float64 tensor per replicate.
        """
        if self.per_replicate:
            return self._theta_batched(k)
        if self.adversary == "switching":
            return self._theta_pair[((k - 1) // self.switch_every) % 2]
        if self.adversary == "anti_uniform":
            return self._anti
        assert self._loss_rng is not None, "reset first"
        if self.adversary == "stochastic":
            return (self._loss_rng.uniform(size=(self.H, self.d)) < self._theta_mean).astype(float)
        walk = self._walk + self.walk_step * self._loss_rng.standard_normal((self.H, self.d))
        walk = np.abs(walk)
        self._walk = 1.0 - np.abs(1.0 - walk)           # reflect at 0 and 1
        self._walk = np.clip(self._walk, 0.0, 1.0)
        return self._walk

    def _theta_batched(self, k: int) -> Tensor:
        def f64(x: np.ndarray) -> Tensor:
            return torch.as_tensor(x, dtype=torch.float64, device=self.device)
        if self.adversary == "switching":
            return f64(self._theta_pair[:, ((k - 1) // self.switch_every) % 2])
        if self.adversary == "anti_uniform":
            return f64(self._anti)
        draw = self._loss_stream(k - 1)                                  # (R, H, d)
        if self.adversary == "stochastic":
            return (draw < f64(self._theta_mean)).to(torch.float64)
        walk = (self._walk_t + self.walk_step * draw).abs()
        self._walk_t = (1.0 - (1.0 - walk).abs()).clamp(0.0, 1.0)      # reflect at 0 and 1
        return self._walk_t

    def loss_table(self, theta: Any) -> Tensor:
        """``ℓ(s, a) = ⟨φ(s, a), θ_h⟩``: (H, S, A) float64, or (R, H, S, A) per replicate."""
        th = torch.as_tensor(theta, dtype=torch.float64, device=self.device)
        if self.phi.dim() == 5:
            return torch.einsum("rhsai,rhi->rhsa", self.phi, th).clamp(0.0, 1.0)
        return torch.einsum("hsai,hi->hsa", self.phi, th).clamp(0.0, 1.0)

    # ------------------------------------------------------------------ reset
    def _reset(self, seeds: list[int], options: dict[str, Any]) -> tuple[Tensor, dict]:
        self._k = 0
        if self.per_replicate:
            self._build_instance(seeds)
            kind: Literal["normal", "uniform"] = (
                "uniform" if self.adversary == "stochastic" else "normal")
            assert self._instance_seeds is not None
            self._loss_stream = BlockStream(self._instance_seeds, "losses", (self.H, self.d),
                                            kind=kind, device=self.device,
                                            precision="float64")
            self._walk_t = torch.as_tensor(self._theta_mean, dtype=torch.float64,
                                           device=self.device)
            cum_shape: tuple[int, ...] = (self.num_envs, self.H, self.states, self.actions)
        else:
            self._loss_rng = np.random.default_rng(derive(self.instance_seed, "losses"))
            self._walk = self._theta_mean.copy()
            cum_shape = (self.H, self.states, self.actions)
        self._cum_table = torch.zeros(cum_shape, dtype=torch.float64, device=self.device)
        self._noise = BlockStream(seeds, "trajectory", (self.H, 2), kind="uniform",
                                  device=self.device)
        return self._features(), {}

    def _features(self) -> Tensor:
        # a fresh tensor every round: users (and gymnasium's checker) may keep observations
        if self.per_replicate:
            return self._obs_single.clone()
        return self._obs_single.expand(self.num_envs, *self._obs_single.shape).clone()

    # ------------------------------------------------------------------- step
    def _policy(self, action: Any) -> Tensor:
        pi = self._as_action(action, torch.float64)
        shape = (self.num_envs, self.H, self.states, self.actions)
        if pi.shape != shape:
            msg = (f"the policy has shape {tuple(pi.shape)}, expected (replicates, H, states, "
                   f"actions) = {shape}")
            raise ValueError(msg)
        # one pass: NaN and inf fail both comparisons (a NaN entry makes the row sum NaN)
        ok = (pi.amin(-1) >= -1e-6) & ((pi.sum(-1) - 1.0).abs() <= 1e-6)
        if not bool(ok.all()):
            r, h, s = (int(i) for i in (~ok).nonzero()[0])
            row = [round(float(x), 6) for x in pi[r, h, s]]
            msg = (f"the policy of replicate {r} at layer {h}, state {s} is not a distribution "
                   f"over actions ({row}: needs entries >= 0 summing to 1 within 1e-6, no NaN)")
            raise ValueError(msg)
        return pi

    def step(self, action: Any) -> tuple[Tensor, Tensor, Tensor, Tensor, dict]:
        pi = self._policy(action)
        self._k += 1
        if self.adversary in ("switching", "anti_uniform"):   # two (or one) fixed tables
            phase = ((self._k - 1) // self.switch_every) % 2 if self.adversary == "switching" else 0
            table = self._tables[phase]
        else:
            table = self.loss_table(self.theta(self._k))
        self._cum_table = self._cum_table + table
        noise = self._noise(self._k - 1).to(torch.float64).unsqueeze(1)     # (R, 1, H, 2)
        states, actions = sample_trajectories(self.P, pi, noise, self.start, self._P_cdf)
        states, actions = states[:, 0], actions[:, 0]
        layers = torch.arange(self.H, device=self.device)
        if self.per_replicate:
            reps = torch.arange(self.num_envs, device=self.device).unsqueeze(-1)
            losses = table[reps, layers, states, actions]                   # (R, H)
            best = best_value(self.P, self._cum_table, self.start)          # (R,)
        else:
            losses = table[layers, states, actions]                         # (R, H)
            best = best_value(self.P, self._cum_table, self.start).repeat(self.num_envs)
        oracle = {"loss": policy_value(self.P, table, pi, self.start),
                  "comparator_cum_loss": best}
        info = {"feedback": {"states": states, "actions": actions, "losses": losses.to(self.dtype)},
                "oracle": oracle}
        false = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        return self._features(), (-losses.sum(-1)).to(self.dtype), false, false, info


LinearMDP = single_view(LinearMDPVector)
