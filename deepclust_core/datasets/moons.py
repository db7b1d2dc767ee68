"""The two-moons toy dataset (scikit-learn's ``make_moons`` with an adjustable gap), registered as "moons"."""
from __future__ import annotations

from typing import Annotated

import numpy as np

from ..validation import check_finite, check_int_range, check_positive
from .base import Dataset, register_dataset


@register_dataset("moons")
def load_moons(
    *,
    n_samples: Annotated[int, "Total number of points, split equally between the two moons."] = 4000,
    noise: Annotated[float, "Standard deviation of the Gaussian noise added to each coordinate."] = 0.05,
    gap: Annotated[float, "Extra distance between the moons: 0 is scikit-learn's layout, "
                          "positive pulls them apart, negative (down to -0.5) makes them touch."] = 0.0,
    random_state: Annotated[int, "Seed of the noise and of the order of the points."] = 0,
) -> Dataset:
    """Two interleaving half circles (scikit-learn's ``make_moons``), label 0 the upper, 1 the lower moon.

    `gap` moves the lower moon down by `gap` (the upper one stays the unit upper half circle). In
    scikit-learn's layout (gap 0) the noise-free arcs are 0.5 apart; for -0.5 <= gap <= 0.5 they are exactly
    0.5 + gap apart, so gap -0.5 makes them touch and smaller values make them cross. The coordinates are
    kept raw (not standardised) so that they match the pictures in the papers.
    """
    from sklearn.datasets import make_moons

    n_samples = check_int_range(n_samples, "n_samples", 2)
    noise = check_positive(noise, "noise", allow_zero=True)
    gap = check_finite(gap, "gap")
    random_state = check_int_range(random_state, "random_state", 0)
    points, labels = make_moons(n_samples=n_samples, noise=noise, random_state=random_state)
    points[labels == 1, 1] -= gap
    return Dataset(
        x=np.ascontiguousarray(points, dtype=np.float32),
        y=labels.astype(np.int64),
        kind="points",
        name="moons",
        n_clusters=2,
        description=f"Two interleaving half circles: {n_samples} points, noise {noise:g}, gap {gap:g} "
                    "(raw coordinates).",
    )
