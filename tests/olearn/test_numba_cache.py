"""The compiled kernels use numba's disk cache only under their olearn names.

numba keys its cache by source file; an entry written while pytest imported a kernel file as
``envs.…`` or ``agents.…`` (for its doctests) made ``olearn`` fail with ``No module named
'envs'`` the next time it loaded that entry.
"""

import importlib
import importlib.util

import pytest


@pytest.mark.parametrize("name", ["olearn.envs.contextual_kernels", "olearn.agents.ridge_kernels"])
def test_only_the_olearn_module_caches_on_disk(name):
    mod = importlib.import_module(name)
    assert mod._CACHE is True
    alias = name.removeprefix("olearn.")
    spec = importlib.util.spec_from_file_location(alias, mod.__file__)
    other = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(other)
    assert other._CACHE is False
