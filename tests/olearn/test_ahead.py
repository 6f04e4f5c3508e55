"""Ahead: the next block is prepared on a low-priority thread; results never depend on it."""

import os
import pickle
import sys
import threading

import pytest
import torch

from olearn.ahead import Ahead
from olearn.envs.contextual import ContextualBanditVector


class _Recording:
    """fn(b) = 10·b, noting which thread (and at which priority) computed each block."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.calls: dict[int, tuple[int, int | None]] = {}

    def __call__(self, block: int) -> int:
        tid = threading.get_native_id()
        nice = os.getpriority(os.PRIO_PROCESS, tid) if sys.platform == "linux" else None
        self.calls[block] = (tid, nice)
        if block == self.fail_at:
            msg = f"block {block} failed"
            raise ValueError(msg)
        return 10 * block


def test_the_next_block_is_prepared_on_a_background_thread_at_the_lowest_priority():
    fn = _Recording()
    ahead = Ahead(fn)
    assert [ahead(0), ahead(1), ahead(2)] == [0, 10, 20]
    ahead.wait()
    me = threading.get_native_id()
    assert fn.calls[0][0] == me                       # nothing was ready: computed here
    assert all(fn.calls[b][0] != me for b in (1, 2, 3))   # the rest ahead, elsewhere
    if sys.platform == "linux":
        assert fn.calls[3][1] == 19
    ahead.close()


def test_a_block_out_of_order_is_computed_now_after_the_pending_one():
    fn = _Recording()
    ahead = Ahead(fn)
    ahead(5)
    assert ahead(2) == 20 and fn.calls[2][0] == threading.get_native_id()
    assert 6 in fn.calls                              # the pending job ran to its end
    ahead.close()


def test_an_error_in_the_background_surfaces_when_its_block_is_used():
    ahead = Ahead(_Recording(fail_at=1))
    assert ahead(0) == 0
    with pytest.raises(ValueError, match="block 1 failed"):
        ahead(1)
    ahead = Ahead(_Recording(fail_at=1))
    ahead(0)
    assert ahead(5) == 50       # the failed block was never asked for
    ahead.close()


def test_a_forked_child_does_not_wait_for_the_parents_thread(monkeypatch):
    fn = _Recording()
    ahead = Ahead(fn)
    ahead(0)
    ahead.wait()
    monkeypatch.setattr("olearn.ahead.os.getpid", lambda: -1)    # as if in a forked child
    assert ahead(1) == 10 and fn.calls[1][0] == threading.get_native_id()
    ahead.close()


def test_pickling_drops_the_thread_and_the_copy_goes_on():
    ahead = Ahead(_Recording())
    ahead(0)
    copy = pickle.loads(pickle.dumps(ahead))
    assert copy._pool is None and copy._next is None
    assert [copy(1), copy(2)] == [10, 20]
    copy.close()
    ahead.close()


def test_the_contextual_env_gives_the_same_rounds_with_and_without_it():
    envs = []
    for ahead in (True, False):
        env = ContextualBanditVector(num_envs=3, arms=4, dim=5)
        env.reset(seed=7)
        if not ahead:
            env._ahead.close()
            env._ahead = None
        envs.append(env)
    block = envs[0]._contexts.block
    g = torch.Generator().manual_seed(0)
    for t in range(2 * block + 3):      # across two block boundaries
        action = torch.randint(0, 4, (3,), generator=g)
        steps = [env.step(action) for env in envs]
        if t % 97 == 0 or t % block in (0, block - 1):
            (o1, r1, _, _, i1), (o2, r2, _, _, i2) = steps
            assert torch.equal(o1, o2) and torch.equal(r1, r2)
            assert all(torch.equal(i1["oracle"][k], i2["oracle"][k]) for k in i1["oracle"])
