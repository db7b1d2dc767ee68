"""Latent traversals (paper Fig. 2): image grids, paths of 2-D points, changed terms, variance bars."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from ..errors import InputError
from .base import CROSSING_COLOR, palette
from .points import cluster_traces


# --------------------------------------------------------------------------------------------- traversals

def image_grid(images: np.ndarray, image_shape: Tuple[int, int], *, row_labels: Optional[Sequence[str]] = None,
               col_labels: Optional[Sequence[str]] = None, gap: int = 2, title: Optional[str] = None) -> go.Figure:
    """A (rows, cols) grid of images (rows, cols, H*W) as one heatmap (fast for hundreds of tiles)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 2:
        images = images[None]
    n_rows, n_cols, n_pixels = images.shape
    height, width = image_shape
    if height * width != n_pixels:
        raise InputError(f"image_shape {tuple(image_shape)} does not match {n_pixels} values per image.")
    mosaic = np.full((n_rows * (height + gap) - gap, n_cols * (width + gap) - gap), np.nan, dtype=np.float32)
    for r in range(n_rows):
        for c in range(n_cols):
            top, left = r * (height + gap), c * (width + gap)
            mosaic[top:top + height, left:left + width] = images[r, c].reshape(height, width)
    figure = go.Figure(go.Heatmap(z=mosaic, colorscale="gray", showscale=False, hoverinfo="skip",
                                  zmin=float(np.nanmin(mosaic)), zmax=float(np.nanmax(mosaic))))
    figure.update_yaxes(autorange="reversed", scaleanchor="x", showgrid=False, zeroline=False,
                        tickmode="array", tickvals=[r * (height + gap) + height / 2 for r in range(n_rows)],
                        ticktext=list(row_labels) if row_labels is not None else [""] * n_rows)
    figure.update_xaxes(showgrid=False, zeroline=False, tickmode="array",
                        tickvals=[c * (width + gap) + width / 2 for c in range(n_cols)],
                        ticktext=list(col_labels) if col_labels is not None else [""] * n_cols)
    figure.update_layout(title=title, height=max(220, 40 + n_rows * 60), plot_bgcolor="white",
                         margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return figure


def traversal_paths(paths: np.ndarray, names: Sequence[str], *, background: Optional[np.ndarray] = None,
                    background_labels: Optional[np.ndarray] = None, title: Optional[str] = None,
                    height: int = 520) -> go.Figure:
    """Decoded traversals of 2-D data: each path (steps, 2) drawn over the data, start ○ to end ▶."""
    figure = go.Figure()
    if background is not None:
        for trace in cluster_traces(background, background_labels, "class", 4.0):
            trace.marker.opacity = 0.25
            figure.add_trace(trace)
    colors = qualitative.Dark24  # darker than the cluster colours of the background
    for position, (path, name) in enumerate(zip(np.asarray(paths, dtype=np.float32), names)):
        color = colors[position % len(colors)]
        symbols = ["circle-open"] + ["circle"] * (len(path) - 2) + ["triangle-right"]
        figure.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines+markers", name=name,
                                    line=dict(color=color, width=3), marker=dict(size=7, symbol=symbols)))
    figure.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                         xaxis_title="x1", yaxis_title="x2", legend=dict(itemsizing="constant"))
    figure.update_yaxes(scaleanchor="x", scaleratio=1)
    return figure


def term_changes(path: np.ndarray, feature_names: Optional[Sequence[str]] = None,
                 top: int = 10) -> pd.DataFrame:
    """The ``top`` rising and ``top`` falling features along a traversal (steps, D): last minus first step."""
    path = np.asarray(path, dtype=np.float64)
    change = path[-1] - path[0]
    order = np.argsort(change)
    falling = [i for i in order[:top] if change[i] < 0]
    rising = [i for i in order[::-1][:top] if change[i] > 0]
    rows = [{"feature": i, "term": feature_names[i] if feature_names is not None else f"term {i}",
             "change": float(change[i]), "direction": direction}
            for direction, indices in (("rising", rising), ("falling", falling)) for i in indices]
    return pd.DataFrame(rows, columns=["feature", "term", "change", "direction"])


def traversal_terms(path: np.ndarray, feature_names: Optional[Sequence[str]] = None, top: int = 10,
                    title: Optional[str] = None) -> go.Figure:
    """Bar chart of the terms whose decoded tf-idf rises / falls most along a traversal."""
    table = term_changes(path, feature_names, top).sort_values("change")
    colors = [CROSSING_COLOR if value < 0 else "rgba(44,160,44,0.85)" for value in table["change"]]
    figure = go.Figure(go.Bar(x=table["change"].to_numpy(), y=table["term"].to_numpy(), orientation="h",
                              marker_color=colors))
    figure.update_layout(title=title, height=max(250, 22 * len(table) + 60), xaxis_title="change in decoded value "
                         "(end − start)", margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return figure


def variance_bars(variances: np.ndarray, *, highlight: Optional[Sequence[int]] = None,
                  title: Optional[str] = None, height: int = 260) -> go.Figure:
    """σ² per latent dimension of one component (M,) or of all components (K, M) as grouped bars."""
    variances = np.atleast_2d(np.asarray(variances, dtype=np.float64))
    dims = np.arange(variances.shape[1])
    figure = go.Figure()
    colors = palette(len(variances))
    for k, row in enumerate(variances):
        marker_colors = colors[k] if highlight is None else [colors[k] if d in set(highlight) else "lightgrey"
                                                             for d in dims]
        figure.add_trace(go.Bar(x=[f"z{d + 1}" for d in dims], y=row, name=f"component {k}",
                                marker_color=marker_colors, showlegend=len(variances) > 1))
    figure.update_layout(title=title, height=height, barmode="group", yaxis_title="σ²",
                         margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return figure
