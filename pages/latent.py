"""Latent space: the latent means of a run at any snapshot epoch, with its GMM components, and for 2-D
data the input space with the neighbour graph (edges that cross the true classes in red)."""
import numpy as np
import streamlit as st

from deepclust_core import store, viz
from pages.ui.guard import page
from pages.ui.pickers import all_runs, pick_run, show_run_state
from pages.ui import readers


def body() -> None:
    st.title("Latent space")
    candidates = [run for run in all_runs() if store.list_snapshots(run.path) or readers.has_artifact(run, "inputs")]
    run = pick_run(candidates, key="latent.pick",
                   empty="No run has a latent snapshot yet: start a deep method on the Train page.")
    if run is None:
        return
    show_run_state(run)
    epochs = store.list_snapshots(run.path)
    if not epochs:  # k-means, GMM, spectral: no latent space, but 2-D data can still be shown
        st.caption("This method has no latent space; its clusters are shown in the data space.")
        final = readers.artifact(run, "labels")
        if final is not None:
            colour_by = st.radio("Colour by", ["predicted cluster", "true class"] if "true" in final else
                                 ["predicted cluster"], horizontal=True, key="latent.colour")
            _input_space(run, {"predicted": final["labels"], "index": np.arange(len(final["labels"])),
                               **({"true": final["true"]} if "true" in final else {})}, colour_by)
        return
    controls = st.columns([3, 2, 2])
    epoch = controls[0].select_slider("Epoch", options=epochs, value=epochs[-1], key=f"latent.epoch.{run.id}") \
        if len(epochs) > 1 else epochs[0]
    snapshot = readers.snapshot(run, epoch)
    if snapshot is None:
        st.warning(f"The snapshot of epoch {epoch} cannot be read (damaged or being written).")
        return
    has_true = "true" in snapshot
    colour_by = controls[1].radio("Colour by", ["predicted cluster", "true class"] if has_true else
                                  ["predicted cluster"], horizontal=True, key="latent.colour")
    latent = snapshot["latent"]
    facet = _facet_choice(run, latent.shape[1])
    if facet is not None:  # a latent-tree VAE: one facet's own dimensions, coloured by its own partition
        dims, facet_labels = facet
        latent = latent[:, dims]
        if colour_by == "predicted cluster" and _fits(snapshot.get("index"), len(facet_labels)):
            snapshot = {**snapshot, "predicted": facet_labels[snapshot["index"]]}
            snapshot.pop("gmm_means", None)
    views = (["raw", "pca"] if facet is not None else ["raw", "pca", "tsne", "umap"]) if latent.shape[1] <= 2 \
        else (["pca", "raw"] if facet is not None else ["pca", "tsne", "umap", "raw"])
    view = controls[2].selectbox("View", views, key=f"latent.view.{latent.shape[1]}",
                                 format_func=lambda v: {"raw": "raw (z1, z2)", "pca": "PCA", "tsne": "t-SNE",
                                                        "umap": "UMAP"}[v],
                                 help="t-SNE and UMAP use at most 10,000 points and are cached per epoch "
                                      "(UMAP's first use in a server also compiles for about a minute).")
    coords, index = readers.embedding(run, epoch, view, latent)
    labels = _labels(snapshot, colour_by)
    labels = None if labels is None else labels[index]
    gmm = None
    if view == "raw" and latent.shape[1] == 2 and "gmm_means" in snapshot:
        gmm = {"means": snapshot["gmm_means"], "variances": snapshot["gmm_variances"]}
    name = "class" if colour_by == "true class" else "cluster"
    axes = {"raw": ("z1", "z2"), "pca": ("PC 1", "PC 2"), "tsne": ("t-SNE 1", "t-SNE 2"), "umap": ("UMAP 1", "UMAP 2")}
    st.plotly_chart(viz.latent_scatter(coords, labels, gmm=gmm, label_name=name, axis_titles=axes[view],
                                       component_colours=_component_colours(snapshot),
                                       title=f"Latent means at epoch {epoch} ({len(coords):,} points, {view})"),
                    key="latent.scatter")
    if latent.shape[1] > 2 and view == "raw":
        st.caption(f"Showing the first 2 of {latent.shape[1]} latent dimensions.")
    _input_space(run, snapshot, colour_by)


