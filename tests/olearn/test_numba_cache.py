"""The compiled kernels use numba's disk cache only under their olearn names.

numba keys its cache by source file; an entry written while pytest imported a kernel file as
``envs.…`` or ``agents.…`` (for its doctests) made ``olearn`` fail with ``No module named
'envs'`` the next time it loaded that entry.
"""

import importlib
import importlib.util

import pytest


@pytest.mark.parametrize("name", ["olearn.envs.bandits.contextual_kernels",
                                  "olearn.agents.bandits.ridge_kernels",
                                  "olearn.envs.oco.sea_kernels",
                                  "olearn.agents.oco.omd_kernels"])
def test_only_the_olearn_module_caches_on_disk(name):
    mod = importlib.import_module(name)
    assert mod._CACHE is True
    alias = name.removeprefix("olearn.")
    spec = importlib.util.spec_from_file_location(alias, mod.__file__)
    other = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(other)
    assert other._CACHE is False


def test_a_second_process_loads_every_kernel_from_the_disk_cache():
    """A kernel that closed over another compiled function missed the cache in every process,
    and so does one that calls ``numba.set_num_threads`` (the ridge kernels limit their threads
    through intrinsics instead: loaded from the cache, they must still link and run)."""
    import subprocess
    import sys

    code = """
import numpy as np
import torch
from olearn.agents.bandits import ridge_kernels as rk
from olearn.agents.bandits.ridge import BatchedRidge
from olearn.envs.bandits import contextual_kernels as ck
rk.warm(11)
ridge = BatchedRidge(replicates=2, models=3, dim=11, reg=1.0, device=torch.device("cpu"))
ridge.update(torch.tensor([0, 2]), torch.ones(2, 11), torch.ones(2))
assert ridge.backend.threads == 1 and ridge.best(torch.ones(2, 11), 1.0).tolist() == [1, 0]
prepare, pull = ck.compiled(False)
x, mu = np.empty((1, 1, 3), np.float32), np.empty((1, 1, 2))
prepare(np.ones((1, 1, 3), np.float32), np.ones((1, 3, 2)), 0, x, mu, np.empty((1, 1)),
        np.empty((1, 1), np.int64))
kernels = [*rk.compiled(11), prepare]
print(sum(sum(k.stats.cache_misses.values()) for k in kernels))
"""
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            for _ in range(2)]
    assert runs[1].stdout.strip() == "0", runs[1].stdout + runs[1].stderr
