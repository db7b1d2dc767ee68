"""Traversals (paper Fig. 2): decode m_k + 4·a·(e_i ∘ s_k) for a in [-1, 1] along the widest latent
dimensions of a component; images for MNIST, paths in the plane for moons, rising/falling terms for tf-idf.
For a latent-tree VAE, each facet's states along that facet's own dimensions (the facet is chosen here)."""
import numpy as np
import streamlit as st

from deepclust_core import viz
from pages.ui import readers
from pages.ui.guard import page
from pages.ui.pickers import all_runs, pick_run


def body() -> None:
    st.title("Traversals")
    st.caption("For a GMM component k and a latent dimension i, the decoder's output along m_k + 4·a·s_k,i·e_i, "
               "a from −1 to 1. Dimensions whose variance collapsed change nothing; the wide ones are the factors "
               "of variation the model found (stroke, slant, width on MNIST).")
    candidates = [run for run in all_runs() if readers.has_artifact(run, "traversals") or _facets(_samples(run))]
    run = pick_run(candidates, key="traversals.pick",
                   empty="No finished VaDE/DGG/LTVAE run yet: traversals are computed when a run ends.")
    if run is None:
        return
    samples = _samples(run)
    chosen = _facet_traversals(run, samples) if _facets(samples) else _component_traversals(run)
    if chosen is None:
        st.warning("This run's traversals cannot be read (damaged or incomplete).")
        return
    paths, dims, variances, offsets, unit = chosen
    data = run.data or {}
    component = st.selectbox(unit.capitalize(), list(range(len(paths))), key=f"traversals.{unit}.{len(paths)}",
                             format_func=lambda k: f"{unit} {k} (σ² max {variances[k].max():.3g})")
    st.plotly_chart(viz.variance_bars(variances[component], highlight=list(dims[component]),
                                      title=f"σ² per latent dimension, {unit} {component} (traversed in colour)"),
                    key="traversals.variances")
    names = [f"z{d + 1}" for d in dims[component]]
    if data.get("kind") == "image" and data.get("image_shape"):
        st.plotly_chart(viz.image_grid(paths[component], tuple(data["image_shape"]), row_labels=names,
                                       col_labels=[f"{a:+.1f}" for a in offsets],
                                       title=f"{unit.capitalize()} {component}: one row per latent dimension"),
                        key="traversals.images")
    elif paths.shape[-1] == 2:
        inputs = readers.artifact(run, "inputs")
        labels = readers.artifact(run, "labels")
        st.plotly_chart(viz.traversal_paths(paths[component], names,
                                            background=None if inputs is None else inputs["x"],
                                            background_labels=None if labels is None else labels.get("true"),
                                            title=f"{unit.capitalize()} {component}: decoded paths in the data plane "
                                                  "(○ start, ▶ end)"),
                        key="traversals.paths")
    else:
        position = st.selectbox("Latent dimension", list(range(len(names))), format_func=lambda j: names[j],
                                key="traversals.dimension")
        st.plotly_chart(viz.traversal_terms(paths[component][position], top=12,
                                            title=f"{unit.capitalize()} {component}, {names[position]}: terms that rise and "
                                                  "fall along the traversal"),
                        key="traversals.terms")
        st.caption("Term names are not stored with tf-idf matrices, so features are shown by column index.")


def _component_traversals(run):
    """(paths (K, dims, steps, D), dims (K, n), σ² (K, M), offsets, "component") of a mixture's components."""
    traversals = readers.artifact(run, "traversals")
    if traversals is None or not {"paths", "dims", "variances", "offsets"} <= set(traversals):
        return None
    return traversals["paths"], traversals["dims"], traversals["variances"], traversals["offsets"], "component"


def _samples(run):
    """The run's samples.npz (GANs, LTVAE), or None."""
    return readers.artifact(run, "samples") if readers.has_artifact(run, "samples") else None


def _facets(samples) -> int:
    """How many facets with traversals ``samples`` holds (a latent-tree VAE's), else 0."""
    if samples is None or "n_facets" not in samples or "traversal_offsets" not in samples:
        return 0
    return sum(f"facet{b}_traversals" in samples for b in range(int(samples["n_facets"])))


def _facet_traversals(run, samples):
    """The same for one facet of a latent-tree VAE, chosen here: its states along its own dimensions."""
    n_facets = _facets(samples)
    facet = st.selectbox("Facet", list(range(n_facets)), key=f"traversals.facet.{run.id}",
                         format_func=lambda b: f"facet {b}: {len(samples[f'facet{b}_variances'])} states on "
                                               + ", ".join(f"z{d + 1}" for d in samples[f"facet{b}_dims"]))
    paths, facet_dims = samples[f"facet{facet}_traversals"], samples[f"facet{facet}_dims"]
    latent_dim = 1 + max(int(samples[f"facet{b}_dims"].max()) for b in range(n_facets))
    variances = np.zeros((len(paths), latent_dim), dtype=np.float32)  # the other facets' dimensions: not its own
    variances[:, facet_dims] = samples[f"facet{facet}_variances"]
    return paths, np.repeat(facet_dims[None], len(paths), axis=0), variances, samples["traversal_offsets"], "state"


page(body)
