"""Seed tree: root seed -> per-replicate seeds -> per-stream, per-block generators.

Every random number olearn draws is a pure function of ``(root seed, replicate index,
stream name, draw index)``. Replicate ``r`` therefore sees the same numbers whether it runs
alone or inside a batch of 1000, and resuming a run needs no generator state, only the round.

Randomness is drawn in *blocks* of rounds per replicate (one generator call per replicate per
block) and served per round by indexing, so the per-round cost is a single tensor index.
Blocks are generated on the CPU at a fixed ``precision`` (float32 by default: four times
cheaper than float64 Gaussians) and then cast and moved: CPU and GPU runs, and float32 and
float64 runs, see the same stream.

Stream kinds (the run spec's ``rng``): ``"portable"`` streams are the blocks above, the same
numbers on every device; ``"fast"`` streams (:class:`PhiloxStream`) are a counter-based
generator, Philox4x32-10, evaluated where the numbers are used (tensor ops on a GPU, a compiled
kernel on a CPU): deterministic on each device, replicate ``r`` alone equal to replicate ``r``
of a batch, but not the portable kind's numbers. ``"auto"`` is ``"fast"`` on CUDA and
``"portable"`` elsewhere (:func:`resolve_kind`). Components build their per-round streams with
:func:`stream`, which picks the kind that is in force (:func:`stream_kind`) for their device;
one-off draws (:func:`draw`, :func:`generators`) are portable in every kind.

Examples
--------
>>> seeds = replicate_seeds(0, "env", range(3))
>>> seeds == replicate_seeds(0, "env", [0, 1, 2])
True
>>> noise = BlockStream(seeds, "noise", (2,), device=torch.device("cpu"))
>>> second = BlockStream(seeds[1:2], "noise", (2,), device=torch.device("cpu"))
>>> bool((noise(5)[1] == second(5)[0]).all())
True
"""

from __future__ import annotations

import contextlib
import math
import zlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from olearn.validation import check_choice

__all__ = ["RNG_KINDS", "BlockStream", "PhiloxStream", "derive", "derive_many", "generators",
           "replicate_seeds", "resolve_kind", "stream", "stream_kind"]

RNG_KINDS = ("auto", "portable", "fast")
"""Stream kinds of a run (the spec's ``rng``); see the module docstring."""

_KIND: ContextVar[str] = ContextVar("olearn_rng", default="auto")

_BLOCK_ELEMENTS = 2**14  # numbers per replicate per block (before the round-count cap)
_MAX_BLOCK_ROUNDS = 1024


def _key(name: str | int) -> int:
    return name if isinstance(name, int) else zlib.crc32(name.encode())


def derive(seed: int, *names: str | int) -> int:
    """Return a 64-bit seed derived from ``seed`` and a path of names, independent per path."""
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=tuple(_key(n) for n in names))
    return int(ss.generate_state(1, dtype=np.uint64)[0])


# numpy's SeedSequence (O'Neill's seed_seq hash): its constants, for the vectorized copy below
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _MASK = 0xCA01F9DD, 0x4973F715, 0xFFFFFFFF
_POOL = 4


def _words(n: int) -> list[int]:
    """``n`` as little-endian 32-bit words (at least one), as SeedSequence reads an int."""
    out = []
    while n:
        out.append(n & _MASK)
        n >>= 32
    return out or [0]


def derive_many(seeds: Sequence[int], *names: str | int) -> list[int]:
    """``[derive(s, *names) for s in seeds]``, the same numbers, computed for all seeds at once.

    A copy of numpy's ``SeedSequence(entropy=s, spawn_key=names).generate_state(1, uint64)``
    in vectorized uint32 arithmetic (tested bit for bit against numpy): a block of random
    numbers needs one seed per replicate, and one SeedSequence costs tens of µs.
    """
    seeds = [int(s) for s in seeds]
    if len(seeds) < 8 or any(s < 0 or s >> 64 for s in seeds):
        return [derive(s, *names) for s in seeds]
    arr = np.array(seeds, dtype=np.uint64)
    # entropy: the seed's words padded to the pool size (a spawn key is given), then the key's
    entropy = [(arr & np.uint64(_MASK)).astype(np.uint32),
               (arr >> np.uint64(32)).astype(np.uint32)]
    entropy += [np.zeros(len(seeds), np.uint32)] * (_POOL - 2)
    entropy += [np.full(len(seeds), w, np.uint32) for n in names for w in _words(_key(n))]
    return _seed_sequence(entropy)


