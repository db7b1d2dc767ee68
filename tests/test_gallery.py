"""The dataset gallery: every entry loads offline with its options, is reproducible, and is reachable from
load_dataset, the CLI's dataset list and the app's picker (both list the registry)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from deepclust_core import InputError
from deepclust_core.datasets import GALLERY, dataset_options, list_datasets, load_dataset
from deepclust_core.metrics import cluster_acc

SHAPES = {"circles": 2, "spirals": 2, "blobs": 3, "skewed": 3, "xor": 4}


@pytest.mark.parametrize("name", GALLERY)
def test_every_entry_loads_with_labels_for_each_group(name):
    data = load_dataset(name)
    assert name in list_datasets()
    assert data.x.dtype == np.float32 and data.x.flags.c_contiguous and np.isfinite(data.x).all()
    assert sorted(np.unique(data.y)) == list(range(data.n_clusters))
    if name in SHAPES:
        assert data.n_clusters == SHAPES[name] and data.x.shape[1] == 2
        options = {o["name"] for o in dataset_options(name)}
        assert {"n_samples", "noise", "random_state"} <= options


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shapes_follow_their_options(name):
    small = load_dataset(name, n_samples=200, noise=0.1, random_state=4)
    assert small.x.shape == (200, 2)
    np.testing.assert_array_equal(small.x, load_dataset(name, n_samples=200, noise=0.1, random_state=4).x)
    assert not np.array_equal(small.x, load_dataset(name, n_samples=200, noise=0.1, random_state=5).x)
    counts = np.bincount(small.y)
    assert counts.max() - counts.min() <= 2  # groups of (nearly) equal size
    with pytest.raises(InputError):
        load_dataset(name, n_samples=1)
    with pytest.raises(InputError):
        load_dataset(name, noise=-1.0)


def test_the_shapes_are_what_they_say():
    circles = load_dataset("circles", noise=0.0)
    radius = np.linalg.norm(circles.x, axis=1)
    np.testing.assert_allclose(radius[circles.y == 0], 1.0, atol=1e-5)
    np.testing.assert_allclose(radius[circles.y == 1], 0.5, atol=1e-5)
    xor = load_dataset("xor", noise=0.0)
    assert len({tuple(p) for p in xor.x.round(6)}) == 4
    # Non-convex sets defeat k-means, the blobs do not: the gallery spans both.
    from sklearn.cluster import KMeans

    def kmeans_acc(data):
        return cluster_acc(data.y, KMeans(data.n_clusters, n_init=10, random_state=0).fit_predict(data.x))

    assert kmeans_acc(load_dataset("circles")) < 0.7
    assert kmeans_acc(load_dataset("blobs")) > 0.9
    wine = load_dataset("wine")
    np.testing.assert_allclose(wine.x.std(0), 1.0, atol=1e-4)
    assert load_dataset("wine", standardize=False).x.max() > 1000
    assert load_dataset("iris").x.shape == (150, 4)


def test_the_cli_lists_every_gallery_entry():
    listing = subprocess.run([sys.executable, "-m", "deepclust_core", "datasets", "--json"], capture_output=True,
                             text=True, check=True)
    names = {row["name"] for row in json.loads(listing.stdout)}
    assert set(GALLERY) <= names


def test_digits_are_small_offline_images():
    digits = load_dataset("digits")
    assert digits.kind == "image" and digits.image_shape == (8, 8) and digits.x.shape == (1797, 64)
    assert digits.x.min() == 0.0 and digits.x.max() == 1.0 and digits.n_clusters == 10
    subset = load_dataset("digits", n_samples=500, random_state=1)
    assert subset.x.shape == (500, 64) and np.bincount(subset.y).min() >= 48  # stratified
    with pytest.raises(InputError):
        load_dataset("digits", n_samples=5)
