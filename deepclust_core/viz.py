"""Pure Plotly figure builders for the app (no Streamlit here), testable without a browser.

Every builder takes NumPy arrays and returns a ``plotly.graph_objects.Figure``. Point clouds use
``Scattergl`` with typed float32 arrays (sent to the browser as binary, so 70,000 points stay fast);
one trace per cluster so the legend toggles clusters. 2-D embeddings of higher-dimensional latents
come from :func:`embed` (PCA, openTSNE, UMAP), which the caller caches per run and epoch.
"""
from __future__ import annotations

import itertools
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from .errors import InputError
from .metrics import MIXTURE_DIAGNOSTICS

EMBEDDINGS = ("raw", "pca", "tsne", "umap")
METRIC_NAMES = {"acc": "ACC", "nmi": "NMI", "ari": "ARI", "mixture_acc": "ACC of the mixture",
                "mixture_agreement": "f2 = mixture"}
SCORE_KEYS = ("acc", "nmi", "ari") + MIXTURE_DIAGNOSTICS  # the diagnostics drawn dashed
LOSS_TERMS = ("loss", "recon", "kl_z", "kl_c", "entropy")
WITHIN_COLOR = "rgba(120,120,120,0.35)"
CROSSING_COLOR = "rgba(214,39,40,0.85)"
_PALETTE = qualitative.Plotly + qualitative.Dark24 + qualitative.Light24


def palette(n: int) -> List[str]:
    """``n`` distinct colours (cycled beyond 58)."""
    return [_PALETTE[i % len(_PALETTE)] for i in range(max(0, n))]


def label_mapping(predicted: np.ndarray, reference: np.ndarray) -> Dict[int, int]:
    """cluster -> reference label it overlaps most (Hungarian matching, one-to-one); clusters left over
    get numbers after the largest reference label. Used so a cluster and its class share a colour."""
    from scipy.optimize import linear_sum_assignment

    predicted = np.asarray(predicted).ravel()
    reference = np.asarray(reference).ravel()
    clusters, codes = np.unique(predicted, return_inverse=True)
    classes, ref_codes = np.unique(reference, return_inverse=True)
    overlap = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(overlap, (codes, ref_codes), 1)
    rows, cols = linear_sum_assignment(overlap, maximize=True)
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


def _two_columns(points: np.ndarray) -> np.ndarray:
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
        return _two_columns(points), index
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


# ------------------------------------------------------------------------------------------------ scatter

def _cluster_traces(points: np.ndarray, labels: Optional[np.ndarray], label_name: str,
                    marker_size: float) -> List[go.Scattergl]:
    points = _two_columns(points)
    if labels is None:
        return [go.Scattergl(x=points[:, 0], y=points[:, 1], mode="markers", name="points",
                             marker=dict(size=marker_size, color=_PALETTE[0], opacity=0.7), showlegend=False)]
    labels = np.asarray(labels)
    values = np.unique(labels)
    by_value = np.issubdtype(values.dtype, np.integer) and values.min() >= 0  # cluster k keeps colour k
    traces = []
    for position, value in enumerate(values):
        mask = labels == value
        color = _PALETTE[(int(value) if by_value else position) % len(_PALETTE)]
        traces.append(go.Scattergl(
            x=points[mask, 0], y=points[mask, 1], mode="markers", name=f"{label_name} {value}",
            legendgroup=str(value),
            marker=dict(size=marker_size, color=color, opacity=0.7)))
    return traces


