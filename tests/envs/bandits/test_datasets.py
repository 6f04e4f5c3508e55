"""Data set loading: bundled, CSV/Parquet, OpenML cache (never the network), one-line errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from olearn.envs.bandits import datasets
from olearn.envs.bandits.classification import ClassificationBanditVector
from olearn.envs.bandits.datasets import load_dataset

FIXTURES = Path(__file__).parents[2] / "fixtures"


@pytest.mark.parametrize(("name", "shape", "k"), [
    ("digits", (1797, 64), 10), ("wine", (178, 13), 3),
    ("breast_cancer", (569, 30), 2), ("iris", (150, 4), 3),
])
def test_bundled(name, shape, k):
    x, y, classes = load_dataset(name)
    assert x.shape == shape and len(classes) == k and set(np.unique(y)) == set(range(k))


def test_csv_and_parquet_with_label(tmp_path):
    x, y, classes = load_dataset(str(FIXTURES / "tiny.csv"), label="species")
    assert x.shape == (6, 3) and list(classes) == ["x", "y", "z"]
    assert y.tolist() == [0, 1, 0, 2, 1, 2]
    assert x[0, 2] == -1.0                         # missing value -> -1 (NeuralTS pipeline)
    pq = tmp_path / "tiny.parquet"
    pl.read_csv(FIXTURES / "tiny.csv").write_parquet(pq)
    x2, y2, _ = load_dataset(str(pq), label="species")
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    env = ClassificationBanditVector(dataset=str(pq), label="species")
    assert env.arms == 3 and env.dim == 3


@pytest.mark.parametrize(("source", "label", "match"), [
    ("missing.csv", "y", "does not exist"),
    (str(FIXTURES / "tiny.csv"), "nope", "no label column 'nope'"),
    (str(FIXTURES / "tiny.csv"), None, "label="),
    (str(FIXTURES / "tiny_text.csv"), "label", r"features must be numeric.*color"),
    (str(FIXTURES / "one_class.csv"), "label", "1 class"),
    ("mnist", None, "dataset must be one of"),
    ("openml:", None, "openml:<name>"),
])
def test_errors_are_one_line(source, label, match):
    with pytest.raises(ValueError, match=match) as err:
        load_dataset(source, label=label)
    assert "\n" not in str(err.value)


def test_openml_reads_the_local_cache_without_fetching(tmp_path, monkeypatch):
    (tmp_path / "openml").mkdir()
    shutil.copy(FIXTURES / "openml-mushroom-v1.parquet",
                tmp_path / "openml" / "mushroom-v1.parquet")

    def no_network(name, version, data_home):
        raise AssertionError("must not download when the cache has the file")

    monkeypatch.setattr(datasets, "_fetch_openml", no_network)
    x, y, classes = load_dataset("openml:mushroom", cache_dir=tmp_path)
    assert list(classes) == ["e", "p"] and x.shape[0] == 6
    assert x.shape[1] == 3 + 4 + 1                 # nominal features one-hot encoded
    env = ClassificationBanditVector(dataset="openml:mushroom", cache_dir=str(tmp_path))
    assert env.arms == 2


def test_openml_fetches_once_then_caches(tmp_path, monkeypatch):
    calls = []

    def fake_fetch(name, version, data_home):
        calls.append((name, version))
        return pl.read_parquet(FIXTURES / "openml-mushroom-v1.parquet")

    monkeypatch.setattr(datasets, "_fetch_openml", fake_fetch)
    load_dataset("openml:covertype", cache_dir=tmp_path)
    assert calls == [("covertype", 3)]             # NeuralTS pipeline version
    assert (tmp_path / "openml" / "covertype-v3.parquet").is_file()
    datasets._load_cached.cache_clear()
    load_dataset("openml:covertype", cache_dir=tmp_path)
    load_dataset("openml:letter:2", cache_dir=tmp_path)
    assert calls == [("covertype", 3), ("letter", 2)]


def test_openml_downloads_use_scikit_learns_cache_under_cache_dir(tmp_path, monkeypatch):
    pd = pytest.importorskip("pandas")
    import sklearn.datasets

    seen = {}

    def fake_fetch_openml(**kwargs):
        seen.update(kwargs)
        frame = pd.DataFrame({"a": [0.0, 1.0, 2.0], "cls": ["x", "y", "x"]})
        return type("Bunch", (), {"frame": frame, "target_names": ["cls"]})()

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fake_fetch_openml)
    x, y, classes = load_dataset("openml:tiny:1", cache_dir=tmp_path)
    assert seen["data_home"] == str(tmp_path / "openml" / "scikit-learn")
    assert seen["name"] == "tiny" and seen["version"] == 1 and list(classes) == ["x", "y"]
