"""Replay a small per-round computation as one CUDA graph.

A round of a batched agent is a few dozen tiny kernels; on a GPU their launch overhead, not
the arithmetic, sets the pace for a few hundred replicates. :class:`Replay` captures such a
function once and then runs it as one graph launch: the inputs are copied into static
buffers, the graph is replayed, and the output (if any) is returned as a fresh tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["CaptureError", "Replay"]


class CaptureError(RuntimeError):
    """Capturing the graph failed; the protected state is as it was before."""


class Replay:
    """Run ``fn(*inputs)`` on CUDA through a captured graph.

    Parameters
    ----------
    fn
        Uses tensors of one CUDA device only, never synchronises with the host, and returns a
        tensor or ``None``. State it changes must be changed in place (its storage is baked
        into the graph).
    protect
        The state tensors ``fn`` changes in place: the warm-up runs that capturing needs are
        undone on them, so capturing has no effect on the state.

    The graph is captured on the first call and again whenever the inputs' shapes or dtypes
    change. A ``Replay`` is not picklable; owners drop it when pickled and build it again.
    """

    def __init__(self, fn: Callable[..., Tensor | None], protect: Sequence[Tensor] = ()) -> None:
        self.fn = fn
        self.protect = list(protect)
        self._graph: torch.cuda.CUDAGraph | None = None
        self._key: list[tuple] = []
        self._static: list[Tensor] = []
        self._out: Tensor | None = None

    def __call__(self, *inputs: Tensor) -> Tensor | None:
        key = [(x.shape, x.dtype, x.device) for x in inputs]
        if self._graph is None or key != self._key:
            self._capture(inputs, key)
        for buf, x in zip(self._static, inputs, strict=True):
            buf.copy_(x)
        assert self._graph is not None
        self._graph.replay()
        return None if self._out is None else self._out.clone()

    def _capture(self, inputs: Sequence[Tensor], key: list[tuple]) -> None:
        self._static = [x.clone() for x in inputs]
        saved = [t.clone() for t in self.protect]
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):  # warm-up outside the graph, as capturing requires
                for _ in range(2):
                    self.fn(*self._static)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._out = self.fn(*self._static)
        except RuntimeError as e:
            self._graph = None
            raise CaptureError(f"cannot capture a CUDA graph: {e}") from e
        finally:
            for t, s in zip(self.protect, saved, strict=True):
                t.copy_(s)
        self._graph, self._key = graph, key

    def __getstate__(self) -> dict:
        msg = "a Replay holds a CUDA graph and cannot be pickled; rebuild it after unpickling"
        raise TypeError(msg)
