"""Figure builders of deepclust_core.viz on synthetic data: traces, points, geometry, error bars."""
import numpy as np
import plotly.graph_objects as go
import pytest

from deepclust_core import InputError, viz


def _points(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)).astype(np.float32), rng.integers(0, 3, size=n)


def test_latent_scatter_has_one_trace_per_cluster_with_all_points_svg_when_small_webgl_when_large():
    latent, labels = _points()
    figure = viz.latent_scatter(latent, labels)
    assert len(latent) < viz.WEBGL_MIN_POINTS
    assert all(type(trace) is go.Scatter for trace in figure.data)  # SVG: cheaper to redraw without a GPU
    large = viz.latent_scatter(*_points(viz.WEBGL_MIN_POINTS))
    assert all(type(trace) is go.Scattergl for trace in large.data)
    assert sum(len(trace.x) for trace in large.data) == viz.WEBGL_MIN_POINTS
    assert [trace.name for trace in figure.data] == ["cluster 0", "cluster 1", "cluster 2"]
    assert sum(len(trace.x) for trace in figure.data) == len(latent)
    first = figure.data[0]
    np.testing.assert_array_equal(np.asarray(first.x), latent[labels == 0, 0])
    assert np.asarray(first.x).dtype == np.float32  # typed arrays go to the browser as binary


def test_latent_scatter_without_labels_and_with_one_latent_dimension():
    figure = viz.latent_scatter(np.arange(5, dtype=np.float32)[:, None])
    assert len(figure.data) == 1
    np.testing.assert_array_equal(np.asarray(figure.data[0].y), np.zeros(5))


def test_ellipse_is_two_sigma_of_the_diagonal_gaussian():
    x, y = viz.ellipse([1.0, -2.0], [4.0, 0.25], n_sigma=2.0, n_points=400)
    assert x.max() == pytest.approx(1.0 + 2 * 2.0, abs=1e-6)
    assert x.min() == pytest.approx(1.0 - 2 * 2.0, abs=1e-3)
    assert y.max() == pytest.approx(-2.0 + 2 * 0.5, abs=1e-3)
    # every point satisfies the ellipse equation
    np.testing.assert_allclose(((x - 1) / 4.0) ** 2 + ((y + 2) / 1.0) ** 2, 1.0, atol=1e-9)


def test_gmm_components_drawn_as_ellipses_in_matching_colours():
    latent, labels = _points()
    gmm = {"means": np.array([[0.0, 0.0], [3.0, 3.0]]), "variances": np.array([[1.0, 1.0], [0.25, 4.0]])}
    figure = viz.latent_scatter(latent, labels, gmm=gmm, component_colours={0: 2, 1: 0})
    ellipses = [trace for trace in figure.data if trace.name and trace.name.startswith("component")]
    assert len(ellipses) == 2
    assert np.asarray(ellipses[1].x).max() == pytest.approx(3.0 + 2 * 0.5, abs=1e-3)
    assert np.asarray(ellipses[1].y).max() == pytest.approx(3.0 + 2 * 2.0, abs=1e-3)
    cluster_colour = {trace.name: trace.marker.color for trace in figure.data if trace.name.startswith("cluster")}
    assert ellipses[0].line.color == cluster_colour["cluster 2"]
    assert ellipses[1].line.color == cluster_colour["cluster 0"]
    assert any(trace.name == "GMM means" for trace in figure.data)
    # after a collapse only one cluster is matched; the other component must not reuse its colour
    collapsed = viz.latent_scatter(latent, labels, gmm=gmm, component_colours={1: 0})
    ellipse_colours = [t.line.color for t in collapsed.data if t.name and t.name.startswith("component")]
    assert len(set(ellipse_colours)) == 2


def test_no_ellipses_for_a_higher_dimensional_gmm():
    latent = np.zeros((10, 5), dtype=np.float32)
    gmm = {"means": np.zeros((2, 5)), "variances": np.ones((2, 5))}
    figure = viz.latent_scatter(latent, None, gmm=gmm)
    assert len(figure.data) == 1


def test_align_labels_matches_clusters_to_classes():
    predicted = np.array([1, 1, 1, 0, 0, 2])
    true = np.array([0, 0, 0, 1, 1, 1])
    aligned = viz.align_labels(predicted, true)
    np.testing.assert_array_equal(aligned, [0, 0, 0, 1, 1, 2])
    assert viz.label_mapping(predicted, true) == {1: 0, 0: 1, 2: 2}


