"""The Playground's views of data and runs: the chosen data before any run, a run's live panels (data over its
decision regions with the edges that join two clusters, the latent with the mixture's ellipses, scores and
losses), a clicked point's neighbours, γ and reconstruction, and the replay after the run. Figures come from
:mod:`deepclust_core.viz`; files are read through :mod:`.readers`."""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, Hashable, Optional

import numpy as np
import streamlit as st

from deepclust_core import DeepClustError, store, viz
from deepclust_core.datasets import load_dataset

from . import readers

PREVIEW_IMAGES_PER_CLASS = 8
PREVIEW_MAX_POINTS = 5_000
# While a run trains, its data and latent views draw at most this many points (a fixed subset; all of the
# snapshot's once it ends) and are rebuilt at most every LIVE_FIGURE_SECONDS. Every chart that changes costs the
# browser a redraw (0.25-0.5 s of CPU each without a GPU), on the cores the run trains on.
LIVE_MAX_POINTS = 500
LIVE_FIGURE_SECONDS = 3.0
KEY_FIGURES, KEY_SHOWN = "live.figures", "live.shown"


@st.cache_resource(max_entries=4, show_spinner="Loading the data…")
def _dataset(name: str, options: tuple):
    return load_dataset(name, **dict(options))


def data_preview(config: Optional[Dict[str, Any]]) -> None:
    """The chosen data as loaded, before any run: points (2-D), a grid of images, or a PCA of the rest."""
    if config is None:
        st.info("Fix the set-up on the left to see the data.")
        return
    try:
        data = _dataset(config["dataset"], tuple(sorted(config["dataset_options"].items())))
    except DeepClustError as exc:
        st.warning(f"The data cannot be shown before a run: {exc}")
        return
    x, y = data.x, data.y
    title = f"{config['dataset']}: {len(x):,} samples × {x.shape[1]} features" + (" (coloured by class)" if y is not
                                                                                   None else "")
    if data.kind == "image" and data.image_shape:
        classes = np.unique(y) if y is not None else np.array([0])
        rows = [x[np.flatnonzero(y == c)[:PREVIEW_IMAGES_PER_CLASS]] if y is not None else
                x[:PREVIEW_IMAGES_PER_CLASS] for c in classes]
        rows = [r for r in rows if len(r) == PREVIEW_IMAGES_PER_CLASS]
        if rows:
            st.plotly_chart(viz.image_grid(np.stack(rows), tuple(data.image_shape), title=title,
                                           row_labels=[f"class {c}" for c in classes[:len(rows)]]), key="play.preview")
            return
    index = viz.subsample_index(len(x), PREVIEW_MAX_POINTS)
    points = x[index] if x.shape[1] <= 2 else viz.embed(x[index], "pca")[0]
    table, spec = viz.points_preview(points, None if y is None else y[index], title=title,
                                     axis_titles=("x1", "x2") if x.shape[1] <= 2 else ("PC1", "PC2"))
    st.vega_lite_chart(table, spec, key="play.preview", width="content")


def latest_snapshot(run: store.Run) -> Optional[Dict[str, np.ndarray]]:
    epochs = run.folder.snapshot_epochs()
    return readers.snapshot(run, epochs[-1]) if epochs else None


def _selected_row(event) -> Optional[int]:
    try:
        points = event.selection.points if hasattr(event, "selection") else event["selection"]["points"]
    except (KeyError, TypeError, AttributeError):
        return None
    for point in points or []:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if isinstance(data, (int, float)):
            return int(data)
    return None


def _status_line(run: store.Run) -> str:
    progress = run.progress
    if run.state == "queued":
        return "queued: waiting for a free worker slot"
    if not progress:
        return f"{run.state}: loading the data and the model…" if run.active else run.state
    text = f"{run.state} · {progress.get('phase')} epoch {progress.get('epoch')}/{progress.get('n_epochs')}"
    if run.state == "running" and progress.get("phase") == "pretrain" and progress.get("epoch") == progress.get(
            "n_epochs"):
        text += " · fitting the mixture (and graph, classifier)…"
    return text


