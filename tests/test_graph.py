"""Neighbour graph: exact kNN, kernels, random selection from a candidate pool."""
import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from deepclust_core.errors import InputError
from deepclust_core import graph
from deepclust_core.datasets import load_dataset
from deepclust_core.graph import build_graph, kernel_weights, knn, pca_features


def _points(n=300, d=5, seed=0):
    return torch.as_tensor(np.random.default_rng(seed).normal(size=(n, d)), dtype=torch.float32)


def test_knn_matches_sklearn_in_chunks():
    x = _points()
    dist, idx = knn(x, 7, chunk_size=37)
    ref_dist, ref_idx = NearestNeighbors(n_neighbors=8).fit(x.numpy()).kneighbors(x.numpy())
    np.testing.assert_allclose(dist.numpy(), ref_dist[:, 1:], atol=1e-4)
    assert (idx.numpy() == ref_idx[:, 1:]).mean() > 0.99  # ties may swap
    assert not (idx == torch.arange(300)[:, None]).any()


@pytest.mark.parametrize("kernel", ["gaussian", "uniform"])
@pytest.mark.parametrize("selection", ["nearest", "random"])
def test_rows_sum_to_one(kernel, selection):
    graph = build_graph(_points(), 10, kernel=kernel, selection=selection, n_candidates=30, seed=1)
    torch.testing.assert_close(graph.weights.sum(1), torch.ones(300))
    assert graph.indices.shape == (300, 10)


def test_gaussian_kernel_closed_form_and_order():
    d = torch.tensor([[1.0, 2.0, 3.0]])
    w = kernel_weights(d, "gaussian", "kth")
    raw = torch.exp(-d ** 2 / (2 * 3.0 ** 2))
    torch.testing.assert_close(w, raw / raw.sum())
    assert w[0, 0] > w[0, 1] > w[0, 2]
    torch.testing.assert_close(kernel_weights(d, "uniform"), torch.full((1, 3), 1 / 3))


def test_random_selection_comes_from_candidate_pool_and_is_seeded():
    x = _points()
    _, pool = knn(x, 30)
    a = build_graph(x, 10, selection="random", n_candidates=30, seed=3)
    b = build_graph(x, 10, selection="random", n_candidates=30, seed=3)
    c = build_graph(x, 10, selection="random", n_candidates=30, seed=4)
    assert torch.equal(a.indices, b.indices) and not torch.equal(a.indices, c.indices)
    for row in range(0, 300, 17):
        assert set(a.indices[row].tolist()) <= set(pool[row].tolist())
        assert len(set(a.indices[row].tolist())) == 10


def test_bad_neighbour_counts():
    with pytest.raises(InputError, match="between 1 and 299"):
        build_graph(_points(), 300)
    with pytest.raises(InputError):
        kernel_weights(torch.ones(2, 2), "cosine")


def test_cross_fraction_and_pca():
    x = torch.cat([_points(100, 2) - 10, _points(100, 2) + 10])
    labels = np.repeat([0, 1], 100)
    graph = build_graph(x, 5)
    assert graph.cross_fraction(labels) == 0.0
    assert graph.cross_fraction(np.arange(200) % 2) > 0.3
    assert pca_features(_points(50, 8), 3).shape == (50, 3)


@pytest.mark.parametrize("jitter", [0.0, 1e-2 / 255])
def test_eight_bit_images_take_the_exact_integer_path(jitter, monkeypatch):
    """8-bit images (values k/255) go through int8 products; the distances and neighbours must be
    those of float64 brute force, ties aside; data off the 8-bit grid go through float products."""
    generator = torch.Generator().manual_seed(3)
    levels = torch.randint(0, 256, (700, 196), generator=generator).float()
    levels[torch.rand(levels.shape, generator=generator) < 0.7] = 0  # sparse, like MNIST
    x = levels / 255 + jitter
    took_integer = []
    original = torch._int_mm
    monkeypatch.setattr(torch, "_int_mm", lambda a, b: took_integer.append(1) or original(a, b))
    distances, indices = knn(x, 8, chunk_size=128)
    assert bool(took_integer) == (jitter == 0.0)
    reference = torch.cdist(x.double(), x.double()).fill_diagonal_(float("inf"))
    ref_d, ref_i = torch.topk(reference, 8, largest=False)
    assert torch.allclose(distances.double(), ref_d, atol=1e-5)
    assert (indices == ref_i).float().mean() > 0.999


