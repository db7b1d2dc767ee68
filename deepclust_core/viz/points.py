"""Point clouds: the latent space with its mixture ellipses, and 2-D inputs with their neighbour graph."""
from __future__ import annotations

import itertools
from typing import List, Mapping, Optional, Tuple

import numpy as np
import plotly.graph_objects as go

from .base import (PALETTE, CROSSING_COLOR, LEGEND_ABOVE, WITHIN_COLOR, ellipse, label_colours, scatter_class, subsample_index,
                   two_columns)


# ------------------------------------------------------------------------------------------------ scatter

def cluster_traces(points: np.ndarray, labels: Optional[np.ndarray], label_name: str,
                    marker_size: float) -> List[go.Scatter]:
    points = two_columns(points)
    trace = scatter_class(len(points))
    if labels is None:
        return [trace(x=points[:, 0], y=points[:, 1], mode="markers", name="points",
                             marker=dict(size=marker_size, color=PALETTE[0], opacity=0.7), showlegend=False)]
    labels = np.asarray(labels)
    values = np.unique(labels)
    traces = []
    for value, color in zip(values, label_colours(values)):  # cluster k keeps colour k
        mask = labels == value
        traces.append(trace(
            x=points[mask, 0], y=points[mask, 1], mode="markers", name=f"{label_name} {value}",
            legendgroup=str(value),
            marker=dict(size=marker_size, color=color, opacity=0.7)))
    return traces


def gmm_traces(gmm: Mapping[str, np.ndarray], n_sigma: float,
                colour_of: Optional[Mapping[int, int]] = None) -> List[go.Scatter]:
    """Ellipses of the components; component k takes the colour of cluster ``colour_of[k]`` (default k)."""
    means = np.asarray(gmm["means"])
    variances = np.asarray(gmm["variances"])
    colour_of = dict(colour_of or {})
    spare = (c for c in itertools.count() if c not in set(colour_of.values()))
    for k in range(len(means)):  # components without a cluster (e.g. after a collapse) get unused colours
        if k not in colour_of:
            colour_of[k] = next(spare)
    traces = []
    for k, (mean, variance) in enumerate(zip(means, variances)):
        x, y = ellipse(mean, variance, n_sigma)
        color = PALETTE[colour_of[k] % len(PALETTE)]
        traces.append(go.Scatter(x=x, y=y, mode="lines", name=f"component {k} ({n_sigma:g}σ)",
                                 line=dict(color=color, width=2, dash="dash"), hoverinfo="name",
                                 legendgroup=f"gmm{k}"))
    traces.append(go.Scatter(x=means[:, 0], y=means[:, 1] if means.shape[1] > 1 else np.zeros(len(means)),
                             mode="markers", name="GMM means",
                             marker=dict(symbol="x", size=12, color="black", line=dict(width=1))))
    return traces


def marker_size(n_points: int) -> float:
    return 6.0 if n_points <= 2_000 else 4.0 if n_points <= 20_000 else 2.5


def latent_scatter(latent: np.ndarray, labels: Optional[np.ndarray] = None, *,
                   gmm: Optional[Mapping[str, np.ndarray]] = None, n_sigma: float = 2.0,
                   component_colours: Optional[Mapping[int, int]] = None,
                   title: Optional[str] = None, label_name: str = "cluster",
                   axis_titles: Tuple[str, str] = ("z1", "z2"), height: int = 520) -> go.Figure:
    """Latent means (first two dimensions) coloured by ``labels``; GMM components as ``n_sigma``
    ellipses when ``gmm`` (means, variances) is given and the latent is 2-D, component k drawn in the
    colour of label ``component_colours[k]`` (e.g. a :func:`label_mapping`; default k)."""
    points = two_columns(latent)
    figure = go.Figure(cluster_traces(points, labels, label_name, marker_size(len(points))))
    if gmm is not None and np.asarray(gmm["means"]).shape[-1] == 2:
        figure.add_traces(gmm_traces(gmm, n_sigma, colour_of=component_colours))
    figure.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                         xaxis_title=axis_titles[0], yaxis_title=axis_titles[1], legend=LEGEND_ABOVE,
                         uirevision="latent")
    figure.update_xaxes(constrain="domain")  # equal units: shrink the plot, never pad the data's range
    figure.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain")
    return figure


