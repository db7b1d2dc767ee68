"""Tests of deepclust_core.validation: accepted inputs come back in the expected form, bad ones raise
InputError with a message that says what is wrong."""
import numpy as np
import pandas as pd
import pytest

from deepclust_core.errors import InputError
from deepclust_core.validation import (
    check_features,
    check_finite,
    check_int_range,
    check_labels,
    check_n_clusters,
    check_neighbors,
    check_positive,
)


# ------------------------------------------------------------------------------------------ check_features

@pytest.mark.parametrize("features", [
    [[1, 2], [3, 4], [5, 6]],
    np.arange(6, dtype=np.int64).reshape(3, 2),
    np.asfortranarray(np.arange(6, dtype=np.float64).reshape(3, 2)),
    pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4, 5, 6]}),
    np.array([[1, 2.5], [3, 4], [5, 6]], dtype=object),
])
def test_check_features_returns_float32_c_contiguous_matrix(features):
    x = check_features(features)
    assert x.dtype == np.float32 and x.flags["C_CONTIGUOUS"] and x.shape == (3, 2)
    np.testing.assert_allclose(x, np.asarray(pd.DataFrame(features), dtype=np.float64))


def test_check_features_does_not_copy_a_ready_matrix():
    x = np.ones((4, 3), dtype=np.float32)
    assert check_features(x) is x


def test_check_features_accepts_booleans():
    x = check_features(pd.DataFrame({"a": [1.5, 2.0], "flag": [True, False]}))
    np.testing.assert_array_equal(x, [[1.5, 1.0], [2.0, 0.0]])


@pytest.mark.parametrize("features, expected", [
    ([["a", 1], [2, 3]], "non-numeric values (e.g. 'a' in row 0, column 0)"),
    (np.array([[1.0, "x"], [2.0, 3.0]], dtype=object), "non-numeric values (e.g. 'x' in row 0, column 1)"),
    (np.array([["1", "2"], ["3", "4"]]), "numbers stored as text"),
    (pd.DataFrame({"a": [1, 2], "name": ["x", "y"]}), "non-numeric values in column(s) name"),
    (np.array([[1 + 1j, 2], [3, 4]]), "complex"),
])
def test_check_features_rejects_non_numeric_values(features, expected):
    with pytest.raises(InputError, match="contains|holds") as error:
        check_features(features)
    assert expected in str(error.value)


def test_check_features_counts_nan_and_inf_and_names_the_first_row():
    features = np.ones((6, 2))
    features[3, 0] = np.nan
    features[4, 1] = np.nan
    features[5, 0] = np.inf
    with pytest.raises(InputError) as error:
        check_features(features)
    assert "2 NaN and 1 infinite" in str(error.value) and "first in row 3" in str(error.value)


def test_check_features_treats_none_as_missing():
    with pytest.raises(InputError, match=r"1 NaN value \(first in row 1\)"):
        check_features([[1, 2], [None, 3]])


def test_check_features_reports_float32_overflow():
    with pytest.raises(InputError, match="infinite"):
        check_features([[1e300, 1.0], [2.0, 3.0]])


@pytest.mark.parametrize("features, got", [
    (np.zeros(5), "got shape (5,)"),
    (np.zeros((4, 28, 28)), "got shape (4, 28, 28)"),
    (3.0, "got a scalar"),
])
def test_check_features_requires_two_dimensions(features, got):
    with pytest.raises(InputError) as error:
        check_features(features)
    message = str(error.value)
    assert "(n_samples, n_features)" in message and got in message


@pytest.mark.parametrize("rows", [[[1, 2], [3, 4], [5]], np.array([[1, 2], [3]], dtype=object)])
def test_check_features_reports_ragged_rows(rows):
    with pytest.raises(InputError, match="rows of different lengths: row 0 has 2 values but row"):
        check_features(rows)


@pytest.mark.parametrize("features, expected", [
    (np.zeros((0, 3)), "0 samples"),
    (np.zeros((5, 0)), "0 features"),
    ([], "shape (0,)"),
])
def test_check_features_rejects_empty_input(features, expected):
    with pytest.raises(InputError) as error:
        check_features(features)
    assert expected in str(error.value)


def test_check_features_min_samples_and_custom_name():
    with pytest.raises(InputError, match="points needs at least 3 samples; got 2"):
        check_features([[1, 2], [3, 4]], name="points", min_samples=3)


