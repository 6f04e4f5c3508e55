"""The seed tree: the vectorized seed derivation is numpy's SeedSequence, bit for bit."""

import random

import pytest

from olearn.seeding import BlockStream, derive, derive_many, replicate_seeds


@pytest.mark.parametrize("names", [("contexts", 3), ("noise", 0), ("x",), (),
                                   ("env", 17, "y", 2**40), (2**33,)])
def test_derive_many_is_derive_for_every_seed(names):
    rng = random.Random(hash(names) % 2**32)
    seeds = [0, 1, 2**32 - 1, 2**32, 2**64 - 1] + [rng.getrandbits(rng.choice([8, 32, 48, 64]))
                                                    for _ in range(60)]
    assert derive_many(seeds, *names) == [derive(s, *names) for s in seeds]


def test_derive_many_falls_back_for_few_or_huge_seeds():
    for seeds in ([5, 6], [2**64, 3, 4, 5, 6, 7, 8, 9, 10]):
        assert derive_many(seeds, "a", 1) == [derive(s, "a", 1) for s in seeds]


@pytest.mark.parametrize("root", [0, 7, 2**32, 2**64 - 1, 2**70 + 5, 2**130 + 3])
@pytest.mark.parametrize("stream", ["env", "agent:oomd", "a" * 40])
def test_replicate_seeds_are_derive_bit_for_bit(root, stream):
    reps = [*range(12), 999, 2**31, 2**32 - 1]
    assert replicate_seeds(root, stream, reps) == [derive(root, stream, r) for r in reps]
    assert replicate_seeds(root, stream, [2**32, 1] * 5) == [derive(root, stream, r)
                                                             for r in [2**32, 1] * 5]


def test_a_block_stream_serves_each_replicate_its_own_numbers_whatever_the_batch():
    import torch

    seeds = replicate_seeds(0, "env", range(40))
    cpu = torch.device("cpu")
    batch = BlockStream(seeds, "noise", (3,), device=cpu)
    for r in (0, 17, 39):
        alone = BlockStream(seeds[r:r + 1], "noise", (3,), device=cpu)
        for i in (0, 5, 3000):
            assert torch.equal(batch(i)[r], alone(i)[0])