def test_input_plot_colours_edges_by_whether_they_cross_classes():
    x = np.array([[0, 0], [1, 0], [0, 1], [5, 5]], dtype=np.float32)
    true = np.array([0, 0, 0, 1])
    neighbors = np.array([[1], [2], [3], [2]])  # edges 0-1, 1-2 within; 2-3, 3-2 crossing
    figure = viz.input_plot(x, true, neighbors=neighbors, true_labels=true)
    within, crossing = figure.data[0], figure.data[1]
    assert "within a class (2)" in within.name and "crossing classes (2)" in crossing.name
    assert len(within.x) == 3 * 2 and len(crossing.x) == 3 * 2  # segments separated by NaN
    assert np.isnan(np.asarray(crossing.x)[2])
    assert viz.crossing_fraction(neighbors, true) == 0.5
    assert sum(len(t.x) for t in figure.data[2:]) == 4


def test_input_plot_caps_the_number_of_edges_drawn():
    x, labels = _points(500)
    neighbors = np.tile(np.arange(20), (500, 1))
    figure = viz.input_plot(x, labels, neighbors=neighbors, true_labels=labels, max_edges=1000)
    drawn = sum(len(t.x) for t in figure.data[:2]) // 3
    assert drawn == 1000


def test_embed_raw_pca_and_subsampling_are_fixed():
    rng = np.random.default_rng(1)
    latent = rng.normal(size=(500, 6)).astype(np.float32)
    coords, index = viz.embed(latent, "raw")
    np.testing.assert_array_equal(coords, latent[:, :2])
    coords, index = viz.embed(latent, "pca", max_points=200, seed=3)
    assert coords.shape == (200, 2) and coords.dtype == np.float32
    again, index_again = viz.embed(latent, "pca", max_points=200, seed=3)
    np.testing.assert_array_equal(index, index_again)
    assert np.all(np.diff(index) > 0)
    with pytest.raises(InputError):
        viz.embed(latent, "isomap")


def _two_blobs():
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(0, 0.1, (60, 4)), rng.normal(5, 0.1, (60, 4))]).astype(np.float32)


def test_embed_tsne_on_a_small_sample():
    coords, index = viz.embed(_two_blobs(), "tsne", max_points=100)
    assert coords.shape == (100, 2) and np.isfinite(coords).all()


def test_embed_umap_is_called_with_a_seed(monkeypatch):
    """A stand-in for umap-learn: the real one spends ~1 min compiling with numba on first use."""
    import sys
    import types

    calls = {}

    class FakeUMAP:
        def __init__(self, **kwargs):
            calls.update(kwargs)

        def fit_transform(self, points):
            return points[:, :2] * 2

    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=FakeUMAP))
    coords, index = viz.embed(_two_blobs(), "umap", max_points=100, seed=7)
    assert coords.shape == (100, 2) and coords.dtype == np.float32
    assert calls == {"n_components": 2, "n_neighbors": 15, "random_state": 7}


def test_metric_and_loss_curves_use_train_epochs():
    records = [{"phase": "pretrain", "epoch": 1, "loss": 9.0}] + [
        {"phase": "train", "epoch": e, "loss": 10.0 / e, "recon": 1.0, "acc": 0.5 + e / 10, "nmi": 0.1, "ari": 0.2}
        for e in range(1, 4)]
    figure = viz.metric_curves(records)
    assert [trace.name for trace in figure.data] == ["ACC", "NMI", "ARI"]
    np.testing.assert_array_equal(np.asarray(figure.data[0].x), [1, 2, 3])
    losses = viz.loss_curves(records)
    assert [trace.name for trace in losses.data] == ["loss", "recon"]
    assert len(viz.metric_curves([]).data) == 0
    # DGG's mixture diagnostics, when recorded, join the scores as dashed lines.
    for record in records[1:]:
        record.update(mixture_acc=0.4, mixture_agreement=0.9)
    figure = viz.metric_curves(records)
    assert [trace.name for trace in figure.data] == ["ACC", "NMI", "ARI", "ACC of the mixture", "f2 = mixture"]
    assert [trace.line.dash for trace in figure.data] == ["solid"] * 3 + ["dash"] * 2


def test_image_grid_tiles_images_in_one_heatmap():
    images = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)  # 2 rows x 3 columns of 2x2 images
    figure = viz.image_grid(images, (2, 2), gap=1)
    z = np.asarray(figure.data[0].z, dtype=float)
    assert z.shape == (2 * 3 - 1, 3 * 3 - 1)
    np.testing.assert_array_equal(z[0:2, 3:5], images[0, 1].reshape(2, 2))
    assert np.isnan(z[2, 0])
    with pytest.raises(InputError):
        viz.image_grid(images, (3, 3))


def test_traversal_paths_and_terms():
    paths = np.stack([np.linspace([0, 0], [1, 1], 15), np.linspace([0, 1], [1, 0], 15)])
    figure = viz.traversal_paths(paths, ["z1", "z2"], background=np.zeros((10, 2)), background_labels=np.zeros(10))
    assert [trace.name for trace in figure.data][-2:] == ["z1", "z2"]
    path = np.zeros((15, 6))
    path[:, 2] = np.linspace(0, 1, 15)   # rises
    path[:, 4] = np.linspace(1, 0, 15)   # falls
    table = viz.term_changes(path, top=3)
    assert list(table["feature"]) == [2, 4]
    assert list(table["direction"]) == ["rising", "falling"]
    assert table["term"].iloc[0] == "term 2"
    assert len(viz.traversal_terms(path).data[0].x) == 2


