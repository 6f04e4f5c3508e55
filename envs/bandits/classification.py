"""Classification data sets as K-armed contextual bandits."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from olearn.envs.bandits.datasets import load_dataset
from olearn.seeding import derive
from olearn.validation import check_choice
from olearn.vector import BatchedEnv, single_view


class ClassificationBanditVector(BatchedEnv):
    r"""A K-class data set as a K-armed bandit: pull the arm of the true class to earn 1.

    Description
    -----------
    Each replicate streams the rows of the data set in its own random order (a permutation
    drawn from its seed), one row per round; after the last row the stream starts a new epoch
    with a fresh permutation. Contexts are the L2-normalized feature rows (missing values −1).
    This is the classification-to-bandit pipeline of NeuralUCB/NeuralTS and of the neural
    SquareCB/FastCB paper (olearn papers §3.4).

    Action Space
    ------------
    ``Discrete(K)``, one arm per class.

    Observation Space
    -----------------
    ``encoding="shared"``: ``Box(-1, 1, (d,))``, the normalized row.
    ``encoding="disjoint"``: ``Box(-1, 1, (K, K·d))``, arm ``a`` sees the row in block ``a``.

    Rewards
    -------
    1 for the arm of the true class, 0 otherwise.

    Info
    ----
    ``feedback``: nothing beyond the reward. ``oracle``: ``regret`` = 1 − reward (the best arm
    always earns 1, so cumulative regret is the number of mistakes), ``best_arm`` (the label).

    Arguments
    ---------
    dataset
        ``"digits"``, ``"wine"``, ``"breast_cancer"``, ``"iris"`` (bundled with scikit-learn),
        ``"openml:<name>"`` (downloaded once and cached) or a ``.csv``/``.parquet`` path; see
        :func:`olearn.envs.bandits.datasets.load_dataset`.
    label
        Label column of a file data set.
    encoding
        ``"shared"`` or ``"disjoint"`` contexts, as above.
    max_rows
        Use only the first ``max_rows`` rows of the data set (``None``: all).
    cache_dir
        OpenML cache directory (default ``$OLEARN_DATA`` or ``~/.cache/olearn``).

    Version History
    ---------------
    v0: initial version.

    Examples
    --------
    >>> env = ClassificationBanditVector(num_envs=2, dataset="iris")
    >>> obs, _ = env.reset(seed=0)
    >>> obs.shape, env.single_action_space
    (torch.Size([2, 4]), Discrete(3))
    >>> obs, reward, term, trunc, info = env.step(torch.tensor([0, 1]))
    >>> (reward + info["oracle"]["regret"]).tolist()
    [1.0, 1.0]
    """

    oracle_keys = {"regret": "float64", "best_arm": "int64"}

    @classmethod
    def _unit_test_kwargs(cls) -> list[dict[str, Any]]:
        """Configurations the contract tests run: bundled data sets, both encodings, epochs."""
        return [
            {"dataset": "iris"},
            {"dataset": "wine", "encoding": "disjoint"},
            {"dataset": "digits", "max_rows": 12, "encoding": "disjoint"},   # 20 rounds: 2 epochs
        ]

    def __init__(self, num_envs: int = 1, *, dataset: str = "digits", label: str | None = None,
                 encoding: Literal["shared", "disjoint"] = "shared", max_rows: int | None = None,
                 cache_dir: str | None = None, device: str | torch.device = "cpu",
                 dtype: str | torch.dtype = "float32") -> None:
        super().__init__(num_envs, device=device, dtype=dtype)
        check_choice("encoding", encoding, ("shared", "disjoint"))
        if max_rows is not None and not (isinstance(max_rows, int) and max_rows >= 2):
            msg = f"max_rows must be None or an integer >= 2, got {max_rows!r}"
            raise ValueError(msg)
        self.dataset, self.label, self.encoding = dataset, label, encoding
        self.max_rows, self.cache_dir = max_rows, cache_dir
        x, y, classes = load_dataset(dataset, label=label, cache_dir=cache_dir)
        if max_rows is not None:
            x, y = x[:max_rows], y[:max_rows]
            if len(np.unique(y)) < 2:
                msg = f"the first max_rows={max_rows} rows of {dataset!r} hold only one class"
                raise ValueError(msg)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norms > 0, norms, 1.0)
        self.classes = classes
        self.rows, self.dim = x.shape
        self.arms = len(classes)
        self._x = torch.as_tensor(x, device=self.device, dtype=self.dtype)
        self._y = torch.as_tensor(y, device=self.device, dtype=torch.long)
        shape = (self.dim,) if encoding == "shared" else (self.arms, self.arms * self.dim)
        self.single_observation_space = spaces.Box(-1.0, 1.0, shape, dtype=np.float32)
        self.single_action_space = spaces.Discrete(self.arms)
        self._finish_spaces()

    def _permutations(self, epoch: int) -> Tensor:
        rows = []
        g = torch.Generator()
        for s in self.seeds:
            g.manual_seed(derive(s, "order", epoch))
            rows.append(torch.randperm(self.rows, generator=g))
        return torch.stack(rows).to(self.device)

    def _observe(self) -> Tensor:
        epoch, i = divmod(self._t, self.rows)
        if epoch != self._epoch:
            self._order, self._epoch = self._permutations(epoch), epoch
        idx = self._order[:, i]
        x, self._label = self._x[idx], self._y[idx]
        if self.encoding == "disjoint":
            eye = torch.eye(self.arms, device=self.device, dtype=self.dtype)
            x = (eye.view(1, self.arms, self.arms, 1) * x.view(-1, 1, 1, self.dim)).reshape(
                -1, self.arms, self.arms * self.dim)
        return x

    def _reset(self, seeds: list[int], options: dict[str, Any]) -> tuple[Tensor, dict]:
        self._t, self._epoch = 0, -1
        return self._observe(), {}

    def step(self, action: Any) -> tuple[Tensor, Tensor, Tensor, Tensor, dict]:
        a = self._as_action(action, torch.long).reshape(self.num_envs)
        reward = (a == self._label).to(self.dtype)
        info = {"feedback": {}, "oracle": {"regret": 1.0 - reward, "best_arm": self._label}}
        self._t += 1
        obs = self._observe()
        false = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        return obs, reward, false, false, info


ClassificationBandit = single_view(ClassificationBanditVector)