def _gmm_traces(gmm: Mapping[str, np.ndarray], n_sigma: float,
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
        color = _PALETTE[colour_of[k] % len(_PALETTE)]
        traces.append(go.Scatter(x=x, y=y, mode="lines", name=f"component {k} ({n_sigma:g}σ)",
                                 line=dict(color=color, width=2, dash="dash"), hoverinfo="name",
                                 legendgroup=f"gmm{k}"))
    traces.append(go.Scatter(x=means[:, 0], y=means[:, 1] if means.shape[1] > 1 else np.zeros(len(means)),
                             mode="markers", name="GMM means",
                             marker=dict(symbol="x", size=12, color="black", line=dict(width=1))))
    return traces


def _marker_size(n_points: int) -> float:
    return 6.0 if n_points <= 2_000 else 4.0 if n_points <= 20_000 else 2.5


def latent_scatter(latent: np.ndarray, labels: Optional[np.ndarray] = None, *,
                   gmm: Optional[Mapping[str, np.ndarray]] = None, n_sigma: float = 2.0,
                   component_colours: Optional[Mapping[int, int]] = None,
                   title: Optional[str] = None, label_name: str = "cluster",
                   axis_titles: Tuple[str, str] = ("z1", "z2"), height: int = 520) -> go.Figure:
    """Latent means (first two dimensions) coloured by ``labels``; GMM components as ``n_sigma``
    ellipses when ``gmm`` (means, variances) is given and the latent is 2-D, component k drawn in the
    colour of label ``component_colours[k]`` (e.g. a :func:`label_mapping`; default k)."""
    points = _two_columns(latent)
    figure = go.Figure(_cluster_traces(points, labels, label_name, _marker_size(len(points))))
    if gmm is not None and np.asarray(gmm["means"]).shape[-1] == 2:
        figure.add_traces(_gmm_traces(gmm, n_sigma, colour_of=component_colours))
    figure.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                         xaxis_title=axis_titles[0], yaxis_title=axis_titles[1], legend=dict(itemsizing="constant"),
                         uirevision="latent")
    figure.update_yaxes(scaleanchor="x", scaleratio=1)
    return figure


def _edge_segments(x: np.ndarray, sources: np.ndarray, targets: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """x/y arrays of line segments separated by NaN (one Scattergl trace draws them all)."""
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


def _edge_traces(x: np.ndarray, neighbors: np.ndarray, true_labels: Optional[np.ndarray], max_edges: int,
                 seed: int) -> List[go.Scattergl]:
    """Graph edges as line traces: within a class (grey) and crossing classes (red) when labels are known."""
    sources, targets = graph_edges(neighbors)
    keep = subsample_index(len(sources), max_edges, seed)
    if true_labels is None:
        xs, ys = _edge_segments(x, sources[keep], targets[keep])
        return [go.Scattergl(x=xs, y=ys, mode="lines", name=f"graph edges ({len(sources)})", hoverinfo="skip",
                             line=dict(color=WITHIN_COLOR, width=1))]
    true_labels = np.asarray(true_labels)
    crossing = true_labels[sources] != true_labels[targets]
    n_cross = int(crossing.sum())
    traces = []
    for mask, name, color in ((~crossing, f"edges within a class ({len(sources) - n_cross})", WITHIN_COLOR),
                              (crossing, f"edges crossing classes ({n_cross})", CROSSING_COLOR)):
        chosen = keep[mask[keep]]
        xs, ys = _edge_segments(x, sources[chosen], targets[chosen])
        traces.append(go.Scattergl(x=xs, y=ys, mode="lines", name=name, hoverinfo="skip",
                                   line=dict(color=color, width=1)))
    return traces


def input_plot(x: np.ndarray, labels: Optional[np.ndarray] = None, *, neighbors: Optional[np.ndarray] = None,
               true_labels: Optional[np.ndarray] = None, max_edges: int = 40_000, title: Optional[str] = None,
               label_name: str = "cluster", seed: int = 0, height: int = 520) -> go.Figure:
    """2-D data coloured by ``labels``, with the neighbour graph's edges drawn under the points:
    grey when both ends share a true class, red when an edge crosses classes (needs ``true_labels``).
    At most ``max_edges`` edges are drawn (a fixed random subset); the legend gives the full counts."""
    x = _two_columns(x)
    traces: List = []
    if neighbors is not None:
        traces.extend(_edge_traces(x, neighbors, true_labels, max_edges, seed))
    traces.extend(_cluster_traces(x, labels, label_name, _marker_size(len(x))))
    figure = go.Figure(traces)
    figure.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                         xaxis_title="x1", yaxis_title="x2", legend=dict(itemsizing="constant"), uirevision="input")
    figure.update_yaxes(scaleanchor="x", scaleratio=1)
    return figure


# ------------------------------------------------------------------------------------------------- curves

