"""The dataset gallery: small offline data sets a teacher tries after moons, generated with NumPy/scikit-learn
or shipped with scikit-learn, each registered for ``load_dataset``, the CLI and the app's picker.

2-D shapes (raw coordinates, labels in 0..K-1): ``circles`` (two concentric rings), ``spirals`` (two
interleaved arms), ``blobs`` (Gaussian blobs of varied spread), ``skewed`` (scikit-learn's anisotropic blobs),
``xor`` (four Gaussian quadrants). Each takes ``n_samples``, ``noise`` and ``random_state``. Real tables
shipped with scikit-learn: ``iris`` (150 × 4, 3 species) and ``wine`` (178 × 13, 3 cultivars; standardised
by default because its features span five orders of magnitude). :data:`GALLERY` lists them all (with moons).
Beside them, ``digits``: scikit-learn's 1,797 handwritten digits of 8×8 pixels, a small image set that needs no
download (a second image set beside MNIST for the rules that depend on the data's kind).
"""
from __future__ import annotations

from typing import Annotated

import numpy as np

from ..validation import check_int_range, check_positive
from .base import Dataset, _stratified_subset, register_dataset

GALLERY = ("moons", "circles", "spirals", "blobs", "skewed", "xor", "iris", "wine")

_N = Annotated[int, "Total number of points, split (nearly) equally between the groups."]
_SEED = Annotated[int, "Seed of the points' positions and noise."]


def _shape(points: np.ndarray, labels: np.ndarray, name: str, n_clusters: int, description: str) -> Dataset:
    return Dataset(x=np.ascontiguousarray(points, dtype=np.float32), y=np.asarray(labels, dtype=np.int64),
                   kind="points", name=name, n_clusters=n_clusters, description=description)


def _checked(n_samples: int, noise: float, random_state: int, minimum: int = 4):
    return (check_int_range(n_samples, "n_samples", minimum), check_positive(noise, "noise", allow_zero=True),
            check_int_range(random_state, "random_state", 0))


@register_dataset("circles")
def load_circles(*, n_samples: _N = 2000,
                 noise: Annotated[float, "Standard deviation of the Gaussian noise on each coordinate."] = 0.05,
                 factor: Annotated[float, "Radius of the inner ring relative to the outer one (0 < factor < 1)."]
                 = 0.5,
                 random_state: _SEED = 0) -> Dataset:
    """Two concentric rings (scikit-learn's ``make_circles``): label 0 the outer, 1 the inner ring."""
    from sklearn.datasets import make_circles

    n_samples, noise, random_state = _checked(n_samples, noise, random_state)
    factor = check_positive(factor, "factor")
    if factor >= 1:
        from ..errors import InputError
        raise InputError(f"factor must be below 1 (the inner ring inside the outer one); got {factor:g}")
    points, labels = make_circles(n_samples=n_samples, noise=noise, factor=factor, random_state=random_state)
    return _shape(points, labels, "circles", 2,
                  f"Two concentric rings: {n_samples} points, noise {noise:g}, inner radius {factor:g}.")


@register_dataset("spirals")
def load_spirals(*, n_samples: _N = 2000,
                 noise: Annotated[float, "Standard deviation of the Gaussian noise, in units of the outer radius."]
                 = 0.02,
                 turns: Annotated[float, "Turns of each arm."] = 1.0,
                 random_state: _SEED = 0) -> Dataset:
    """Two interleaved Archimedean spiral arms (the second is the first turned by 180°), radius up to 1."""
    n_samples, noise, random_state = _checked(n_samples, noise, random_state)
    turns = check_positive(turns, "turns")
    rng = np.random.default_rng(random_state)
    labels = np.arange(n_samples) % 2
    # Uniform in arc length (roughly): radius ∝ sqrt(u) keeps the density along the arm even; start off-centre.
    radius = 0.15 + 0.85 * np.sqrt(rng.random(n_samples))
    angle = 2 * np.pi * turns * radius + np.pi * labels
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
    points += noise * rng.standard_normal(points.shape)
    return _shape(points, labels, "spirals", 2,
                  f"Two interleaved spirals: {n_samples} points, {turns:g} turn(s), noise {noise:g}.")


@register_dataset("blobs")
def load_blobs(*, n_samples: _N = 1500,
               noise: Annotated[float, "Scale of the blobs' spreads: their standard deviations are 1, 2.5 and "
                                       "0.5 times this."] = 1.0,
               random_state: _SEED = 0) -> Dataset:
    """Three Gaussian blobs of varied spread (scikit-learn's clustering comparison, ``cluster_std=[1, 2.5,
    0.5]``), centres drawn in a 20 × 20 box by the seed."""
    from sklearn.datasets import make_blobs

    n_samples, noise, random_state = _checked(n_samples, noise, random_state)
    spread = [max(noise, 1e-6) * s for s in (1.0, 2.5, 0.5)]
    points, labels = make_blobs(n_samples=n_samples, centers=[[-6, -2], [4, 4], [2, -7]], cluster_std=spread,
                                random_state=random_state)
    return _shape(points, labels, "blobs", 3, f"Three blobs of spread {', '.join(f'{s:g}' for s in spread)}: "
                                              f"{n_samples} points.")


