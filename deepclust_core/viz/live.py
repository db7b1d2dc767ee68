"""Figures of the Playground's live views (pure: NumPy in, Plotly figure out): the data coloured by predicted
cluster over the decision regions, the latent space with the mixture's ellipses in any dimension (projected
when the latent is wider than 2-D), the graph edges that join two predicted clusters, one point's neighbours and
γ, and a replay of the snapshots with a slider and a play button."""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import plotly.graph_objects as go

from .base import CROSSING_COLOR, LEGEND_ABOVE, PALETTE, WITHIN_COLOR, scatter_class, two_columns
from .points import _edge_segments, cluster_traces, graph_edges, marker_size

REGION_OPACITY = 0.22


# ------------------------------------------------------------------------------------------------ geometry

def cross_cluster_edges(neighbors: np.ndarray, predicted: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(sources, targets) of the graph edges whose two ends are in different predicted clusters."""
    sources, targets = graph_edges(neighbors)
    predicted = np.asarray(predicted)
    crossing = predicted[sources] != predicted[targets]
    return sources[crossing], targets[crossing]


def projection(latent: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(mean (M,), basis (M, 2)) of the 2-D view of a latent: its first two axes when M <= 2, else its first
    two principal axes (PCA by SVD, deterministic signs)."""
    latent = np.asarray(latent, dtype=np.float64)
    dims = latent.shape[1]
    if dims <= 2:
        basis = np.eye(dims, 2)
        return np.zeros(dims), basis
    mean = latent.mean(axis=0)
    _, _, vt = np.linalg.svd(latent - mean, full_matrices=False)
    basis = vt[:2].T
    basis *= np.sign(basis[np.abs(basis).argmax(axis=0), [0, 1]])  # largest loading positive
    return mean, basis


def projected_ellipse(mean: np.ndarray, variance: np.ndarray, centre: np.ndarray, basis: np.ndarray,
                      n_sigma: float = 2.0, n_points: int = 72) -> Tuple[np.ndarray, np.ndarray]:
    """The n-sigma ellipse of the diagonal Gaussian N(mean, diag(variance)) seen through ``basis``
    (its 2x2 covariance Bᵀ diag(s²) B, drawn along its eigenvectors)."""
    variance = np.asarray(variance, dtype=np.float64)
    covariance = basis.T @ (variance[:, None] * basis)
    values, vectors = np.linalg.eigh(covariance)
    angle = np.linspace(0.0, 2.0 * np.pi, n_points)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    points = vectors @ (n_sigma * np.sqrt(np.clip(values, 0.0, None))[:, None] * circle)
    centre_2d = (np.asarray(mean, dtype=np.float64) - centre) @ basis
    return centre_2d[0] + points[0], centre_2d[1] + points[1]


# ------------------------------------------------------------------------------------------------ figures

def with_rows(traces: List, predicted: Optional[np.ndarray], n: int, rows: Optional[np.ndarray] = None) -> List:
    """Give the per-cluster traces of :func:`cluster_traces` each point's row (``customdata``), so a click
    tells which point it was; ``rows`` (n,) are the rows of the points drawn when they are a subset."""
    for trace in traces:
        mask = np.ones(n, bool) if predicted is None else np.asarray(predicted) == int(trace.name.split()[-1])
        trace.customdata = np.flatnonzero(mask) if rows is None else np.asarray(rows)[mask]
        trace.hovertemplate = "point %{customdata}<extra>%{fullData.name}</extra>"
    return traces


def _region_trace(grid_labels: np.ndarray, extent: Sequence[float]) -> go.Heatmap:
    grid_labels = np.asarray(grid_labels)
    size_y, size_x = grid_labels.shape
    n_colours = int(grid_labels.max()) + 1 if grid_labels.size else 1
    colours = [PALETTE[k % len(PALETTE)] for k in range(n_colours)]
    if n_colours == 1:
        scale = [[0.0, colours[0]], [1.0, colours[0]]]
    else:  # a step colour scale: value k gets exactly colour k
        scale = []
        for k, colour in enumerate(colours):
            scale += [[k / n_colours, colour], [(k + 1) / n_colours, colour]]
    return go.Heatmap(z=grid_labels.astype(np.float32), x=np.linspace(extent[0], extent[1], size_x),
                      y=np.linspace(extent[2], extent[3], size_y), colorscale=scale, zmin=-0.5,
                      zmax=n_colours - 0.5, showscale=False, opacity=REGION_OPACITY, hoverinfo="skip",
                      name="decision regions")


def data_view(x: np.ndarray, predicted: Optional[np.ndarray] = None, *, grid_labels: Optional[np.ndarray] = None,
              extent: Optional[Sequence[float]] = None, neighbors: Optional[np.ndarray] = None,
              title: Optional[str] = None, height: int = 420, selected: Optional[int] = None,
              rows: Optional[np.ndarray] = None) -> go.Figure:
    """2-D data coloured by predicted cluster, the decision regions (the predicted cluster on a grid) behind
    it, and, with the graph's ``neighbors``, the edges that join two predicted clusters (red). Without
    ``predicted`` it is the data as loaded (one colour). ``selected`` rings one point. ``rows`` draws only
    those points (the edges still count them all); a click reports the row in ``x`` either way."""
    x = two_columns(x)
    traces: List = []
    if grid_labels is not None and extent is not None:
        traces.append(_region_trace(grid_labels, extent))
    n_cross = None
    if neighbors is not None and predicted is not None:
        sources, targets = cross_cluster_edges(neighbors, predicted)
        n_cross = len(sources)
        xs, ys = _edge_segments(x, sources, targets)
        traces.append(scatter_class(n_cross)(x=xs, y=ys, mode="lines", name=f"edges across clusters ({n_cross})",
                                   hoverinfo="skip", line=dict(color=CROSSING_COLOR, width=1)))
    shown = x if rows is None else x[rows]
    shown_predicted = predicted if rows is None or predicted is None else np.asarray(predicted)[rows]
    traces += with_rows(cluster_traces(shown, shown_predicted, "cluster", marker_size(len(shown))), shown_predicted,
                        len(shown), rows)
    if selected is not None:
        traces.append(go.Scatter(x=[x[selected, 0]], y=[x[selected, 1]], mode="markers", name=f"point {selected}",
                                 marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(color="black", width=2))))
    figure = go.Figure(traces)
    figure.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                         xaxis_title="x1", yaxis_title="x2", legend=LEGEND_ABOVE,
                         uirevision="data", clickmode="event+select")
    figure.update_xaxes(constrain="domain")  # equal units: shrink the plot, never pad the data's range
    figure.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain")
    return figure


