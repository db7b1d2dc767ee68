"""Pure Plotly figure builders for the app (no Streamlit here), testable without a browser.

Every builder takes NumPy arrays and returns a ``plotly.graph_objects.Figure``. Point clouds use
typed float32 arrays (sent to the browser as binary), drawn as SVG up to ``WEBGL_MIN_POINTS`` points and with
WebGL above it (``scatter_class``: without a GPU, every WebGL redraw costs more than a small SVG one);
one trace per cluster so the legend toggles clusters. 2-D embeddings of higher-dimensional latents
come from :func:`embed` (PCA, openTSNE, UMAP), which the caller caches per run and epoch.

- :mod:`.base`: constants, colours that follow the classes, ellipses, embeddings;
- :mod:`.points`: the latent space with its mixture, 2-D inputs with their neighbour graph;
- :mod:`.preview`: the data before any run, as a Vega-Lite spec (the first page draws faster with it);
- :mod:`.curves`: scores and losses over epochs;
- :mod:`.traversals`: latent traversals (paper Fig. 2);
- :mod:`.samples`: generated samples per cluster (GANs) and latent-tree facets;
- :mod:`.live`: the Playground's live views (decision regions, projected ellipses, cross-cluster edges,
  a point's neighbours and γ, replay);
- :mod:`.tables`: the N_s ablation (paper Table 2) and side-by-side comparisons (Fig. 1).
"""
from .base import (CROSSING_COLOR, EMBEDDINGS, LOSS_TERMS, METRIC_NAMES, SCORE_KEYS, WEBGL_MIN_POINTS, WITHIN_COLOR,
                   align_labels, ellipse, embed, label_mapping, palette, scatter_class, subsample_index)
from .curves import loss_curves, metric_curves, runs_curves
from .live import (cross_cluster_edges, data_view, gamma_bars, latent_view, neighbour_view, projected_ellipse,
                   projection, replay_figure, replay_frames)
from .points import crossing_fraction, graph_edges, input_plot, latent_scatter
from .preview import points_preview
from .samples import cluster_grid, cluster_shares, facet_partition, generated_points, samples_overview
from .tables import ablation_plot, compare_figure, format_mean_std, summarize_ablation
from .traversals import image_grid, term_changes, traversal_paths, traversal_terms, variance_bars

__all__ = ["CROSSING_COLOR", "EMBEDDINGS", "LOSS_TERMS", "METRIC_NAMES", "SCORE_KEYS", "WITHIN_COLOR",
           "ablation_plot", "cross_cluster_edges", "data_view", "gamma_bars", "latent_view", "neighbour_view",
           "projected_ellipse", "projection", "replay_figure", "replay_frames", "align_labels", "compare_figure", "crossing_fraction", "ellipse", "embed",
           "format_mean_std", "graph_edges", "image_grid", "input_plot", "label_mapping", "latent_scatter",
           "loss_curves", "metric_curves", "palette", "runs_curves", "subsample_index", "summarize_ablation",
           "term_changes", "traversal_paths", "traversal_terms", "variance_bars"]
__all__ += ["WEBGL_MIN_POINTS", "points_preview", "scatter_class"]
__all__ += ["cluster_grid", "cluster_shares", "facet_partition", "generated_points", "samples_overview"]