def live_figure(key: str, version: Hashable, build: Callable[[], Any], throttle: bool = False) -> Any:
    """Chart ``key``'s figure: built again when ``version`` changed (with ``throttle``, at most every
    LIVE_FIGURE_SECONDS); otherwise the figure drawn last time, which Streamlit sends unchanged and the browser
    does not redraw."""
    cache = st.session_state.setdefault(KEY_FIGURES, {})
    entry, now = cache.get(key), time.monotonic()
    if entry is not None and (entry[0] == version or (throttle and now - entry[1] < LIVE_FIGURE_SECONDS)):
        return entry[2]
    figure = build()
    cache[key] = (version, now, figure)
    return figure


def shown_snapshot_epoch(run: store.Run, epochs) -> Optional[int]:
    """The snapshot epoch the views draw: the newest, except that while the run trains freely the views move
    on at most every LIVE_FIGURE_SECONDS (paused, stepped and ended runs show their newest at once)."""
    if not epochs:
        return None
    shown, now = st.session_state.setdefault(KEY_SHOWN, {}), time.monotonic()
    previous = shown.get(run.id)
    if (run.state == "running" and previous is not None and previous[0] in epochs
            and now - previous[1] < LIVE_FIGURE_SECONDS):
        return previous[0]
    if previous is None or previous[0] != epochs[-1]:
        shown[run.id] = (epochs[-1], now)
    return epochs[-1]


def run_panels(run: store.Run, key: str, compact: bool = False) -> Optional[int]:
    """The live panels of one run; returns the row of a clicked point (in the snapshot), if any."""
    epoch = shown_snapshot_epoch(run, run.folder.snapshot_epochs())
    snapshot = readers.snapshot(run, epoch) if epoch is not None else None
    records = store.read_metrics(run.path)
    train = [r for r in records if r.get("phase") == "train"]
    shown_epoch = int(snapshot["epoch"]) if snapshot is not None else None
    version = (run.id, run.active, shown_epoch)
    st.markdown(f"**{run.config.get('method', '?')}** · {_status_line(run)}"
                + (f" · view of epoch {shown_epoch}" if shown_epoch is not None else ""))
    if train and not compact:
        last = train[-1]
        cols = st.columns(4)
        for col, name in zip(cols, ("acc", "nmi", "loss", "clusters_used")):
            value = last.get(name)
            col.metric(name.upper() if name in ("acc", "nmi") else name.replace("_", " "),
                       "–" if value is None else f"{value:.4g}")
    clicked = None
    inputs = readers.artifact(run, "inputs")
    graph = readers.artifact(run, "graph")
    left, right = st.columns(2) if not compact else (st.container(), st.container())
    if snapshot is not None and "predicted" in snapshot:
        index, predicted = snapshot["index"], snapshot["predicted"]
        rows = viz.subsample_index(len(index), LIVE_MAX_POINTS) if run.active else None
        shown = "" if rows is None or len(rows) == len(index) else f" ({len(rows):,} of {len(index):,} points)"
        with left:
            if inputs is not None:
                whole = len(index) == len(inputs["x"])
                figure = live_figure(f"{key}.data", version, lambda: viz.data_view(
                    inputs["x"][index], predicted, grid_labels=snapshot.get("grid_labels"),
                    extent=snapshot.get("grid_extent"), rows=rows,
                    neighbors=graph["indices"] if graph is not None and whole else None,
                    title="Data by predicted cluster, decision regions"
                          + (", edges across clusters" if graph is not None else "") + shown))
                event = st.plotly_chart(figure, key=f"{key}.data", on_select="rerun", selection_mode="points")
                clicked = _selected_row(event)
        with right:
            gmm = ({"means": snapshot["gmm_means"], "variances": snapshot["gmm_variances"]}
                   if "gmm_means" in snapshot else None)
            figure = live_figure(f"{key}.latent", version, lambda: viz.latent_view(
                snapshot["latent"], predicted, gmm=gmm, rows=rows,
                title="Latent space μ(x) and the mixture (2σ)" + shown))
            event = st.plotly_chart(figure, key=f"{key}.latent", on_select="rerun", selection_mode="points")
            clicked = _selected_row(event) if clicked is None else clicked
    elif inputs is None and not train:
        st.caption("The views appear with the first training epoch (after pretraining).")
    if not compact:
        left, right = st.columns(2)
        if train:
            curves = (run.id, run.active, len(train))
            left.plotly_chart(live_figure(f"{key}.scores", curves, lambda: viz.metric_curves(
                train, keys=("acc", "nmi"), title="ACC / NMI"), throttle=run.state == "running"), key=f"{key}.scores")
            right.plotly_chart(live_figure(f"{key}.losses", curves, lambda: viz.loss_curves(
                train, title="Loss terms"), throttle=run.state == "running"), key=f"{key}.losses")
        elif records:
            left.plotly_chart(viz.loss_curves(records, keys=("loss",), phase="pretrain", title="Pretraining loss"),
                              key=f"{key}.pretrain")
    return clicked


