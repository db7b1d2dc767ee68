"""Input checks shared by the datasets, the methods and the app.

Each check either returns the value in the form the rest of deepclust expects (a float32 matrix, int64
labels, a Python int or float) or raises :class:`~deepclust_core.errors.InputError` with a message a user
can act on without reading a traceback.
"""
from __future__ import annotations

import numbers
from typing import Any, Optional

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = [
    "check_features",
    "check_labels",
    "check_n_clusters",
    "check_neighbors",
    "check_positive",
    "check_finite",
    "check_int_range",
    "parses_as_number",
]


def check_features(X: Any, *, name: str = "X", min_samples: int = 2) -> np.ndarray:
    """Return `X` as a float32, C-contiguous (n_samples, n_features) matrix, or raise InputError.

    Accepts nested lists, NumPy arrays and pandas DataFrames. Strings are rejected even when they spell
    numbers (as scikit-learn does); ``None`` in an object array counts as a missing value. `X` itself is
    returned, not a copy, when it is already a float32 C-contiguous matrix.
    """
    if isinstance(X, pd.DataFrame):
        array = _dataframe_to_array(X, name)
    else:
        try:
            array = np.asarray(X)
        except ValueError:  # NumPy >= 1.24 refuses ragged nested sequences
            raise InputError(_ragged_message(X, name)) from None
        if array.dtype == object and array.ndim == 1 and any(_is_row(value) for value in array):
            raise InputError(_ragged_message(array, name))

    if array.ndim != 2:
        got = "a scalar" if array.ndim == 0 else f"shape {array.shape}"
        hint = {
            1: " For a single feature use X.reshape(-1, 1).",
            3: " Flatten each sample first: X.reshape(len(X), -1).",
        }
        raise InputError(
            f"{name} must be a 2-D array of shape (n_samples, n_features); got {got}.{hint.get(array.ndim, '')}"
        )
    n_samples, n_features = array.shape
    if n_samples == 0 or n_features == 0:
        raise InputError(f"{name} is empty: it has {n_samples} samples and {n_features} features.")
    if n_samples < min_samples:
        raise InputError(f"{name} needs at least {min_samples} samples; got {n_samples}.")

    array = _as_real(array, name)
    with np.errstate(over="ignore"):  # float64 values beyond float32's range become inf, reported below
        features = np.ascontiguousarray(array, dtype=np.float32)
    finite = np.isfinite(features)
    if not finite.all():
        n_nan = int(np.isnan(features).sum())
        n_inf = int(features.size - finite.sum()) - n_nan
        counts = " and ".join(
            text for count, text in [(n_nan, f"{n_nan} NaN"), (n_inf, f"{n_inf} infinite (or beyond float32 range)")]
            if count
        )
        first_row = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise InputError(
            f"{name} contains {counts} value{'s' if n_nan + n_inf > 1 else ''} (first in row {first_row}); "
            "remove or impute them."
        )
    return features


def check_labels(y: Any, n_samples: int, *, name: str = "y") -> np.ndarray:
    """Return `y` encoded as int64 class ids 0..C-1 (in sorted order of the original labels).

    Labels may be integers, strings or integral floats; NaN / None labels, non-integral floats, a length
    other than `n_samples` and anything but one label per sample raise InputError.
    """
    try:
        labels = np.asarray(y)
    except ValueError:
        raise InputError(f"{name} must be a 1-D sequence of labels; its elements have different lengths.") from None
    if labels.ndim != 1:
        hint = " Use y.ravel()." if labels.ndim == 2 and 1 in labels.shape else ""
        raise InputError(f"{name} must be 1-D with one label per sample; got shape {labels.shape}.{hint}")
    if len(labels) != n_samples:
        raise InputError(f"{name} has {len(labels)} labels but X has {n_samples} samples; they must match.")
    missing = np.asarray(pd.isna(labels), dtype=bool)
    if missing.any():
        n_missing = int(missing.sum())
        raise InputError(
            f"{name} contains {n_missing} missing (NaN) label{'s' if n_missing > 1 else ''} "
            f"(first at index {int(np.argmax(missing))})."
        )
    if labels.dtype.kind == "f":
        fractional = labels != np.round(labels)
        if fractional.any():
            example = labels[np.argmax(fractional)].item()
            raise InputError(
                f"{name} contains non-integer values (e.g. {example!r}); labels must be class ids or names, "
                "not continuous values."
            )
    try:
        _, codes = np.unique(labels, return_inverse=True)
    except TypeError:  # mixed types such as 1 and "a" cannot be sorted together
        _, codes = np.unique(labels.astype(str), return_inverse=True)
    return codes.reshape(-1).astype(np.int64)


