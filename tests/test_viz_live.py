"""The Playground's figure builders (deepclust_core.viz.live) against hand-worked cases and closed forms."""
import numpy as np
import plotly.graph_objects as go

from deepclust_core import viz
from deepclust_core.store import live
from deepclust_core.viz.base import CROSSING_COLOR, PALETTE


def test_cross_cluster_edges_are_the_edges_between_two_predicted_clusters():
    neighbors = np.array([[1, 2], [0, 3], [3, 0], [2, 1]])
    predicted = np.array([0, 0, 1, 1])
    sources, targets = viz.cross_cluster_edges(neighbors, predicted)
    assert sorted(zip(sources.tolist(), targets.tolist())) == [(0, 2), (1, 3), (2, 0), (3, 1)]


def test_projected_ellipse_is_the_n_sigma_contour_of_the_diagonal_gaussian():
    mean, variance = np.array([1.0, -2.0]), np.array([4.0, 0.25])
    ex, ey = viz.projected_ellipse(mean, variance, np.zeros(2), np.eye(2), n_sigma=2.0)
    # every point satisfies (x - m)ᵀ Σ⁻¹ (x - m) = n²
    np.testing.assert_allclose((ex - 1.0) ** 2 / 4.0 + (ey + 2.0) ** 2 / 0.25, 4.0, rtol=1e-9)
    # in 3-D seen through the plane of the first two axes: the same ellipse
    basis = np.eye(3)[:, :2]
    ex3, ey3 = viz.projected_ellipse(np.array([1.0, -2.0, 7.0]), np.array([4.0, 0.25, 9.0]), np.zeros(3), basis)
    np.testing.assert_allclose((ex3 - 1.0) ** 2 / 4.0 + (ey3 + 2.0) ** 2 / 0.25, 4.0, rtol=1e-9)


def test_projection_finds_the_plane_of_largest_variance():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(500, 5)) * np.array([0.1, 5.0, 0.1, 2.0, 0.1])
    centre, basis = viz.projection(latent)
    np.testing.assert_allclose(centre, latent.mean(axis=0))
    np.testing.assert_allclose(np.abs(basis[:, 0]), [0, 1, 0, 0, 0], atol=0.05)
    np.testing.assert_allclose(np.abs(basis[:, 1]), [0, 0, 0, 1, 0], atol=0.05)
    figure = viz.latent_view(latent, np.arange(500) % 2, gmm={"means": np.zeros((2, 5)), "variances": np.ones((2, 5))})
    assert figure.layout.xaxis.title.text == "PC1 of the latent"
    assert sum(trace.name.startswith("component") for trace in figure.data) == 2


def test_data_view_draws_regions_in_the_clusters_colours_and_only_crossing_edges():
    x = np.array([[0.0, 0.0], [0.1, 0.0], [1.0, 1.0], [1.1, 1.0]], dtype=np.float32)
    predicted = np.array([0, 0, 1, 1])
    extent = live.grid_extent(x)
    grid = (live.grid_points(extent)[:, 0] > 0.5).astype(np.int16).reshape(live.GRID_SIZE, live.GRID_SIZE)
    neighbors = np.array([[1], [2], [3], [2]])  # only 1 -> 2 crosses
    figure = viz.data_view(x, predicted, grid_labels=grid, extent=extent, neighbors=neighbors)
    heatmap = next(t for t in figure.data if isinstance(t, go.Heatmap))
    assert heatmap.zmin == -0.5 and heatmap.zmax == 1.5
    scale = [tuple(step) for step in heatmap.colorscale]
    assert scale[0][1] == PALETTE[0] and scale[-1][1] == PALETTE[1]
    edges = next(t for t in figure.data if t.name.startswith("edges across clusters"))
    assert edges.name == "edges across clusters (1)" and edges.line.color == CROSSING_COLOR
    np.testing.assert_allclose(np.asarray(edges.x, dtype=float)[:2], [0.1, 1.0])
    points = [t for t in figure.data if t.name.startswith("cluster")]
    assert [list(t.customdata) for t in points] == [[0, 1], [2, 3]]  # a click gives the row in the data


def test_grid_points_cover_the_extent_row_major():
    extent = np.array([0.0, 1.0, 10.0, 20.0], dtype=np.float32)
    points = live.grid_points(extent, size=3)
    np.testing.assert_allclose(points[:3], [[0, 10], [0.5, 10], [1, 10]])
    np.testing.assert_allclose(points[-1], [1, 20])


def test_replay_has_a_frame_and_a_slider_step_per_snapshot_and_fixed_colours():
    snapshots = [{"epoch": e, "index": np.arange(4), "latent": np.eye(4, 3) * e,
                  "predicted": np.array([0, 0, 1, 1]) if e < 3 else np.array([0, 1, 1, 1])} for e in (1, 2, 5)]
    inputs = np.arange(8, dtype=np.float32).reshape(4, 2)
    figure = viz.replay_figure(viz.replay_frames(snapshots, "data", inputs))
    assert [f.name for f in figure.frames] == ["1", "2", "5"]
    assert [s.label for s in figure.layout.sliders[0].steps] == ["1", "2", "5"]
    assert [b.label for b in figure.layout.updatemenus[0].buttons] == ["Play", "Pause"]
    last = figure.frames[-1].data
    assert [t.marker.color for t in last] == [PALETTE[0], PALETTE[1]]
    np.testing.assert_allclose(np.asarray(last[1].x, dtype=float), [2, 4, 6])
    latent_frames = viz.replay_frames(snapshots, "latent")
    assert latent_frames[0]["points"].shape == (4, 2)


def test_neighbour_view_and_gamma_bars():
    x = np.array([[0, 0], [1, 0], [0, 1], [5, 5]], dtype=np.float32)
    figure = viz.neighbour_view(x, 0, np.array([[1, 2], [0, 2], [0, 1], [1, 2]]), recon=np.array([0.2, 0.1]))
    names = [t.name for t in figure.data]
    assert "its 2 neighbours" in names and "point 0" in names and "its reconstruction g(μ(x))" in names
    ring = next(t for t in figure.data if t.name == "its 2 neighbours")
    np.testing.assert_allclose(np.asarray(ring.x, dtype=float), [1, 0])
    bars = viz.gamma_bars(np.array([0.25, 0.75]))
    np.testing.assert_allclose(np.asarray(bars.data[0].y, dtype=float), [0.25, 0.75])