def _seed_sequence(entropy: list[np.ndarray]) -> list[int]:
    """numpy's SeedSequence hash of assembled entropy words (``len(entropy) >= 4`` uint32
    arrays, one number per seed each) to ``generate_state(1, uint64)``, for every seed."""
    u32 = np.uint32
    const = [_INIT_A]

    def hashmix(v: np.ndarray) -> np.ndarray:
        v = v ^ u32(const[0])
        const[0] = (const[0] * _MULT_A) & _MASK
        v = np.multiply(v, u32(const[0]), dtype=u32)
        return np.bitwise_xor(v, np.right_shift(v, u32(16)))

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r = np.subtract(np.multiply(x, u32(_MIX_L), dtype=u32),
                        np.multiply(y, u32(_MIX_R), dtype=u32), dtype=u32)
        return np.bitwise_xor(r, np.right_shift(r, u32(16)))

    pool = [hashmix(entropy[i]) for i in range(_POOL)]
    for src in range(_POOL):
        for dst in range(_POOL):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for src in range(_POOL, len(entropy)):
        for dst in range(_POOL):
            pool[dst] = mix(pool[dst], hashmix(entropy[src]))
    words, h = [], _INIT_B
    for i in range(2):                               # generate_state(1, uint64): two words
        v = pool[i] ^ u32(h)
        h = (h * _MULT_B) & _MASK
        v = v * u32(h)
        words.append((v ^ (v >> u32(16))).astype(np.uint64))
    return [int(w) for w in words[0] | (words[1] << np.uint64(32))]


def replicate_seeds(root: int, stream: str, replicates: Sequence[int] | range) -> list[int]:
    """Seeds of the given replicate indices for one top-level stream (``"env"``, an agent label):
    ``derive(root, stream, r)`` for each ``r``, computed at once for many replicates."""
    reps = [int(r) for r in replicates]
    root = int(root)
    if len(reps) < 8 or root < 0 or any(r < 0 or r >> 32 for r in reps):
        return [derive(root, stream, r) for r in reps]
    n = len(reps)
    # entropy: the root's words padded to the pool size, the stream's key, the replicate
    run = _words(root)
    run += [0] * (_POOL - len(run))
    entropy = [np.full(n, w, np.uint32) for w in run]
    entropy += [np.full(n, w, np.uint32) for w in _words(_key(stream))]
    entropy.append(np.array(reps, dtype=np.uint32))
    return _seed_sequence(entropy)


def generators(seeds: Sequence[int], name: str) -> list[torch.Generator]:
    """One CPU ``torch.Generator`` per replicate, for one-off draws (initial weights, instances)."""
    out = []
    for s in derive_many(seeds, name):   # derive(s, name) for each seed, computed at once
        g = torch.Generator()
        g.manual_seed(s)
        out.append(g)
    return out