@register_dataset("skewed")
def load_skewed(*, n_samples: _N = 1500,
                noise: Annotated[float, "Standard deviation of each blob before the shear."] = 1.0,
                random_state: _SEED = 170) -> Dataset:
    """Three sheared (anisotropic) Gaussian blobs: scikit-learn's k-means assumptions example
    (``make_blobs(random_state=170)`` times [[0.6, -0.6], [-0.4, 0.8]])."""
    from sklearn.datasets import make_blobs

    n_samples, noise, random_state = _checked(n_samples, noise, random_state)
    points, labels = make_blobs(n_samples=n_samples, cluster_std=max(noise, 1e-6), random_state=random_state)
    points = points @ np.array([[0.6, -0.6], [-0.4, 0.8]])
    return _shape(points, labels, "skewed", 3, f"Three sheared blobs: {n_samples} points, spread {noise:g}.")


@register_dataset("xor")
def load_xor(*, n_samples: _N = 2000,
             noise: Annotated[float, "Standard deviation of each quadrant's Gaussian (centres at (±1, ±1))."]
             = 0.35,
             random_state: _SEED = 0) -> Dataset:
    """XOR-like Gaussian quadrants: four round Gaussians centred at (±1, ±1), one cluster each."""
    n_samples, noise, random_state = _checked(n_samples, noise, random_state)
    rng = np.random.default_rng(random_state)
    labels = np.arange(n_samples) % 4
    centres = np.array([[1.0, 1.0], [-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0]])
    points = centres[labels] + noise * rng.standard_normal((n_samples, 2))
    return _shape(points, labels, "xor", 4, f"Four Gaussian quadrants (XOR layout): {n_samples} points, "
                                            f"spread {noise:g}.")


def _table(bunch, name: str, standardize: bool, description: str) -> Dataset:
    x = np.asarray(bunch.data, dtype=np.float64)
    if standardize:
        x = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)
    labels = np.asarray(bunch.target, dtype=np.int64)
    return Dataset(x=np.ascontiguousarray(x, dtype=np.float32), y=labels, kind="points", name=name,
                   n_clusters=int(labels.max()) + 1,
                   description=description + (" Standardised features." if standardize else " Raw features."))


@register_dataset("iris")
def load_iris(*, standardize: Annotated[bool, "Scale every feature to mean 0 and variance 1."] = False) -> Dataset:
    """Fisher's iris (ships with scikit-learn): 150 flowers × 4 measurements (cm), 3 species."""
    from sklearn.datasets import load_iris as sk_iris

    return _table(sk_iris(), "iris", bool(standardize), "Fisher's iris: 150 flowers, 4 measurements, 3 species.")


@register_dataset("wine")
def load_wine(*, standardize: Annotated[bool, "Scale every feature to mean 0 and variance 1 (its raw features "
                                              "range from 0.1 to 1,680)."] = True) -> Dataset:
    """The UCI wine table (ships with scikit-learn): 178 wines × 13 chemical measurements, 3 cultivars."""
    from sklearn.datasets import load_wine as sk_wine

    return _table(sk_wine(), "wine", bool(standardize), "UCI wine: 178 wines, 13 measurements, 3 cultivars.")


@register_dataset("digits")
def load_digits(*, n_samples: Annotated[int, "A class-stratified subset of this many images (0 = all 1,797)."] = 0,
                random_state: Annotated[int, "Seed of the subset."] = 0) -> Dataset:
    """scikit-learn's handwritten digits: 1,797 images of 8×8 pixels in [0, 1], 10 classes.

    Its grey levels 0-16 are divided by 16; nothing is downloaded."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    labels = np.asarray(bunch.target, dtype=np.int64)
    rows = slice(None)
    if n_samples:
        rows = _stratified_subset(labels, check_int_range(n_samples, "n_samples", 10, len(labels)), random_state)
    x = np.asarray(bunch.data, dtype=np.float32)[rows] / 16.0
    return Dataset(x=np.ascontiguousarray(x), y=labels[rows], kind="image", name="digits", n_clusters=10,
                   image_shape=(8, 8),
                   description=f"scikit-learn's handwritten digits: {len(x)} images of 8×8 pixels in [0, 1].")