def _records_frame(records: Iterable[Mapping], phase: Optional[str]) -> pd.DataFrame:
    frame = pd.DataFrame(list(records))
    if frame.empty:
        return frame
    if phase is not None and "phase" in frame:
        frame = frame[frame["phase"] == phase]
    return frame


def _epoch_ticks(frame: pd.DataFrame) -> Dict:
    """Whole-number epoch ticks (Plotly would put ticks at 0.5 for a handful of epochs)."""
    last = int(frame["epoch"].max()) if len(frame) and "epoch" in frame else 1
    return {"dtick": 1, "tick0": 1} if last < 16 else {}


def _line_mode(frame: pd.DataFrame) -> str:
    return "lines+markers" if len(frame) < 60 else "lines"


def metric_curves(records: Iterable[Mapping], keys: Sequence[str] = SCORE_KEYS,
                  phase: str = "train", title: Optional[str] = None, height: int = 320) -> go.Figure:
    """ACC / NMI / ARI, and DGG's mixture diagnostics when recorded (or any ``keys``), against the epoch."""
    frame = _records_frame(records, phase)
    figure = go.Figure()
    for key in keys:
        if key in frame and frame[key].notna().any():
            figure.add_trace(go.Scatter(x=frame["epoch"].to_numpy(), y=frame[key].to_numpy(dtype=float),
                                        mode=_line_mode(frame), name=METRIC_NAMES.get(key, key),
                                        line=dict(dash="dash" if key in MIXTURE_DIAGNOSTICS else "solid")))
    figure.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                         xaxis=dict(title="epoch", **_epoch_ticks(frame)), yaxis=dict(range=[0, 1.02], title="score"),
                         uirevision="metrics")
    return figure


def loss_curves(records: Iterable[Mapping], keys: Sequence[str] = LOSS_TERMS, phase: str = "train",
                title: Optional[str] = None, height_per_row: int = 150) -> go.Figure:
    """One small panel per loss term (they live on very different scales), sharing the epoch axis."""
    frame = _records_frame(records, phase)
    present = [key for key in keys if key in frame and frame[key].notna().any()]
    rows = max(1, len(present))
    figure = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                           subplot_titles=present or None)
    for row, key in enumerate(present, start=1):
        figure.add_trace(go.Scatter(x=frame["epoch"].to_numpy(), y=frame[key].to_numpy(dtype=float),
                                    mode=_line_mode(frame), name=key, showlegend=False), row=row, col=1)
    figure.update_layout(title=title, height=max(200, height_per_row * rows),
                         margin=dict(l=10, r=10, t=40 if title else 25, b=10), uirevision="losses")
    figure.update_xaxes(title_text="epoch", row=rows, col=1)
    figure.update_xaxes(**_epoch_ticks(frame))
    return figure


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
        for trace in _cluster_traces(background, background_labels, "class", 4.0):
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


# ----------------------------------------------------------------------------------------------- ablation

def format_mean_std(mean: float, std: float, percent: bool = True, digits: int = 2) -> str:
    """"97.58 ± 0.10" (in % by default)."""
    if mean is None or not np.isfinite(mean):
        return "–"
    scale = 100.0 if percent else 1.0
    std = 0.0 if std is None or not np.isfinite(std) else std
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def summarize_ablation(rows: Iterable[Mapping], key: str = "n_neighbors",
                       metrics: Sequence[str] = ("acc", "nmi", "ari")) -> pd.DataFrame:
    """Mean and std (sample std, ddof=1; 0 for one run) of each metric per value of ``key``.

    Rows without a score (queued, running, failed) are ignored for the statistics but counted in
    ``runs``; columns: key, runs, done, <metric>_mean, <metric>_std, <metric> ("mean ± std" in %).
    """
    frame = pd.DataFrame(list(rows))
    columns = [key, "runs", "done"] + [f"{m}_{s}" for m in metrics for s in ("mean", "std")] + list(metrics)
    if frame.empty or key not in frame:
        return pd.DataFrame(columns=columns)
    out = []
    for value, group in frame.groupby(key, sort=True):
        row = {key: value, "runs": len(group)}
        scored = group[metrics[0]].notna() if metrics[0] in group else pd.Series(False, index=group.index)
        row["done"] = int(scored.sum())
        for metric in metrics:
            values = group[metric].dropna().to_numpy(dtype=float) if metric in group else np.array([])
            mean = float(values.mean()) if len(values) else np.nan
            std = float(values.std(ddof=1)) if len(values) > 1 else (0.0 if len(values) else np.nan)
            row.update({f"{metric}_mean": mean, f"{metric}_std": std, metric: format_mean_std(mean, std)})
        out.append(row)
    return pd.DataFrame(out, columns=columns)


