"""Classification data sets for :mod:`olearn.envs.bandits.classification`.

``load_dataset(source, label=...)`` returns ``(X, y, classes)``: float64 features (missing values
set to −1, as in the NeuralTS pipeline), integer labels ``0..K−1`` and the original class values.
Sources:

* ``"digits"``, ``"wine"``, ``"breast_cancer"``, ``"iris"``: bundled with scikit-learn (offline);
* ``"openml:<name>"`` (optionally ``"openml:<name>:<version>"``): downloaded once with
  ``sklearn.datasets.fetch_openml`` and cached as Parquet under ``cache_dir`` (default
  ``$OLEARN_DATA`` or ``~/.cache/olearn``); nominal features are one-hot encoded;
* ``"path/to/file.csv"`` or ``".parquet"`` with ``label="<column>"``, read with Polars; every other
  column must be numeric.

Errors (missing file or column, non-numeric features, a single class) are one-line ``ValueError``s.

Examples
--------
>>> X, y, classes = load_dataset("iris")
>>> X.shape, len(classes)
((150, 4), 3)
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

__all__ = ["BUNDLED", "OPENML_VERSIONS", "load_dataset"]

BUNDLED = ("digits", "wine", "breast_cancer", "iris")
#: versions used by the NeuralTS pipeline (papers §3.4); other names default to version 1
OPENML_VERSIONS = {"mnist_784": 1, "mushroom": 1, "adult": 2, "covertype": 3,
                   "MagicTelescope": 1, "shuttle": 1, "letter": 1, "isolet": 1,
                   "Fashion-MNIST": 1}


def default_cache_dir() -> Path:
    """``$OLEARN_DATA`` if set, else ``~/.cache/olearn``."""
    return Path(os.environ.get("OLEARN_DATA", Path.home() / ".cache" / "olearn"))


def _fetch_openml(name: str, version: int, data_home: Path) -> pl.DataFrame:
    """Download one OpenML data set (network; scikit-learn keeps its own download cache under
    ``data_home``); the label column is called ``"__label__"``. Needs pandas (the
    ``datasets`` extra)."""
    try:
        from sklearn.datasets import fetch_openml
    except ImportError:
        msg = ("OpenML data sets need scikit-learn and pandas: pip install "
               "\"olearn[datasets]\"")
        raise ValueError(msg) from None
    bunch = fetch_openml(name=name, version=version, as_frame=True, parser="auto",
                         data_home=str(data_home))
    frame = pl.from_pandas(bunch.frame)
    target = bunch.target_names[0] if bunch.target_names else frame.columns[-1]
    return frame.rename({target: "__label__"})


def _finish(frame: pl.DataFrame, label: str, source: str, *, one_hot: bool) -> tuple:
    if label not in frame.columns:
        msg = f"{source}: no label column {label!r}; columns are {frame.columns[:20]}"
        raise ValueError(msg)
    features = frame.drop(label)
    bad = [c for c, t in features.schema.items() if not t.is_numeric()]
    if bad and one_hot:
        features = features.to_dummies(columns=bad)
    elif bad:
        msg = f"{source}: features must be numeric, but {bad[:5]} are not; encode them or drop them"
        raise ValueError(msg)
    if features.width == 0:
        msg = f"{source}: no feature columns besides the label {label!r}"
        raise ValueError(msg)
    labels = frame.get_column(label)
    keep = labels.is_not_null().to_numpy()
    x = features.cast(pl.Float64).to_numpy()[keep]
    x = np.where(np.isnan(x), -1.0, x)
    classes, y = np.unique(labels.to_numpy()[keep], return_inverse=True)
    if len(classes) < 2:
        msg = f"{source}: label {label!r} has {len(classes)} class(es); a bandit needs at least 2"
        raise ValueError(msg)
    return x, y.astype(np.int64), classes


def _load_openml(spec: str, cache_dir: Path) -> tuple:
    parts = spec.split(":")
    name = parts[1] if len(parts) > 1 else ""
    if not name or len(parts) > 3:
        msg = f"expected 'openml:<name>' or 'openml:<name>:<version>', got {spec!r}"
        raise ValueError(msg)
    version = int(parts[2]) if len(parts) == 3 else OPENML_VERSIONS.get(name, 1)
    path = cache_dir / "openml" / f"{name}-v{version}.parquet"
    if path.is_file():
        frame = pl.read_parquet(path)
    else:
        frame = _fetch_openml(name, version, cache_dir / "openml" / "scikit-learn")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        frame.write_parquet(tmp)
        tmp.replace(path)        # atomic: a killed download leaves no half-written cache
    return _finish(frame, "__label__", spec, one_hot=True)


def _load_bundled(name: str) -> tuple:
    import sklearn.datasets as skd

    bunch = getattr(skd, f"load_{name}")()
    x = np.asarray(bunch.data, dtype=np.float64)
    classes, y = np.unique(bunch.target, return_inverse=True)
    return x, y.astype(np.int64), classes


@functools.lru_cache(maxsize=16)
def _load_cached(source: str, label: str | None, cache_dir: str, mtime: float) -> tuple:
    if source in BUNDLED:
        return _load_bundled(source)
    if source.startswith("openml:"):
        return _load_openml(source, Path(cache_dir))
    path = Path(source)
    if path.suffix not in (".csv", ".parquet"):
        msg = (f"dataset must be one of {BUNDLED}, 'openml:<name>' or a .csv/.parquet path, "
               f"got {source!r}")
        raise ValueError(msg)
    if not path.is_file():
        msg = f"dataset file {source!r} does not exist"
        raise ValueError(msg)
    if label is None:
        msg = f"dataset {source!r} is a file: give the label column with label='<column>'"
        raise ValueError(msg)
    try:
        frame = pl.read_csv(path) if path.suffix == ".csv" else pl.read_parquet(path)
    except Exception as e:  # polars raises several error types for malformed files
        msg = f"cannot read {source!r}: {str(e).splitlines()[0]}"
        raise ValueError(msg) from None
    return _finish(frame, label, source, one_hot=False)


def load_dataset(source: str, *, label: str | None = None,
                 cache_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray, Any]:
    """Load a classification data set as ``(X float64 (n, d), y int64 (n,), classes)``.

    Parameters
    ----------
    source
        A bundled name, ``"openml:<name>[:<version>]"`` or a ``.csv``/``.parquet`` path.
    label
        Label column of a file source (ignored otherwise).
    cache_dir
        Where OpenML downloads are cached (default :func:`default_cache_dir`).
    """
    if not isinstance(source, str) or not source:
        msg = f"dataset must be a non-empty string, got {source!r}"
        raise ValueError(msg)
    cache = str(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    path = Path(source)
    mtime = path.stat().st_mtime if path.suffix in (".csv", ".parquet") and path.is_file() else 0.0
    x, y, classes = _load_cached(source, label, cache, mtime)
    return x.copy(), y.copy(), classes
