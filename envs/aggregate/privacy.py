"""Label differential privacy for bag means: clipping plus the Laplace mechanism (papers §4.4).

``dp_clip="label"``: each label is clipped to ``[−C, C]`` and the bag mean of the ``k`` clipped
labels is released with Laplace noise of scale ``b = 2C/(kε)``: changing one label moves that
mean by at most ``2C/k`` (its L1 sensitivity), so one release is ε-DP with respect to that
label. ``dp_clip="aggregate"``: the bag mean itself is clipped to ``[−C, C]``; one label can then
move it across the whole interval, sensitivity ``2C``, ``b = 2C/ε``. Bags are disjoint within a
pass, so by parallel composition every label of a pass is released under ε-label-DP (features
are public; the bag assignment is independent of the labels). A label that is released again
in a later pass composes sequentially: ``P`` passes give ``Pε``.

Examples
--------
>>> laplace_scale(clip=3.0, bag_size=5, epsilon=1.0, mode="label")
1.2
>>> laplace_scale(clip=3.0, bag_size=5, epsilon=1.0, mode="aggregate")
6.0
>>> u = torch.tensor([0.5, 0.75, 0.25], dtype=torch.float64)
>>> laplace_from_uniform(u, 1.0).tolist()          # inverse CDF: median 0, quartiles ±log 2
[0.0, 0.693147..., -0.693147...]
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["DP_CLIP", "laplace_from_uniform", "laplace_scale", "release"]

DP_CLIP = ("label", "aggregate")


def laplace_scale(*, clip: float, bag_size: int, epsilon: float, mode: str = "label") -> float:
    """The Laplace scale ``b`` that makes one released bag mean ε-label-DP."""
    return 2.0 * clip / (epsilon * (bag_size if mode == "label" else 1))


def laplace_from_uniform(u: Tensor, scale: float) -> Tensor:
    """Laplace(0, ``scale``) draws from uniforms on [0, 1) by the inverse CDF."""
    c = u - 0.5
    tail = torch.clamp(1.0 - 2.0 * c.abs(), min=torch.finfo(u.dtype).tiny)
    return -scale * torch.sign(c) * torch.log(tail)


def release(y: Tensor, u: Tensor | None, *, clip: float, epsilon: float | None,
            mode: str = "label") -> Tensor:
    """The released bag means ``(R,)`` of labels ``y`` ``(R, k)``; ``u`` ``(R,)`` uniforms.

    Without privacy (``epsilon`` ``None``) this is the plain bag mean, nothing clipped.
    """
    if epsilon is None:
        return y.mean(dim=-1)
    if mode == "label":
        mean = y.clamp(-clip, clip).mean(dim=-1)
    else:
        mean = y.mean(dim=-1).clamp(-clip, clip)
    assert u is not None
    b = laplace_scale(clip=clip, bag_size=y.shape[-1], epsilon=epsilon, mode=mode)
    return mean + laplace_from_uniform(u, b)


def laplace_variance(scale: float) -> float:
    """Variance ``2b²`` of Laplace(0, b)."""
    return 2.0 * scale * scale if math.isfinite(scale) else math.inf
