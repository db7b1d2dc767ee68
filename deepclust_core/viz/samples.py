"""Generated samples per cluster (GANs) and per facet state (latent-tree VAE): image grids, generated points
over 2-D data, cluster shares (mode collapse shows as an empty row or a missing bar) and a facet's partition
drawn on its own latent dimensions."""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import numpy as np
import plotly.graph_objects as go

from ..errors import InputError
from .base import palette
from .points import cluster_traces, marker_size
from .traversals import image_grid


def _check_samples(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 3:
        raise InputError(f"samples must be (clusters, samples per cluster, features); got shape {samples.shape}.")
    return samples


def samples_overview(samples: np.ndarray, image_shape: Tuple[int, int], *,
                     row_labels: Optional[Sequence[str]] = None, title: Optional[str] = None) -> go.Figure:
    """All clusters at once: one row of generated images per cluster (K, n, H*W); a cluster without samples
    (NaN) is an empty row."""
    samples = _check_samples(samples)
    labels = list(row_labels) if row_labels is not None else [f"cluster {k}" for k in range(len(samples))]
    return image_grid(samples, image_shape, row_labels=labels, title=title)


def cluster_grid(samples: np.ndarray, image_shape: Tuple[int, int], *, columns: int = 5,
                 title: Optional[str] = None) -> go.Figure:
    """One cluster's generated images (n, H*W) as a grid of ``columns`` columns (missing tiles blank)."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 2:
        raise InputError(f"one cluster's samples must be (samples, features); got shape {samples.shape}.")
    columns = max(1, min(columns, len(samples)))
    rows = math.ceil(len(samples) / columns)
    tiles = np.full((rows * columns, samples.shape[1]), np.nan, dtype=np.float32)
    tiles[:len(samples)] = samples
    return image_grid(tiles.reshape(rows, columns, -1), image_shape, title=title)


def generated_points(samples: np.ndarray, *, background: Optional[np.ndarray] = None,
                     background_labels: Optional[np.ndarray] = None, title: Optional[str] = None,
                     height: int = 520) -> go.Figure:
    """Generated 2-D samples (K, n, 2), one colour per cluster (crosses), over the data (faint dots)."""
    samples = _check_samples(samples)
    if samples.shape[2] != 2:
        raise InputError(f"generated_points draws 2-D data; the samples have {samples.shape[2]} features.")
    figure = go.Figure()
    if background is not None:
        for trace in cluster_traces(background, background_labels, "class", marker_size(len(background))):
            trace.marker.opacity = 0.2
            figure.add_trace(trace)
    colors = palette(len(samples))
    for k, points in enumerate(samples):
        points = points[np.isfinite(points).all(1)]
        figure.add_trace(go.Scatter(x=points[:, 0], y=points[:, 1], mode="markers", name=f"generated, cluster {k}",
                                    marker=dict(symbol="x", size=9, color=colors[k], line=dict(width=1))))
    figure.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                         xaxis_title="x1", yaxis_title="x2")
    figure.update_yaxes(scaleanchor="x", scaleratio=1)
    return figure


def cluster_shares(real: np.ndarray, generated: Optional[np.ndarray] = None, *, generated_name: str = "generated",
                   title: Optional[str] = None, height: int = 280, unit: str = "cluster") -> go.Figure:
    """Share of the data per cluster beside the share of generated samples (or another per-cluster value): a
    cluster at zero is a mode the model dropped."""
    real = np.asarray(real, dtype=np.float64)
    clusters = [f"{k}" for k in range(len(real))]
    figure = go.Figure(go.Bar(x=clusters, y=real, name="data"))
    if generated is not None:
        figure.add_trace(go.Bar(x=clusters, y=np.asarray(generated, dtype=np.float64), name=generated_name))
    figure.update_layout(title=title, height=height, barmode="group", xaxis_title=unit, yaxis_title="share",
                         margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return figure


def facet_partition(latent: np.ndarray, labels: np.ndarray, dims: Sequence[int], *,
                    title: Optional[str] = None, height: int = 480) -> go.Figure:
    """A facet's partition on its own latent dimensions: the first two of ``dims`` (one dimension: against
    the point's index), coloured by the facet's states."""
    latent = np.asarray(latent, dtype=np.float32)
    dims = [int(d) for d in dims]
    if not dims or max(dims) >= latent.shape[1] or min(dims) < 0:
        raise InputError(f"facet dimensions {dims} do not fit a {latent.shape[1]}-dimensional latent.")
    if len(latent) != len(labels):
        raise InputError(f"{len(latent)} latent points but {len(labels)} labels.")
    if len(dims) >= 2:
        points, names = latent[:, dims[:2]], (f"z{dims[0] + 1}", f"z{dims[1] + 1}")
    else:
        points, names = np.c_[np.arange(len(latent)), latent[:, dims[0]]], ("point", f"z{dims[0] + 1}")
    figure = go.Figure(cluster_traces(points, np.asarray(labels), "state", marker_size(len(points))))
    figure.update_layout(title=title, height=height, xaxis_title=names[0], yaxis_title=names[1],
                         margin=dict(l=10, r=10, t=40 if title else 10, b=10), legend=dict(itemsizing="constant"))
    return figure