def latent_view(latent: np.ndarray, predicted: Optional[np.ndarray] = None, *,
                gmm: Optional[Mapping[str, np.ndarray]] = None, basis: Optional[Tuple[np.ndarray, np.ndarray]] = None,
                n_sigma: float = 2.0, title: Optional[str] = None, height: int = 420,
                rows: Optional[np.ndarray] = None) -> go.Figure:
    """Latent means coloured by predicted cluster with the mixture's ``n_sigma`` ellipses (component k in
    colour k), raw when 2-D, else on a PCA plane (pass ``basis`` = :func:`projection` to keep one plane
    across epochs). ``rows`` draws only those points (the plane still comes from all of them)."""
    latent = np.asarray(latent, dtype=np.float64)
    centre, axes = basis if basis is not None else projection(latent)
    points = (latent - centre) @ axes if latent.shape[1] > 2 else two_columns(latent).astype(np.float64)
    if rows is not None:
        points = points[rows]
        predicted = None if predicted is None else np.asarray(predicted)[rows]
    traces: List = with_rows(cluster_traces(points.astype(np.float32), predicted, "cluster",
                                            marker_size(len(points))), predicted, len(points), rows)
    if gmm is not None:
        means, variances = np.asarray(gmm["means"]), np.asarray(gmm["variances"])
        for k, (mean, variance) in enumerate(zip(means, variances)):
            if latent.shape[1] <= 2:  # raw axes (a 1-D latent drawn on y = 0)
                mean, variance = np.pad(mean, (0, 2 - len(mean))), np.pad(variance, (0, 2 - len(variance)))
                ex, ey = projected_ellipse(mean, variance, np.zeros(2), np.eye(2), n_sigma)
            else:
                ex, ey = projected_ellipse(mean, variance, centre, axes, n_sigma)
            traces.append(go.Scatter(x=ex, y=ey, mode="lines", name=f"component {k} ({n_sigma:g}σ)",
                                     line=dict(color=PALETTE[k % len(PALETTE)], width=2, dash="dash"),
                                     hoverinfo="name"))
    axis = ("z1", "z2") if latent.shape[1] <= 2 else ("PC1 of the latent", "PC2 of the latent")
    figure = go.Figure(traces)
    figure.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                         xaxis_title=axis[0], yaxis_title=axis[1], legend=LEGEND_ABOVE,
                         uirevision="latent")
    figure.update_xaxes(constrain="domain")  # equal units: shrink the plot, never pad the data's range
    figure.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain")
    return figure


