"""Metrics against hand-worked cases."""
import pytest

from deepclust_core.metrics import cluster_acc, contingency, evaluate


def test_acc_perfect_under_permutation():
    assert cluster_acc([0, 0, 1, 1, 2, 2], [2, 2, 0, 0, 1, 1]) == 1.0


def test_acc_hand_worked():
    # clusters: A = {0,1,2} (labels 0,0,1), B = {3,4,5} (labels 1,1,0): best map A->0, B->1 gives 4/6.
    assert cluster_acc([0, 0, 1, 1, 1, 0], [5, 5, 5, 7, 7, 7]) == pytest.approx(4 / 6)


def test_acc_more_clusters_than_labels_counts_extra_as_wrong():
    # three clusters, two labels: only two clusters can be mapped; cluster 2 (2 samples) is wrong.
    assert cluster_acc([0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 2, 2]) == pytest.approx(4 / 6)


def test_acc_single_cluster_on_balanced_two_classes_is_half():
    assert cluster_acc([0, 1] * 50, [0] * 100) == 0.5


def test_contingency_counts():
    table = contingency(["a", "a", "b"], [1, 0, 0])
    assert table.tolist() == [[1, 1], [1, 0]]


def test_evaluate_keys_and_values():
    scores = evaluate([0, 0, 1, 1], [1, 1, 0, 0])
    assert scores == {"acc": 1.0, "nmi": pytest.approx(1.0), "ari": pytest.approx(1.0)}
    bad = evaluate([0, 1, 0, 1], [0, 0, 1, 1])
    assert bad["nmi"] == pytest.approx(0.0, abs=1e-12) and bad["ari"] < 0


def test_length_mismatch_raises():
    with pytest.raises(ValueError, match="differ in length"):
        cluster_acc([0, 1], [0])
