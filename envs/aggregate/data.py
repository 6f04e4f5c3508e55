"""Feature/response tables for the aggregate-responses environment: bundled or from a file.

A table is ``(X, y)`` as float64 numpy arrays, features and response standardized (zero mean,
unit variance; constant columns are only centred).

Examples
--------
>>> X, y = load_table("diabetes")
>>> X.shape, round(float(y.mean()), 6), round(float(y.std()), 6)
((442, 10), 0.0, 1.0)
>>> load_table("no/such/file.csv", target="y")
Traceback (most recent call last):
...
ValueError: data file 'no/such/file.csv' does not exist; give a CSV or Parquet path, ...
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["BUNDLED", "load_table", "standardize"]

BUNDLED = ("diabetes",)


def standardize(a: np.ndarray) -> np.ndarray:
    """Columns (or a vector) centred and scaled to unit variance; constant columns only centred."""
    a = np.asarray(a, dtype=np.float64)
    mu, sd = a.mean(axis=0), a.std(axis=0)
    return (a - mu) / np.where(sd > 0, sd, 1.0)


def _bundled(name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_diabetes
    except ImportError:
        msg = ("data='diabetes' needs scikit-learn (bundled data set); "
               "pip install 'olearn[datasets]'")
        raise ValueError(msg) from None
    X, y = load_diabetes(return_X_y=True, scaled=False)
    return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _file(source: str, target: str | None) -> tuple[np.ndarray, np.ndarray]:
    import polars as pl

    path = Path(source)
    if not path.is_file():
        msg = (f"data file {source!r} does not exist; give a CSV or Parquet path, 'gaussian' "
               "or 'diabetes'")
        raise ValueError(msg)
    if target is None:
        msg = f"data={source!r} needs target='<column>', the response column"
        raise ValueError(msg)
    try:
        frame = (pl.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq")
                 else pl.read_csv(path))
    except Exception as e:  # noqa: BLE001 - polars raises several error types for bad files
        msg = f"cannot read {source!r} as {'Parquet' if path.suffix == '.parquet' else 'CSV'}: {e}"
        raise ValueError(msg.splitlines()[0]) from None
    if target not in frame.columns:
        msg = f"target column {target!r} is not in {source!r} (columns: {frame.columns})"
        raise ValueError(msg)
    features = [c for c in frame.columns if c != target]
    bad = [c for c in [target, *features] if not frame.schema[c].is_numeric()]
    if bad:
        msg = (f"column {bad[0]!r} of {source!r} is not numeric ({frame.schema[bad[0]]}); "
               "encode it or drop it first")
        raise ValueError(msg)
    if not features:
        msg = f"{source!r} has no feature column besides the target {target!r}"
        raise ValueError(msg)
    frame = frame.drop_nulls()
    if frame.height == 0:
        msg = f"{source!r} has no complete row (every row has a missing value)"
        raise ValueError(msg)
    X = frame.select(features).to_numpy().astype(np.float64)
    return X, frame[target].to_numpy().astype(np.float64)


def load_table(source: str, *, target: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of a bundled data set (``"diabetes"``) or a CSV/Parquet file, standardized.

    Parameters
    ----------
    source
        ``"diabetes"`` (scikit-learn's bundled copy: 442 rows, 10 features) or a path to a
        ``.csv`` or ``.parquet`` file, read with Polars; every column but ``target`` is a
        feature and must be numeric; rows with a missing value are dropped.
    target
        The response column of a file.
    """
    X, y = _bundled(source) if source in BUNDLED else _file(source, target)
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        msg = f"{source!r} holds NaN or infinite values; clean them first"
        raise ValueError(msg)
    return standardize(X), standardize(y)