def neighbour_view(x: np.ndarray, point: int, neighbors: np.ndarray, weights: Optional[np.ndarray] = None,
                   predicted: Optional[np.ndarray] = None, recon: Optional[np.ndarray] = None,
                   height: int = 360) -> go.Figure:
    """One point of 2-D data, its graph neighbours (lines, thicker for a larger weight w_ij) and, when given,
    its reconstruction g(μ(x)) (a diamond joined to the point)."""
    x = two_columns(x)
    figure = go.Figure(cluster_traces(x, predicted, "cluster", marker_size(len(x))))
    for trace in figure.data:
        trace.marker.opacity = 0.25
    row = np.asarray(neighbors)[point]
    w = np.ones(len(row)) if weights is None else np.asarray(weights)[point]
    w = w / (w.max() if len(w) and w.max() > 0 else 1.0)
    for j, weight in zip(row, w):
        figure.add_trace(go.Scatter(x=[x[point, 0], x[j, 0]], y=[x[point, 1], x[j, 1]], mode="lines",
                                    line=dict(color=WITHIN_COLOR.replace("0.35", "0.9"), width=1 + 3 * weight),
                                    hoverinfo="skip", showlegend=False))
    figure.add_trace(go.Scatter(x=x[row, 0], y=x[row, 1], mode="markers", name=f"its {len(row)} neighbours",
                                marker=dict(size=9, color="black", symbol="circle-open")))
    figure.add_trace(go.Scatter(x=[x[point, 0]], y=[x[point, 1]], mode="markers", name=f"point {point}",
                                marker=dict(size=14, color="black", symbol="star")))
    if recon is not None:
        recon = np.asarray(recon, dtype=np.float64).ravel()[:2]
        figure.add_trace(go.Scatter(x=[x[point, 0], recon[0]], y=[x[point, 1], recon[1]], mode="lines+markers",
                                    name="its reconstruction g(μ(x))", line=dict(color="black", dash="dot"),
                                    marker=dict(symbol=["star", "diamond"], size=[1, 12], color="black")))
    figure.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), legend=dict(itemsizing="constant"))
    figure.update_xaxes(constrain="domain")  # equal units: shrink the plot, never pad the data's range
    figure.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain")
    return figure


def gamma_bars(gamma: np.ndarray, height: int = 220) -> go.Figure:
    """One point's cluster probabilities γ_k = q(c=k|x), a bar per cluster in its colour."""
    gamma = np.asarray(gamma, dtype=np.float64).ravel()
    figure = go.Figure(go.Bar(x=[f"cluster {k}" for k in range(len(gamma))], y=gamma,
                              marker_color=[PALETTE[k % len(PALETTE)] for k in range(len(gamma))],
                              text=[f"{g:.3f}" for g in gamma], textposition="auto"))
    figure.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), yaxis=dict(range=[0, 1], title="γ"))
    return figure


def replay_figure(frames: Sequence[Mapping], *, title: Optional[str] = None, height: int = 460,
                  frame_ms: int = 300) -> go.Figure:
    """A replay over a run's snapshots: one Plotly frame per snapshot (``epoch``, ``points`` (n, 2),
    ``predicted``), with a slider over the epochs and Play / Pause buttons (played in the browser, no rerun).
    Every frame draws one trace per cluster present in any frame, so colours stay fixed."""
    if not frames:
        return go.Figure()
    clusters = np.unique(np.concatenate([np.asarray(f["predicted"]) for f in frames]))
    all_points = np.concatenate([two_columns(f["points"]) for f in frames])
    low, high = all_points.min(axis=0), all_points.max(axis=0)
    pad = (high - low) * 0.05 + 1e-6

    def traces(frame) -> List[go.Scatter]:
        points, predicted = two_columns(frame["points"]), np.asarray(frame["predicted"])
        return [scatter_class(len(points))(x=points[predicted == k, 0], y=points[predicted == k, 1], mode="markers",
                             name=f"cluster {k}", marker=dict(size=marker_size(len(points)),
                                                              color=PALETTE[int(k) % len(PALETTE)], opacity=0.7))
                for k in clusters]

    plotly_frames = [go.Frame(data=traces(f), name=str(int(f["epoch"]))) for f in frames]
    steps = [dict(method="animate", label=str(int(f["epoch"])),
                  args=[[str(int(f["epoch"]))], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                                     transition=dict(duration=0))]) for f in frames]
    play = dict(label="Play", method="animate",
                args=[None, dict(frame=dict(duration=frame_ms, redraw=True), fromcurrent=True,
                                 transition=dict(duration=0))])
    pause = dict(label="Pause", method="animate",
                 args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False))])
    figure = go.Figure(data=traces(frames[0]), frames=plotly_frames)
    figure.update_layout(
        title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        xaxis=dict(range=[low[0] - pad[0], high[0] + pad[0]], autorange=False),
        yaxis=dict(range=[low[1] - pad[1], high[1] + pad[1]], autorange=False),
        updatemenus=[dict(type="buttons", direction="left", x=0.0, y=-0.08, xanchor="left", yanchor="top",
                          showactive=False, buttons=[play, pause])],
        sliders=[dict(active=0, steps=steps, x=0.15, len=0.85, y=-0.04, currentvalue=dict(prefix="epoch "))])
    return figure


def replay_frames(snapshots: Sequence[Mapping], view: str = "data", inputs: Optional[np.ndarray] = None) -> List[Dict]:
    """Frames for :func:`replay_figure` from snapshots (epoch, index, latent, predicted): the inputs (2-D data,
    ``view="data"``) or the latent on one PCA plane for all epochs (``view="latent"``)."""
    frames = []
    if view == "latent" and snapshots:
        basis = projection(np.asarray(snapshots[-1]["latent"]))
    for snap in snapshots:
        if "predicted" not in snap:
            continue
        if view == "data" and inputs is not None:
            points = np.asarray(inputs)[np.asarray(snap["index"])]
        else:
            latent = np.asarray(snap["latent"], dtype=np.float64)
            points = (latent - basis[0]) @ basis[1] if latent.shape[1] > 2 else latent
        frames.append({"epoch": int(snap["epoch"]), "points": points, "predicted": snap["predicted"]})
    return frames