def test_variance_bars_per_dimension():
    figure = viz.variance_bars(np.array([0.1, 2.0, 0.01]), highlight=[1])
    assert list(figure.data[0].y) == [0.1, 2.0, 0.01]
    assert list(figure.data[0].x) == ["z1", "z2", "z3"]
    assert len(viz.variance_bars(np.ones((3, 4))).data) == 3


def test_ablation_summary_and_error_bars_from_known_numbers():
    rows = [{"n_neighbors": 0, "acc": 0.90, "nmi": 0.8, "ari": 0.7},
            {"n_neighbors": 0, "acc": 0.94, "nmi": 0.8, "ari": 0.7},
            {"n_neighbors": 10, "acc": 0.97, "nmi": 0.9, "ari": 0.9},
            {"n_neighbors": 10, "acc": None, "nmi": None, "ari": None}]  # still running
    summary = viz.summarize_ablation(rows)
    first = summary.iloc[0]
    assert first["acc_mean"] == pytest.approx(0.92)
    assert first["acc_std"] == pytest.approx(np.std([0.90, 0.94], ddof=1))
    assert first["acc"] == "92.00 ± 2.83"
    second = summary.iloc[1]
    assert (second["runs"], second["done"], second["acc_std"]) == (2, 1, 0.0)
    figure = viz.ablation_plot(summary, reference={0: 0.9482, 10: 0.9752})
    np.testing.assert_allclose(figure.data[0].y, [0.92, 0.97])
    np.testing.assert_allclose(figure.data[0].error_y.array, [np.std([0.90, 0.94], ddof=1), 0.0])
    assert figure.data[-1].name == "paper"
    assert viz.summarize_ablation([]).empty


def test_compare_figure_puts_panels_side_by_side():
    latent, labels = _points(50)
    gmm = {"means": np.zeros((3, 2)), "variances": np.ones((3, 2))}
    figure = viz.compare_figure([{"title": "VaDE", "points": latent, "labels": labels, "gmm": gmm},
                                 {"title": "DGG", "points": latent, "labels": labels,
                                  "neighbors": np.zeros((50, 2), dtype=int), "true_labels": labels}])
    axes = {trace.xaxis for trace in figure.data}
    assert axes == {"x", "x2"}
    assert [a.text for a in figure.layout.annotations] == ["VaDE", "DGG"]
    assert sum(trace.showlegend is False for trace in figure.data) > 0  # one shared legend


def test_runs_curves_one_line_per_run():
    series = {"a": [{"phase": "train", "epoch": 1, "acc": 0.5}], "b": [{"phase": "train", "epoch": 1, "acc": 0.7}],
              "empty": []}
    figure = viz.runs_curves(series)
    assert [trace.name for trace in figure.data] == ["a", "b"]


def test_seventy_thousand_points_build_quickly():
    import time

    rng = np.random.default_rng(0)
    latent = rng.normal(size=(70_000, 2)).astype(np.float32)
    labels = rng.integers(0, 10, size=70_000)
    start = time.perf_counter()
    payload = viz.latent_scatter(latent, labels).to_json()
    elapsed = time.perf_counter() - start
    assert '"bdata"' in payload  # binary typed arrays, not 140k JSON numbers
    assert elapsed < 5.0


def test_points_preview_is_a_vega_lite_scatter_with_equal_units_and_the_views_colours():
    points = np.array([[0.0, 0.0], [4.0, 1.0], [2.0, 0.5]], dtype=np.float32)
    table, spec = viz.points_preview(points, np.array([1, 0, 1]), title="t", width=400, height=200)
    assert list(table.columns) == ["x1", "x2", "class"] and list(table["class"]) == ["class 1", "class 0", "class 1"]
    x_domain = spec["encoding"]["x"]["scale"]["domain"]
    y_domain = spec["encoding"]["y"]["scale"]["domain"]
    # the x span (4, padded by 6 %) fills 400 px; y gets the same units per pixel over 200 px, centred on 0.5
    assert x_domain == pytest.approx([2.0 - 2.12, 2.0 + 2.12], abs=1e-5)
    assert y_domain == pytest.approx([0.5 - 2.12 / 2, 0.5 + 2.12 / 2], abs=1e-5)
    colour = spec["encoding"]["color"]["scale"]
    assert colour["domain"] == ["class 0", "class 1"] and colour["range"] == viz.palette(2)  # label k, colour k
    assert spec["title"] == "t" and spec["mark"]["type"] == "circle"
    unlabelled, spec = viz.points_preview(points)
    assert "color" not in spec["encoding"] and list(unlabelled.columns) == ["x1", "x2"]
