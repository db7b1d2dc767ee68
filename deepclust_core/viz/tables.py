"""Sweeps and comparisons: the N_s ablation table and plot (paper Table 2), side-by-side panels (Fig. 1)."""
from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..metrics import mean_std
from .base import METRIC_NAMES, two_columns
from .points import cluster_traces, edge_traces, gmm_traces, marker_size


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
            stats = mean_std(group[metric].tolist() if metric in group else [])
            mean = np.nan if stats["mean"] is None else stats["mean"]
            std = np.nan if not stats["n"] else (stats["std"] or 0.0)
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
        points = two_columns(panel["points"])
        traces: List = []
        if panel.get("neighbors") is not None:
            traces += edge_traces(points, panel["neighbors"], panel.get("true_labels"), 40_000, 0)
        traces += cluster_traces(points, panel.get("labels"), panel.get("label_name", "cluster"),
                                  marker_size(len(points)))
        gmm = panel.get("gmm")
        if gmm is not None and np.asarray(gmm["means"]).shape[-1] == 2:
            traces += gmm_traces(gmm, n_sigma, colour_of=panel.get("component_colours"))
        for trace in traces:
            kind = trace.name.split(" (")[0]  # edge counts differ between panels; one legend entry per kind
            trace.showlegend = kind not in in_legend
            in_legend.add(kind)
            figure.add_trace(trace, row=1, col=column)
    figure.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), legend=dict(itemsizing="constant"))
    return figure