def point_details(run: store.Run, row: int) -> None:
    """A clicked point: its graph neighbours, its γ, its reconstruction (a point or an image), from the snapshot
    the views show (every snapshot of a run holds the same rows)."""
    shown = st.session_state.get(KEY_SHOWN, {}).get(run.id)
    snapshot = readers.snapshot(run, shown[0]) if shown is not None else None
    snapshot = snapshot if snapshot is not None else latest_snapshot(run)
    if snapshot is None or row >= len(snapshot["index"]):
        return
    data_row = int(snapshot["index"][row])
    st.markdown(f"#### Point {data_row} (epoch {int(snapshot['epoch'])})")
    inputs, graph = readers.artifact(run, "inputs"), readers.artifact(run, "graph")
    recon = None
    if "recon" in snapshot and "recon_rows" in snapshot:
        where = np.flatnonzero(snapshot["recon_rows"] == row)
        recon = snapshot["recon"][where[0]] if len(where) else None
    left, right = st.columns([3, 2])
    with left:
        if inputs is not None:
            neighbors = graph["indices"] if graph is not None else np.empty((len(inputs["x"]), 0), np.int64)
            weights = graph["weights"] if graph is not None else None
            whole = len(snapshot["index"]) == len(inputs["x"])
            st.plotly_chart(viz.neighbour_view(inputs["x"], data_row, neighbors, weights,
                                               snapshot["predicted"] if whole else None, recon=recon),
                            key="play.point.neighbours")
        if graph is not None:
            row_n = graph["indices"][data_row]
            st.caption(f"Its {len(row_n)} graph neighbours: " + ", ".join(str(int(j)) for j in row_n[:40])
                       + (" …" if len(row_n) > 40 else "") + ". Weights w_ij: "
                       + ", ".join(f"{w:.2f}" for w in graph["weights"][data_row][:10]) + (" …" if len(row_n) > 10
                                                                                           else ""))
        else:
            st.caption("This method has no neighbour graph (VaDE: N_s = 0).")
        image_shape = (run.data or {}).get("image_shape")
        if recon is not None and image_shape and inputs is None:
            original = _original_image(run, data_row)
            tiles = [original, recon] if original is not None else [recon]
            st.plotly_chart(viz.image_grid(np.stack([np.stack(tiles)]).astype(np.float32), tuple(image_shape),
                                           col_labels=["x", "g(μ(x))"][-len(tiles):]), key="play.point.recon")
    with right:
        if "gamma" in snapshot:
            st.markdown("Cluster probabilities γ = q(c|x)")
            st.plotly_chart(viz.gamma_bars(snapshot["gamma"][row]), key="play.point.gamma")
        if recon is not None and inputs is not None:
            st.caption(f"x = ({inputs['x'][data_row][0]:.3f}, {inputs['x'][data_row][1]:.3f}), its reconstruction "
                       f"g(μ(x)) = ({recon[0]:.3f}, {recon[1]:.3f}).")


def _original_image(run: store.Run, data_row: int) -> Optional[np.ndarray]:
    config = run.config or {}
    try:
        data = _dataset(config["dataset"], tuple(sorted((config.get("dataset_options") or {}).items())))
    except (DeepClustError, KeyError):
        return None
    return data.x[data_row] if data_row < len(data.x) else None


def replay(run: store.Run, key: str) -> None:
    """After a run: its snapshots as an animation (slider and Play), in the data plane for 2-D data."""
    epochs = run.folder.snapshot_epochs()
    snapshots = [s for s in (readers.snapshot(run, e) for e in epochs) if s is not None]
    if len(snapshots) < 2:
        return
    inputs = readers.artifact(run, "inputs")
    view = "data" if inputs is not None else "latent"
    frames = viz.replay_frames(snapshots, view, None if inputs is None else inputs["x"])
    st.plotly_chart(viz.replay_figure(frames, title=f"Replay: {'the data' if view == 'data' else 'the latent'} "
                                                    f"over {len(frames)} snapshots (press Play or drag)"),
                    key=f"{key}.replay")