def _edge_segments(x: np.ndarray, sources: np.ndarray, targets: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """x/y arrays of line segments separated by NaN (one trace draws them all)."""
    n = len(sources)
    xs = np.full(3 * n, np.nan, dtype=np.float32)
    ys = np.full(3 * n, np.nan, dtype=np.float32)
    xs[0::3], ys[0::3] = x[sources, 0], x[sources, 1]
    xs[1::3], ys[1::3] = x[targets, 0], x[targets, 1]
    return xs, ys


def graph_edges(neighbors: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(sources, targets) of a neighbour table (N, N_s)."""
    neighbors = np.asarray(neighbors)
    sources = np.repeat(np.arange(neighbors.shape[0]), neighbors.shape[1])
    return sources, neighbors.reshape(-1).astype(np.int64)


def crossing_fraction(neighbors: np.ndarray, true_labels: np.ndarray) -> float:
    """Share of graph edges joining different true classes."""
    sources, targets = graph_edges(neighbors)
    true_labels = np.asarray(true_labels)
    return float(np.mean(true_labels[sources] != true_labels[targets])) if len(sources) else 0.0


def edge_traces(x: np.ndarray, neighbors: np.ndarray, true_labels: Optional[np.ndarray], max_edges: int,
                 seed: int) -> List[go.Scatter]:
    """Graph edges as line traces: within a class (grey) and crossing classes (red) when labels are known."""
    sources, targets = graph_edges(neighbors)
    keep = subsample_index(len(sources), max_edges, seed)
    if true_labels is None:
        xs, ys = _edge_segments(x, sources[keep], targets[keep])
        return [scatter_class(len(keep))(x=xs, y=ys, mode="lines", name=f"graph edges ({len(sources)})", hoverinfo="skip",
                             line=dict(color=WITHIN_COLOR, width=1))]
    true_labels = np.asarray(true_labels)
    crossing = true_labels[sources] != true_labels[targets]
    n_cross = int(crossing.sum())
    traces = []
    for mask, name, color in ((~crossing, f"edges within a class ({len(sources) - n_cross})", WITHIN_COLOR),
                              (crossing, f"edges crossing classes ({n_cross})", CROSSING_COLOR)):
        chosen = keep[mask[keep]]
        xs, ys = _edge_segments(x, sources[chosen], targets[chosen])
        traces.append(scatter_class(len(chosen))(x=xs, y=ys, mode="lines", name=name, hoverinfo="skip",
                                   line=dict(color=color, width=1)))
    return traces


def input_plot(x: np.ndarray, labels: Optional[np.ndarray] = None, *, neighbors: Optional[np.ndarray] = None,
               true_labels: Optional[np.ndarray] = None, max_edges: int = 40_000, title: Optional[str] = None,
               label_name: str = "cluster", seed: int = 0, height: int = 520) -> go.Figure:
    """2-D data coloured by ``labels``, with the neighbour graph's edges drawn under the points:
    grey when both ends share a true class, red when an edge crosses classes (needs ``true_labels``).
    At most ``max_edges`` edges are drawn (a fixed random subset); the legend gives the full counts."""
    x = two_columns(x)
    traces: List = []
    if neighbors is not None:
        traces.extend(edge_traces(x, neighbors, true_labels, max_edges, seed))
    traces.extend(cluster_traces(x, labels, label_name, marker_size(len(x))))
    figure = go.Figure(traces)
    figure.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                         xaxis_title="x1", yaxis_title="x2", legend=dict(itemsizing="constant"), uirevision="input")
    figure.update_xaxes(constrain="domain")  # equal units: shrink the plot, never pad the data's range
    figure.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain")
    return figure
