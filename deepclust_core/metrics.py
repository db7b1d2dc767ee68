"""Clustering scores: accuracy under the best cluster-to-label matching (Hungarian), NMI and ARI."""
from __future__ import annotations

import math
from typing import Dict, Iterable, Optional, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

# DGG's per-epoch diagnostics beside the scores: the ACC of its Gaussian mixture's own assignments, and the share
# of samples on which its classifier f2 agrees with them (label-free).
MIXTURE_DIAGNOSTICS = ("mixture_acc", "mixture_agreement")


def _as_label_vector(labels, name: str) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {array.shape}")
    return array


def contingency(y_true, y_pred) -> np.ndarray:
    """Counts of (predicted cluster, true label) pairs, shape (n_clusters, n_labels)."""
    y_true = _as_label_vector(y_true, "y_true")
    y_pred = _as_label_vector(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {len(y_true)} vs {len(y_pred)}")
    _, true_codes = np.unique(y_true, return_inverse=True)
    _, pred_codes = np.unique(y_pred, return_inverse=True)
    table = np.zeros((pred_codes.max(initial=-1) + 1, true_codes.max(initial=-1) + 1), dtype=np.int64)
    np.add.at(table, (pred_codes, true_codes), 1)
    return table


def match_labels(overlap: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The one-to-one matching of rows to columns that maximises the total ``overlap`` (Hungarian method):
    ``(rows, cols)``, each row ``rows[i]`` matched to column ``cols[i]``. Every label matching in the package
    (ACC, colours that follow the classes, DGG's k-means alignment) goes through here."""
    return linear_sum_assignment(np.asarray(overlap), maximize=True)


def cluster_acc(y_true, y_pred) -> float:
    """Fraction of samples correctly labelled under the best one-to-one cluster->label map.

    Clusters left without a label (more clusters than classes) count as wrong.
    """
    table = contingency(y_true, y_pred)
    if table.size == 0:
        return 0.0
    rows, cols = match_labels(table)
    return float(table[rows, cols].sum() / table.sum())


def nmi(y_true, y_pred) -> float:
    return float(normalized_mutual_info_score(y_true, y_pred))


def ari(y_true, y_pred) -> float:
    return float(adjusted_rand_score(y_true, y_pred))


def evaluate(y_true, y_pred) -> Dict[str, float]:
    """ACC, NMI and ARI in one dict."""
    return {"acc": cluster_acc(y_true, y_pred), "nmi": nmi(y_true, y_pred), "ari": ari(y_true, y_pred)}


def mean_std(values: Iterable[Optional[float]]) -> Dict:
    """Mean and *sample* standard deviation (ddof = 1) of the finite values, with their count and the values.

    The one convention for every table in the package: ``std`` is None for fewer than two values (a single
    run has no spread), and missing or non-finite values (failed runs) are left out and counted apart.
    """
    given = list(values)
    kept = [float(v) for v in given if isinstance(v, (int, float)) and math.isfinite(float(v))]
    array = np.asarray(kept, dtype=float)
    return {"mean": float(array.mean()) if array.size else None,
            "std": float(array.std(ddof=1)) if array.size > 1 else None,
            "n": int(array.size), "missing": len(given) - int(array.size), "values": kept}
