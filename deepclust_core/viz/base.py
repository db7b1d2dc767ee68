"""Shared pieces of the figures: constants, colours that follow the classes, ellipses and 2-D embeddings
(PCA, openTSNE, UMAP) of latent spaces."""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from ..errors import InputError
from ..metrics import MIXTURE_DIAGNOSTICS, match_labels


EMBEDDINGS = ("raw", "pca", "tsne", "umap")
METRIC_NAMES = {"acc": "ACC", "nmi": "NMI", "ari": "ARI", "mixture_acc": "ACC of the mixture",
                "mixture_agreement": "f2 = mixture"}
SCORE_KEYS = ("acc", "nmi", "ari") + MIXTURE_DIAGNOSTICS  # the diagnostics drawn dashed
LOSS_TERMS = ("loss", "recon", "kl_z", "kl_c", "entropy")
WITHIN_COLOR = "rgba(120,120,120,0.35)"
CROSSING_COLOR = "rgba(214,39,40,0.85)"
# Point clouds keep equal units on both axes; a legend at the side would take the width of a narrow column from the
# plot, so it lies in a row above it.
LEGEND_ABOVE = dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0.0, itemsizing="constant")
PALETTE = qualitative.Plotly + qualitative.Dark24 + qualitative.Light24


def palette(n: int) -> List[str]:
    """``n`` distinct colours (cycled beyond 58)."""
    return [PALETTE[i % len(PALETTE)] for i in range(max(0, n))]


def label_colours(values: np.ndarray) -> List[str]:
    """The colour of each of the sorted distinct label ``values``: label k gets colour k when the labels are
    non-negative integers (so a cluster keeps its colour across views), else the i-th value the i-th colour."""
    values = np.asarray(values)
    by_value = np.issubdtype(values.dtype, np.integer) and len(values) > 0 and values.min() >= 0
    return [PALETTE[(int(value) if by_value else position) % len(PALETTE)] for position, value in enumerate(values)]


def label_mapping(predicted: np.ndarray, reference: np.ndarray) -> Dict[int, int]:
    """cluster -> reference label it overlaps most (Hungarian matching, one-to-one); clusters left over
    get numbers after the largest reference label. Used so a cluster and its class share a colour."""
    predicted = np.asarray(predicted).ravel()
    reference = np.asarray(reference).ravel()
    clusters, codes = np.unique(predicted, return_inverse=True)
    classes, ref_codes = np.unique(reference, return_inverse=True)
    overlap = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(overlap, (codes, ref_codes), 1)
    rows, cols = match_labels(overlap)
    targets = classes[cols] if np.issubdtype(classes.dtype, np.integer) else cols
    mapping = {int(clusters[r]): int(t) for r, t in zip(rows, targets)}
    next_label = max(mapping.values(), default=-1) + 1
    for cluster in clusters:
        if int(cluster) not in mapping:
            mapping[int(cluster)] = next_label
            next_label += 1
    return mapping


def align_labels(predicted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``predicted`` renumbered by :func:`label_mapping` (same partition, colours matching the classes)."""
    mapping = label_mapping(predicted, reference)
    predicted = np.asarray(predicted)
    clusters = np.array(sorted(mapping))
    return np.array([mapping[c] for c in clusters], dtype=np.int64)[np.searchsorted(clusters, predicted)]


# ------------------------------------------------------------------------------------------------- geometry

def ellipse(mean: Sequence[float], variance: Sequence[float], n_sigma: float = 2.0,
            n_points: int = 100) -> Tuple[np.ndarray, np.ndarray]:
    """Points of the axis-aligned ``n_sigma`` ellipse of a diagonal Gaussian in 2-D (closed curve)."""
    angle = np.linspace(0.0, 2.0 * np.pi, n_points)
    std = np.sqrt(np.asarray(variance, dtype=np.float64)[:2])
    centre = np.asarray(mean, dtype=np.float64)[:2]
    return centre[0] + n_sigma * std[0] * np.cos(angle), centre[1] + n_sigma * std[1] * np.sin(angle)


# A chart switches from SVG to WebGL at this many points (markers, or line segments). Measured in headless Chromium
# without a GPU (software WebGL): redrawing a chart costs ~0.45 s of CPU with WebGL whatever its size (1,500 or 4,000
# points), ~0.25 s (1,500) to ~0.38 s (4,000) with SVG; SVG slows down with thousands more points, WebGL does not.
WEBGL_MIN_POINTS = 5_000


def scatter_class(n_points: int):
    """``go.Scatter`` (SVG) for up to :data:`WEBGL_MIN_POINTS` points, ``go.Scattergl`` (WebGL) above."""
    return go.Scattergl if n_points >= WEBGL_MIN_POINTS else go.Scatter


def two_columns(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2:
        raise InputError(f"Expected a 2-D array of points; got shape {points.shape}.")
    if points.shape[1] == 1:
        return np.hstack([points, np.zeros_like(points)])
    return points[:, :2]


def subsample_index(n: int, max_points: int, seed: int = 0) -> np.ndarray:
    """A fixed, sorted random subset of range(n) of size min(n, max_points)."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def embed(latent: np.ndarray, method: str = "raw", max_points: int = 10_000,
          seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """A 2-D view of latent points: (coordinates float32 (n, 2), indices of the points used).

    "raw" keeps the first two dimensions; "pca", "tsne" (openTSNE) and "umap" (umap-learn) embed at most
    ``max_points`` points, a fixed random subset for a given seed. t-SNE and UMAP take seconds to
    minutes: cache the result (the app keeps it in the run's cache/ folder).
    """
    if method not in EMBEDDINGS:
        raise InputError(f"Unknown embedding {method!r}; choose one of {', '.join(EMBEDDINGS)}.")
    latent = np.asarray(latent, dtype=np.float32)
    if latent.ndim != 2 or len(latent) == 0:
        raise InputError(f"Expected a non-empty (n, dims) latent array; got shape {latent.shape}.")
    index = subsample_index(len(latent), max_points, seed)
    points = latent[index]
    if method == "raw" or points.shape[1] <= 1:
        return two_columns(points), index
    if method == "pca":
        from sklearn.decomposition import PCA

        coords = PCA(n_components=2, random_state=seed).fit_transform(points)
    elif method == "tsne":
        from openTSNE import TSNE

        perplexity = float(min(30.0, max(2.0, (len(points) - 1) / 3.0)))
        coords = np.asarray(TSNE(n_components=2, perplexity=perplexity, random_state=seed, n_jobs=1,
                                 verbose=False).fit(points.astype(np.float64)))
    else:
        import umap

        n_neighbors = int(min(15, max(2, len(points) - 1)))
        coords = umap.UMAP(n_components=2, n_neighbors=n_neighbors, random_state=seed).fit_transform(points)
    return np.ascontiguousarray(coords, dtype=np.float32), index