# -------------------------------------------------------------------------------------------- check_labels

@pytest.mark.parametrize("labels, expected", [
    (["cat", "dog", "cat", "bird"], [1, 2, 1, 0]),
    ([3.0, 7.0, 3.0, 7.0], [0, 1, 0, 1]),
    (np.array([10, 20, 10, 30], dtype=np.uint8), [0, 1, 0, 2]),
    (pd.Series([True, False, True, True]), [1, 0, 1, 1]),
    (np.array([1, "a", 1, "b"], dtype=object), [0, 1, 0, 2]),
])
def test_check_labels_encodes_to_consecutive_int64(labels, expected):
    codes = check_labels(labels, 4)
    assert codes.dtype == np.int64
    np.testing.assert_array_equal(codes, expected)


def test_check_labels_length_mismatch_names_both_lengths():
    with pytest.raises(InputError, match="y has 3 labels but X has 4 samples"):
        check_labels([0, 1, 0], 4)


@pytest.mark.parametrize("labels", [[0, np.nan, 1, np.nan], ["a", None, "b", None]])
def test_check_labels_rejects_missing_labels(labels):
    with pytest.raises(InputError, match=r"2 missing \(NaN\) labels \(first at index 1\)"):
        check_labels(labels, 4)


def test_check_labels_rejects_continuous_values():
    with pytest.raises(InputError, match="non-integer values"):
        check_labels([0.5, 1.0, 2.0], 3)


def test_check_labels_must_be_one_dimensional():
    with pytest.raises(InputError, match=r"1-D .* got shape \(3, 1\)\. Use y.ravel\(\)"):
        check_labels(np.zeros((3, 1)), 3)


# ---------------------------------------------------------------------------------------- scalar checks

def test_check_n_clusters():
    assert check_n_clusters(3, 10) == 3
    assert check_n_clusters(np.int64(10), 10) == 10
    with pytest.raises(InputError, match=r"n_clusters must be <= the number of samples \(5\); got 6\."):
        check_n_clusters(6, 5)
    with pytest.raises(InputError, match="n_clusters must be >= 1; got 0."):
        check_n_clusters(0, 5)


def test_check_neighbors_messages():
    assert check_neighbors(0, 10) == 0
    assert check_neighbors(39, 40) == 39
    with pytest.raises(InputError) as error:
        check_neighbors(4000, 4000)
    assert str(error.value) == (
        "n_neighbors (N_s) must be smaller than the number of samples (4000); got 4000."
    )
    with pytest.raises(InputError) as error:
        check_neighbors(-1, 4000)
    assert str(error.value) == "n_neighbors (N_s) must be >= 0; got -1."


def test_check_positive_messages():
    assert check_positive(10, "lambda") == 10.0
    assert isinstance(check_positive(np.float32(0.5), "lambda"), float)
    assert check_positive(0, "noise", allow_zero=True) == 0.0
    with pytest.raises(InputError) as error:
        check_positive(0, "lambda")
    assert str(error.value) == "lambda must be > 0; got 0."
    with pytest.raises(InputError, match="noise must be >= 0; got -0.1."):
        check_positive(-0.1, "noise", allow_zero=True)
    with pytest.raises(InputError, match="lambda must be a finite number; got inf."):
        check_positive(float("inf"), "lambda")
    for not_a_number in ("1", True, None):
        with pytest.raises(InputError, match="lambda must be a number"):
            check_positive(not_a_number, "lambda")


def test_check_finite():
    assert check_finite(-0.25, "gap") == -0.25
    with pytest.raises(InputError, match="gap must be a finite number; got nan."):
        check_finite(float("nan"), "gap")


def test_check_int_range():
    assert check_int_range(5, "epochs", 1) == 5
    assert check_int_range(10.0, "epochs", 1) == 10  # JSON and number widgets give floats
    assert type(check_int_range(np.int32(3), "epochs", 1, 3)) is int
    with pytest.raises(InputError, match="epochs must be <= 300; got 301."):
        check_int_range(301, "epochs", 1, 300)
    with pytest.raises(InputError, match="epochs must be >= 1; got 0."):
        check_int_range(0, "epochs", 1)
    for not_an_int in (2.5, "3", True, float("nan"), None):
        with pytest.raises(InputError, match="epochs must be an integer"):
            check_int_range(not_an_int, "epochs", 1)