def _facet_choice(run, latent_dim: int):
    """For a run with facets (LTVAE): the chosen facet's (latent dimensions, final labels), or None for the
    whole latent and the run's own labels."""
    samples = readers.artifact(run, "samples")
    if samples is None or "n_facets" not in samples:
        return None
    facets = [b for b in range(int(samples["n_facets"])) if {f"facet{b}_dims", f"facet{b}_labels"} <= set(samples)
              and len(samples[f"facet{b}_dims"]) and int(np.max(samples[f"facet{b}_dims"])) < latent_dim]
    choice = st.selectbox(
        "Partition", [None, *facets], key=f"latent.facet.{run.id}",
        format_func=lambda b: "all latent dimensions, the run's labels (facet 0)" if b is None else
        f"facet {b}: {len(np.unique(samples[f'facet{b}_labels']))} states on "
        + ", ".join(f"z{d + 1}" for d in samples[f"facet{b}_dims"]),
        help="A latent-tree VAE partitions the data several ways, each facet on its own latent dimensions. "
             "A facet's view shows only its dimensions, coloured by its states at the end of the run.")
    if choice is None:
        return None
    return np.asarray(samples[f"facet{choice}_dims"], dtype=np.int64), np.asarray(samples[f"facet{choice}_labels"])


def _component_colours(snapshot):
    """Component k is drawn in the colour its cluster gets once matched to the true classes."""
    if "predicted" in snapshot and "true" in snapshot:
        return viz.label_mapping(snapshot["predicted"], snapshot["true"])
    return None


def _labels(snapshot, colour_by: str):
    if colour_by == "true class" and "true" in snapshot:
        return snapshot["true"]
    if "predicted" not in snapshot:
        return snapshot.get("true")
    predicted = snapshot["predicted"]
    return viz.align_labels(predicted, snapshot["true"]) if "true" in snapshot else predicted


def _fits(index, n: int) -> bool:
    """Whether ``index`` is an integer array of positions in range(n)."""
    return (isinstance(index, np.ndarray) and index.dtype.kind in "iu"
            and (index.size == 0 or (int(index.min()) >= 0 and int(index.max()) < n)))


def _input_space(run, snapshot, colour_by: str) -> None:
    inputs = readers.artifact(run, "inputs")
    if inputs is None:
        if (run.data or {}).get("n_features") == 2:
            st.caption("The input-space plot appears when the run has finished.")
        return
    st.subheader("Input space and neighbour graph")
    x = inputs["x"]
    labels_all = np.full(len(x), -1, dtype=np.int64)
    snapshot_labels = _labels(snapshot, colour_by)
    index = snapshot.get("index")
    if snapshot_labels is not None and _fits(index, len(x)) and len(snapshot_labels) == len(index):
        labels_all[index] = snapshot_labels
    elif snapshot_labels is not None:
        readers.damaged(run, "inputs.npz (it does not match the snapshot)")
    final = readers.artifact(run, "labels")
    true = final.get("true") if final is not None else None
    if true is not None and len(true) != len(x):
        readers.damaged(run, "labels.npz (its true labels do not match inputs.npz)")
        true = None
    graph = readers.artifact(run, "graph")
    neighbors = graph["indices"] if graph is not None else None
    if neighbors is not None and (len(neighbors) != len(x) or not _fits(neighbors, len(x))):
        readers.damaged(run, "graph.npz (its indices do not match inputs.npz)")
        neighbors = None
    show_graph = neighbors is not None and st.toggle("Show graph edges", value=True, key="latent.edges")
    st.plotly_chart(viz.input_plot(x, labels_all, neighbors=neighbors if show_graph else None, true_labels=true,
                                   label_name="class" if colour_by == "true class" else "cluster"),
                    key="latent.input")
    if neighbors is not None and true is not None:
        fraction = viz.crossing_fraction(neighbors, true)
        st.caption(f"{neighbors.shape[1]} neighbours per point; {fraction:.2%} of the edges join different "
                   "true classes (red): those edges pull distinct clusters together.")
    elif neighbors is None:
        st.caption("This run has no neighbour graph (VaDE, or DGG with N_s = 0).")


page(body)
