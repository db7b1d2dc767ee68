"""Traversals (paper Fig. 2): decode m_k + 4·a·(e_i ∘ s_k) for a in [-1, 1] along the widest latent
dimensions of a component; images for MNIST, paths in the plane for moons, rising/falling terms for tf-idf."""
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
    candidates = [run for run in all_runs() if readers.has_artifact(run, "traversals")]
    run = pick_run(candidates, key="traversals.pick",
                   empty="No finished VaDE/DGG run yet: traversals are computed when a run ends.")
    if run is None:
        return
    traversals = readers.artifact(run, "traversals")
    if traversals is None or not {"paths", "dims", "variances", "offsets"} <= set(traversals):
        st.warning("This run's traversals cannot be read (damaged or incomplete).")
        return
    paths, dims, variances = traversals["paths"], traversals["dims"], traversals["variances"]
    offsets = traversals["offsets"]
    data = run.data or {}
    component = st.selectbox("Component", list(range(len(paths))), key="traversals.component",
                             format_func=lambda k: f"component {k} (σ² max {variances[k].max():.3g})")
    st.plotly_chart(viz.variance_bars(variances[component], highlight=list(dims[component]),
                                      title=f"σ² per latent dimension, component {component} (traversed in colour)"),
                    key="traversals.variances")
    names = [f"z{d + 1}" for d in dims[component]]
    if data.get("kind") == "image" and data.get("image_shape"):
        st.plotly_chart(viz.image_grid(paths[component], tuple(data["image_shape"]), row_labels=names,
                                       col_labels=[f"{a:+.1f}" for a in offsets],
                                       title=f"Component {component}: one row per latent dimension"),
                        key="traversals.images")
    elif paths.shape[-1] == 2:
        inputs = readers.artifact(run, "inputs")
        labels = readers.artifact(run, "labels")
        st.plotly_chart(viz.traversal_paths(paths[component], names,
                                            background=None if inputs is None else inputs["x"],
                                            background_labels=None if labels is None else labels.get("true"),
                                            title=f"Component {component}: decoded paths in the data plane "
                                                  "(○ start, ▶ end)"),
                        key="traversals.paths")
    else:
        position = st.selectbox("Latent dimension", list(range(len(names))), format_func=lambda j: names[j],
                                key="traversals.dimension")
        st.plotly_chart(viz.traversal_terms(paths[component][position], top=12,
                                            title=f"Component {component}, {names[position]}: terms that rise and "
                                                  "fall along the traversal"),
                        key="traversals.terms")
        st.caption("Term names are not stored with tf-idf matrices, so features are shown by column index.")


page(body)