def draw(
    seeds: Sequence[int],
    name: str,
    shape: tuple[int, ...],
    *,
    kind: Literal["normal", "uniform"] = "normal",
    device: torch.device,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """One draw of ``shape`` per replicate, stacked to ``(R, *shape)``; for one-off quantities."""
    gens = generators(seeds, name)
    fn = torch.randn if kind == "normal" else torch.rand
    rows = [fn(shape, generator=g, dtype=torch.float64) for g in gens]
    return torch.stack(rows).to(device=device, dtype=dtype)


class BlockStream:
    """Per-replicate random numbers of a fixed per-round ``shape``, indexed by draw number.

    Parameters
    ----------
    seeds
        One seed per replicate (from :func:`replicate_seeds`).
    name
        Stream name; different names give independent streams.
    shape
        Shape of one draw for one replicate.
    kind
        ``"normal"`` (standard Gaussian) or ``"uniform"`` on [0, 1).
    device, dtype
        Where and how draws are served.
    block
        Rounds per block; by default a power of two set by ``shape`` alone. Part of the
        stream's definition: changing it changes the numbers.
    precision
        Precision the numbers are generated in, whatever ``dtype`` serves them; also part of
        the stream's definition.
    """

    def __init__(
        self,
        seeds: Sequence[int],
        name: str,
        shape: tuple[int, ...] = (),
        *,
        kind: Literal["normal", "uniform"] = "normal",
        device: torch.device,
        dtype: torch.dtype = torch.float64,
        block: int | None = None,
        precision: Literal["float32", "float64"] = "float32",
    ) -> None:
        check_choice("kind", kind, ("normal", "uniform"))
        check_choice("precision", precision, ("float32", "float64"))
        self.precision = precision
        self.seeds = [int(s) for s in seeds]
        self.name = name
        self.shape = tuple(shape)
        self.kind = kind
        self.device = device
        self.dtype = dtype
        per_round = max(1, math.prod(self.shape))
        rounds = max(1, min(_MAX_BLOCK_ROUNDS, _BLOCK_ELEMENTS // per_round))
        # a power of two, a function of the shape only (never of R), unless given
        self.block = block if block is not None else 1 << (rounds.bit_length() - 1)
        self._index = -1
        self._cache: Tensor | None = None

    def _fill(self, index: int) -> None:
        fn = torch.randn if self.kind == "normal" else torch.rand
        dtype = torch.float32 if self.precision == "float32" else torch.float64
        buf = torch.empty((len(self.seeds), self.block, *self.shape), dtype=dtype)
        g = torch.Generator()
        for r, s in enumerate(derive_many(self.seeds, self.name, index)):
            g.manual_seed(s)
            fn((self.block, *self.shape), generator=g, dtype=dtype, out=buf[r])
        # (R, block, ...) -> (block, R, ...): each round's draw is one index away
        self._cache = buf.to(device=self.device, dtype=self.dtype).transpose(0, 1)
        self._index = index

    def __call__(self, i: int) -> Tensor:
        """Draw number ``i`` (0-based) for every replicate: shape ``(R, *shape)``."""
        block, j = self.block_of(i)
        return block[j]

    def block_of(self, i: int) -> tuple[Tensor, int]:
        """The whole block holding draw ``i``, shape ``(block, R, *shape)``, and ``i``'s offset.

        Lets a caller transform a block once (normalize contexts, score every arm) instead of
        once per round.
        """
        b, j = divmod(int(i), self.block)
        if b != self._index:
            self._fill(b)
        assert self._cache is not None
        return self._cache, j

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_cache"], state["_index"] = None, -1  # stateless: refilled on demand
        return state


# ---------------------------------------------------------------------------- stream kinds
@contextlib.contextmanager
def stream_kind(kind: str) -> Iterator[None]:
    """Within the block, :func:`stream` makes streams of ``kind`` (one of :data:`RNG_KINDS`).

    The runner enters it with the spec's ``rng`` around the env's and agents' resets;
    components resolve the kind when they build their streams (at ``reset``) and keep it.
    """
    check_choice("rng", kind, RNG_KINDS)
    token = _KIND.set(kind)
    try:
        yield
    finally:
        _KIND.reset(token)


def resolve_kind(device: torch.device | str, kind: str | None = None) -> str:
    """``"portable"`` or ``"fast"``: ``kind`` (default: the one in force), ``"auto"`` resolved
    for ``device`` (fast on CUDA, where host-side generation would be the whole cost; portable
    elsewhere, so CPU traces stay those of earlier versions)."""
    kind = _KIND.get() if kind is None else kind
    check_choice("rng", kind, RNG_KINDS)
    if kind == "auto":
        return "fast" if torch.device(device).type == "cuda" else "portable"
    return kind


def stream(
    seeds: Sequence[int],
    name: str,
    shape: tuple[int, ...] = (),
    *,
    kind: Literal["normal", "uniform"] = "normal",
    device: torch.device,
    dtype: torch.dtype = torch.float64,
    rng: str | None = None,
) -> BlockStream | PhiloxStream:
    """A per-round stream of the kind in force (or ``rng``) for ``device``: a
    :class:`BlockStream` (portable) or a :class:`PhiloxStream` (fast), same interface."""
    if resolve_kind(device, rng) == "fast":
        return PhiloxStream(seeds, name, shape, kind=kind, device=device, dtype=dtype)
    return BlockStream(seeds, name, shape, kind=kind, device=device, dtype=dtype)


def philox_keys(seeds: Sequence[int], name: str, device: torch.device | str) -> Tensor:
    """One 64-bit Philox key per replicate for stream ``name`` (int64 bit patterns)."""
    keys = np.array(derive_many(seeds, name, "philox"), dtype=np.uint64).view(np.int64)
    return torch.from_numpy(keys).to(device)


_PHILOX_ELEMENTS = {"cpu": 2**18, "cuda": 2**24}   # numbers per block, all replicates


class PhiloxStream:
    """Per-replicate random numbers of a fixed per-round ``shape`` from Philox4x32-10.

    Number ``e`` of draw ``i`` of replicate ``r`` is a function of (the replicate's key for
    ``name``, ``i``, ``e``) only (see :mod:`olearn.philox`): no generator state, and the block
    size (rounds generated at once, set by the batch's size and the device) is not part of the
    stream's definition. Generated at ``precision`` float32 (24-bit uniforms, normals by
    Box–Muller in float32) and cast to ``dtype``.

    Parameters are those of :class:`BlockStream`.

    Examples
    --------
    >>> seeds = replicate_seeds(0, "env", range(4))
    >>> s = PhiloxStream(seeds, "noise", (3,), device=torch.device("cpu"))
    >>> alone = PhiloxStream(seeds[2:3], "noise", (3,), device=torch.device("cpu"))
    >>> s(7).shape, bool((s(7)[2] == alone(7)[0]).all())
    (torch.Size([4, 3]), True)
    """

    def __init__(
        self,
        seeds: Sequence[int],
        name: str,
        shape: tuple[int, ...] = (),
        *,
        kind: Literal["normal", "uniform"] = "normal",
        device: torch.device,
        dtype: torch.dtype = torch.float64,
        block: int | None = None,
        precision: Literal["float32", "float64"] = "float32",
    ) -> None:
        check_choice("kind", kind, ("normal", "uniform"))
        check_choice("precision", precision, ("float32", "float64"))
        self.seeds = [int(s) for s in seeds]
        self.name, self.shape, self.kind = name, tuple(shape), kind
        self.device, self.dtype, self.precision = torch.device(device), dtype, precision
        self._keys = philox_keys(self.seeds, name, self.device)
        self._n = max(1, math.prod(self.shape))
        if block is None:
            target = _PHILOX_ELEMENTS.get(self.device.type, 2**20)
            rounds = max(1, min(_MAX_BLOCK_ROUNDS, target // (self._n * max(1, len(self.seeds)))))
            block = 1 << (rounds.bit_length() - 1)
        self.block = block
        self._index = -1
        self._cache: Tensor | None = None

    def _fill(self, index: int) -> None:
        from olearn import philox

        if self.device.type == "cpu" and self.precision == "float32" and philox._numba_ok():
            self._fill_cpu(index)
            return
        prec = torch.float32 if self.precision == "float32" else torch.float64
        draws = torch.arange(index * self.block, (index + 1) * self.block, device=self.device)
        fn = philox.normals if self.kind == "normal" else philox.uniforms
        out = fn(self._keys, draws, self._n, precision=prec)
        out = out.reshape(self.block, len(self.seeds), *self.shape)
        self._cache = out.to(device=self.device, dtype=self.dtype)
        self._index = index

    def key_words(self) -> tuple[np.ndarray, np.ndarray]:
        """The replicates' Philox key words, low and high (uint64 arrays, what the compiled
        CPU kernels of :mod:`olearn.philox_cpu` take), made once."""
        from olearn import philox

        kw = self.__dict__.get("_key_words")
        if kw is None:   # dropped when pickled, like the block
            k0, k1, _ = philox._kernel_args(self._keys, torch.zeros(0))
            kw = self._key_words = (k0, k1)
        return kw

    def _fill_cpu(self, index: int) -> None:
        """The CPU path of :func:`olearn.philox.normals` (``uniforms``) without its per-call
        conversions: the key words are made once, the block straight into a numpy array."""
        from olearn import philox_cpu

        kw = self.key_words()
        m = -(-self._n // 4)
        r = len(self.seeds)
        out = np.empty((self.block, r, 4 * m), dtype=np.float32)
        draws = np.arange(index * self.block, (index + 1) * self.block, dtype=np.int64)
        kernel = philox_cpu.normal_f32 if self.kind == "normal" else philox_cpu.uniform_rows_f32
        kernel(kw[0], kw[1], draws, m, out)
        block = torch.from_numpy(out)
        if 4 * m != self._n:
            block = block[..., :self._n]
        self._cache = block.reshape(self.block, r, *self.shape).to(dtype=self.dtype)
        self._index = index

    def __call__(self, i: int) -> Tensor:
        """Draw number ``i`` (0-based) for every replicate: shape ``(R, *shape)``."""
        b, j = divmod(i, self.block)
        if b != self._index:
            self._fill(b)
        assert self._cache is not None
        return self._cache[j]

    def block_of(self, i: int) -> tuple[Tensor, int]:
        """The block holding draw ``i``, shape ``(block, R, *shape)``, and ``i``'s offset."""
        b, j = divmod(int(i), self.block)
        if b != self._index:
            self._fill(b)
        assert self._cache is not None
        return self._cache, j

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_cache"], state["_index"] = None, -1  # stateless: refilled on demand
        state.pop("_key_words", None)
        return state