def ablation_plot(summary: pd.DataFrame, key: str = "n_neighbors", metrics: Sequence[str] = ("acc",),
                  title: Optional[str] = None, reference: Optional[Mapping[int, float]] = None,
                  x_title: Optional[str] = None, height: int = 380) -> go.Figure:
    """Mean ± std error bars per value of ``key``; optional reference values (e.g. the paper's Table 2)."""
    figure = go.Figure()
    for metric in metrics:
        done = summary[summary[f"{metric}_mean"].notna()] if len(summary) else summary
        figure.add_trace(go.Scatter(
            x=done[key].astype(str).to_numpy() if len(done) else [], y=done[f"{metric}_mean"].to_numpy(dtype=float),
            error_y=dict(type="data", array=done[f"{metric}_std"].to_numpy(dtype=float), visible=True),
            mode="lines+markers", name=METRIC_NAMES.get(metric, metric)))
    if reference:
        figure.add_trace(go.Scatter(x=[str(k) for k in reference], y=list(reference.values()), mode="markers",
                                    name="paper", marker=dict(symbol="diamond-open", size=10, color="black")))
    figure.update_layout(title=title, height=height, xaxis_title=x_title or key, yaxis_title="score",
                         xaxis_type="category", margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return figure


# ------------------------------------------------------------------------------------------------ compare

def compare_figure(panels: Sequence[Dict], *, height: int = 460, n_sigma: float = 2.0) -> go.Figure:
    """Side-by-side scatter panels sharing one legend. Each panel: title, points (n, >=2), labels
    (optional), gmm (optional means/variances, drawn as ellipses for 2-D points) with component_colours
    (as in :func:`latent_scatter`), neighbors and true_labels (optional graph edges, as in :func:`input_plot`)."""
    figure = make_subplots(rows=1, cols=max(1, len(panels)), subplot_titles=[p.get("title", "") for p in panels],
                           horizontal_spacing=0.05)
    in_legend = set()
    for column, panel in enumerate(panels, start=1):
        points = _two_columns(panel["points"])
        traces: List = []
        if panel.get("neighbors") is not None:
            traces += _edge_traces(points, panel["neighbors"], panel.get("true_labels"), 40_000, 0)
        traces += _cluster_traces(points, panel.get("labels"), panel.get("label_name", "cluster"),
                                  _marker_size(len(points)))
        gmm = panel.get("gmm")
        if gmm is not None and np.asarray(gmm["means"]).shape[-1] == 2:
            traces += _gmm_traces(gmm, n_sigma, colour_of=panel.get("component_colours"))
        for trace in traces:
            kind = trace.name.split(" (")[0]  # edge counts differ between panels; one legend entry per kind
            trace.showlegend = kind not in in_legend
            in_legend.add(kind)
            figure.add_trace(trace, row=1, col=column)
    figure.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), legend=dict(itemsizing="constant"))
    return figure


def runs_curves(series: Mapping[str, Iterable[Mapping]], key: str = "acc", phase: str = "train",
                title: Optional[str] = None, height: int = 320) -> go.Figure:
    """One metric (e.g. ACC) against the epoch for several runs, one line each."""
    figure = go.Figure()
    for name, records in series.items():
        frame = _records_frame(records, phase)
        if key in frame and frame[key].notna().any():
            figure.add_trace(go.Scatter(x=frame["epoch"].to_numpy(), y=frame[key].to_numpy(dtype=float),
                                        mode=_line_mode(frame), name=name))
    figure.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                         xaxis_title="epoch", yaxis_title=METRIC_NAMES.get(key, key), uirevision="runs_curves")
    return figure
