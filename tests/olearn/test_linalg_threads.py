"""The replicate-parallel factor kernels give the same bits on one thread and on several."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from olearn import linalg_kernels as lk


@pytest.mark.parametrize("rho", [0.0, 0.4])
def test_add_bags_and_add_instances_do_not_depend_on_the_thread_count(rho):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one numba thread only")
    rng = np.random.default_rng(0)
    n, k, d = 33, 5, 7
    bags = [(rng.normal(size=(n, k, d)), rng.normal(size=n), rng.normal(size=(n, k)))
            for _ in range(12)]
    out = []
    old = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            f, g, theta = np.zeros((n, d + 1, d + 1)), np.zeros((n, d + 1, d + 1)), np.zeros((n, d))
            for x, ybar, y in bags:
                lk.add_bags(f, x, ybar, rho, theta)
                lk.add_instances(g, x, y)
            out.append((f, g, theta.copy()))
    finally:
        numba.set_num_threads(old)
    for a, b in zip(out[0], out[1], strict=True):
        assert np.array_equal(a, b)
    assert np.abs(out[0][2]).sum() > 0