@pytest.mark.parametrize("n_samples", [600, 3000])  # dense eigen-solver below 2000 points, Lanczos above
def test_spectral_clusters_match_scikit_learn_and_find_the_moons(n_samples):
    from sklearn.cluster import SpectralClustering
    from sklearn.metrics import adjusted_rand_score

    data = load_dataset("moons", n_samples=n_samples, random_state=0)
    ours = graph.spectral_clusters(torch.as_tensor(data.x), 2, n_neighbors=10, seed=0)
    theirs = SpectralClustering(2, affinity="nearest_neighbors", n_neighbors=10, assign_labels="cluster_qr",
                                random_state=0).fit_predict(data.x)
    assert adjusted_rand_score(theirs, ours) == 1.0
    assert adjusted_rand_score(data.y, ours) == 1.0  # k-means on the raw points gets ~0.25 here
    with pytest.raises(InputError, match="spectral clusters"):
        graph.spectral_clusters(torch.as_tensor(data.x[:2]), 2)


def test_manifold_clusters_keep_the_most_likely_of_several_mixture_fits():
    from sklearn.metrics import adjusted_rand_score

    # Six separated blobs on which one mixture fit (seed 0) merges two and splits another.
    rng = np.random.default_rng(9)
    centres = rng.uniform(-10, 10, size=(6, 2))
    labels = np.repeat(np.arange(6), 50)
    embedding = (centres[labels] + rng.normal(scale=0.5, size=(300, 2))).astype(np.float32)
    features = torch.zeros(300, 3)  # not used when the embedding is given
    once = graph.manifold_clusters(features, 6, seed=0, embedding=embedding)
    best = graph.manifold_clusters(features, 6, seed=0, embedding=embedding, n_init=5)
    assert adjusted_rand_score(labels, once) < 0.9
    assert adjusted_rand_score(labels, best) == 1.0


def test_manifold_clusters_with_cosine_umap_see_directions_not_lengths():
    from sklearn.metrics import adjusted_rand_score

    # Two groups told apart by direction only, lengths spread 50-fold (as autoencoder codes can be).
    rng = np.random.default_rng(0)
    directions = rng.normal(size=(2, 5))
    labels = np.repeat([0, 1], 200)
    rays = directions[labels] / np.linalg.norm(directions, axis=1)[labels, None] + rng.normal(scale=0.15,
                                                                                             size=(400, 5))
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    features = torch.as_tensor((rays * rng.uniform(0.1, 5, size=(400, 1))).astype(np.float32))
    by_length = graph.manifold_clusters(features, 2, 15, seed=0, n_init=5)
    by_direction = graph.manifold_clusters(features, 2, 15, seed=0, n_init=5, metric="cosine")
    assert adjusted_rand_score(labels, by_length) < 0.9
    assert adjusted_rand_score(labels, by_direction) == 1.0


def test_manifold_clusters_reject_too_few_samples():
    with pytest.raises(InputError, match="manifold clusters"):
        graph.manifold_clusters(torch.zeros(5, 3), 4)


def test_spectral_baseline_matches_scikit_learn_with_k_means_on_the_eigenvectors():
    from sklearn.cluster import SpectralClustering
    from sklearn.metrics import adjusted_rand_score

    from deepclust_core import create_method

    data = load_dataset("moons", n_samples=3000, noise=0.08, random_state=1)
    ours = create_method("spectral", n_clusters=2, n_neighbors=10, random_state=0).fit(data.x).labels_
    theirs = SpectralClustering(2, affinity="nearest_neighbors", n_neighbors=10, assign_labels="kmeans",
                                random_state=0).fit_predict(data.x)
    assert adjusted_rand_score(theirs, ours) == 1.0
    assert adjusted_rand_score(data.y, ours) == 1.0