def check_n_clusters(n_clusters: Any, n_samples: int) -> int:
    """Return the number of clusters as an int in [1, n_samples]."""
    k = check_int_range(n_clusters, "n_clusters", 1)
    if k > n_samples:
        raise InputError(f"n_clusters must be <= the number of samples ({n_samples}); got {k}.")
    return k


def check_neighbors(n_neighbors: Any, n_samples: int) -> int:
    """Return the graph size N_s as an int with 0 <= N_s < n_samples (0 turns DGG into VaDE)."""
    k = check_int_range(n_neighbors, "n_neighbors (N_s)", 0)
    if k >= n_samples:
        raise InputError(
            f"n_neighbors (N_s) must be smaller than the number of samples ({n_samples}); got {k}."
        )
    return k


def check_finite(value: Any, name: str) -> float:
    """Return `value` as a finite Python float (bools and strings are not numbers here)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number; got {_show(value)}.")
    number = float(value)
    if not np.isfinite(number):
        raise InputError(f"{name} must be a finite number; got {_show(value)}.")
    return number


def check_positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """Return `value` as a finite float that is > 0 (>= 0 with `allow_zero`), e.g. lambda or noise."""
    number = check_finite(value, name)
    if number < 0 or (number == 0 and not allow_zero):
        raise InputError(f"{name} must be {'>=' if allow_zero else '>'} 0; got {_show(value)}.")
    return number


def check_int_range(value: Any, name: str, low: int, high: Optional[int] = None) -> int:
    """Return `value` as a Python int with low <= value (<= high when given).

    Integral floats such as 10.0 (from JSON configs or number widgets) are accepted; bools are not.
    """
    integral = isinstance(value, numbers.Integral) or (
        isinstance(value, numbers.Real) and float(value).is_integer()
    )
    if isinstance(value, (bool, np.bool_)) or not integral:
        raise InputError(f"{name} must be an integer; got {_show(value)}.")
    number = int(value)
    if number < low:
        raise InputError(f"{name} must be >= {low}; got {_show(value)}.")
    if high is not None and number > high:
        raise InputError(f"{name} must be <= {high}; got {_show(value)}.")
    return number


def _show(value: Any) -> str:
    """The value as a user would have typed it: `0`, `2.5`, `'ten'`, not `np.float64(2.5)`."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _is_row(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def _ragged_message(rows: Any, name: str) -> str:
    lengths = [len(row) if _is_row(row) else 1 for row in rows]
    first_other = next((i for i, length in enumerate(lengths) if length != lengths[0]), None)
    if first_other is None:
        return f"{name} is not a regular (n_samples, n_features) table."
    return (
        f"{name} has rows of different lengths: row 0 has {lengths[0]} values but row {first_other} has "
        f"{lengths[first_other]}; every sample needs the same number of features."
    )


def _dataframe_to_array(frame: pd.DataFrame, name: str) -> np.ndarray:
    non_numeric = [
        str(column) for column, dtype in frame.dtypes.items()
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
    ]
    if non_numeric:
        raise InputError(
            f"{name} contains non-numeric values in column(s) {', '.join(non_numeric)}; "
            "drop them or encode them as numbers."
        )
    return frame.to_numpy(dtype=np.float64, na_value=np.nan)


def _as_real(array: np.ndarray, name: str) -> np.ndarray:
    """`array` as a real-valued array: numeric dtypes pass, objects must all be numbers or None."""
    kind = array.dtype.kind
    if kind in "biuf":
        return array
    if kind == "c":
        raise InputError(f"{name} contains complex values; only real numbers can be clustered.")
    if kind == "O":
        bad = _first(array, lambda value: value is None or isinstance(value, numbers.Real))
        if bad is None:
            return array.astype(np.float64)
    elif kind in "US":
        bad = _first(array, parses_as_number)
        if bad is None:
            (row, column), value = _first(array, lambda value: False)
            raise InputError(
                f"{name} holds numbers stored as text (e.g. {_show(value)} in row {row}, column {column}); "
                "convert them first, e.g. X.astype(float)."
            )
    else:  # dates, durations, structured records
        bad = _first(array, lambda value: False)
    (row, column), value = bad
    raise InputError(
        f"{name} contains non-numeric values (e.g. {_show(value)} in row {row}, column {column}); "
        "only numbers can be clustered."
    )


def _first(array: np.ndarray, is_ok) -> Optional[tuple]:
    """(index, value) of the first element of `array` failing `is_ok`, or None."""
    return next(((index, value) for index, value in np.ndenumerate(array) if not is_ok(value)), None)


def parses_as_number(value: Any) -> bool:
    """Whether float(value) works, e.g. for the text cells of a CSV file."""
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
