"""Generated samples per cluster (CatGAN, InfoGAN) and the facets of a latent-tree VAE (LTVAE): what each
cluster's generator draws, how many clusters the data and the samples use (mode collapse), and every facet's
partition on its own latent dimensions."""
import numpy as np
import streamlit as st

from deepclust_core import viz
from pages.ui import readers
from pages.ui.guard import page
from pages.ui.pickers import all_runs, pick_run, show_scores


def _image_shape(run):
    data = run.data or {}
    return tuple(data["image_shape"]) if data.get("kind") == "image" and data.get("image_shape") else None


def _draw_samples(run, samples: np.ndarray, name: str, key: str) -> None:
    """The per-cluster grids (images), or the generated points over the data (2-D), or a note."""
    shape = _image_shape(run)
    if shape is not None:
        st.plotly_chart(viz.samples_overview(samples, shape, row_labels=[f"{name} {k}" for k in range(len(samples))],
                                             title=f"Every {name}: one row of samples each"), key=f"{key}.overview")
        chosen = st.selectbox(name.capitalize(), list(range(len(samples))), key=f"{key}.cluster",
                              format_func=lambda k: f"{name} {k}")
        st.plotly_chart(viz.cluster_grid(samples[chosen], shape, title=f"{name.capitalize()} {chosen}: its samples"),
                        key=f"{key}.grid")
    elif samples.shape[-1] == 2:
        inputs = readers.artifact(run, "inputs")
        labels = readers.artifact(run, "labels")
        st.plotly_chart(viz.generated_points(samples, background=None if inputs is None else inputs["x"],
                                             background_labels=None if labels is None else labels.get("true"),
                                             title=f"Generated samples per {name} (×) over the data"),
                        key=f"{key}.points")
    else:
        st.caption(f"The data are not images or points in the plane: the samples ({samples.shape[1]} per {name}, "
                   f"{samples.shape[2]} features) are stored in samples.npz.")


def _gan(run, samples) -> None:
    real = samples.get("real_share")
    if "generated_share" in samples:
        other, other_name = samples["generated_share"], "generated"
        st.caption("CatGAN's generator is not told which cluster to draw: each row holds the generated samples its "
                   "discriminator puts most confidently into that cluster. An empty row is a cluster the generator "
                   "never draws (mode collapse).")
    else:
        other, other_name = samples.get("code_agreement"), "code recovered by Q"
        st.caption("InfoGAN draws row k with code c = k and the same noise z in each column; cluster k of the data "
                   "is argmax Q(c|x) = k. The bars show the data's share per cluster and how often Q recovers the "
                   "code of a generated sample.")
    if real is not None:
        st.plotly_chart(viz.cluster_shares(real, other, generated_name=other_name,
                                           title="Clusters used: the data's share and the generator's"),
                        key="samples.shares")
    _draw_samples(run, samples["samples"], "cluster", "samples.gan")


def _facets(run, samples) -> None:
    n_facets = int(samples["n_facets"])
    facet = st.selectbox("Facet", list(range(n_facets)), key="samples.facet",
                         format_func=lambda b: f"facet {b}: {len(samples[f'facet{b}_weights'])} states on latent "
                                               f"dimensions {', '.join(f'z{d + 1}' for d in samples[f'facet{b}_dims'])}"
                                               + (" (gives the labels)" if b == 0 else ""))
    dims, labels = samples[f"facet{facet}_dims"], samples[f"facet{facet}_labels"]
    st.caption("Each facet is one partition of the data, made by its own discrete variable over its own latent "
               "dimensions; the facets' variables are linked in a tree. Rows below: samples of each state of this "
               "facet, the other facets' dimensions fixed per column, so a row shows what this facet changes.")
    epochs = run.folder.snapshot_epochs()
    snapshot = readers.snapshot(run, epochs[-1]) if epochs else None
    if snapshot is not None and {"latent", "index"} <= set(snapshot):
        st.plotly_chart(viz.facet_partition(snapshot["latent"], labels[snapshot["index"]], dims,
                                            title=f"Facet {facet}'s partition on its latent dimensions"),
                        key="samples.facet_partition")
    st.plotly_chart(viz.cluster_shares(samples[f"facet{facet}_weights"], title=f"Facet {facet}: share per state",
                                       unit="state"),
                    key="samples.facet_shares")
    _draw_samples(run, samples[f"facet{facet}_samples"], "state", "samples.facet_grid")


def body() -> None:
    st.title("Generated samples")
    st.caption("What a generative clusterer draws for each cluster (CatGAN, InfoGAN) and the facets of a "
               "latent-tree VAE (LTVAE): several partitions of the same data, each on its own latent dimensions.")
    candidates = [run for run in all_runs() if readers.has_artifact(run, "samples")]
    run = pick_run(candidates, key="samples.pick",
                   empty="No finished CatGAN, InfoGAN or LTVAE run yet: samples are drawn when such a run ends.")
    if run is None:
        return
    show_scores(run.result)
    samples = readers.artifact(run, "samples")
    if samples is None or "samples" not in samples:
        st.warning("This run's samples cannot be read (damaged or incomplete).")
        return
    if "n_facets" in samples:
        _facets(run, samples)
    else:
        _gan(run, samples)


page(body)
