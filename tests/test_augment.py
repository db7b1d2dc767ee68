"""Image augmentation for pretraining (DEC-DA's random shifts and rotations)."""
import math

import numpy as np
import pytest
import torch

from deepclust_core import nn as dnn
from deepclust_core.errors import InputError
from deepclust_core.methods import VaDE, create_method


def _dot(side=28, row=14, col=14, n=1):
    x = torch.zeros(n, side * side)
    x[:, row * side + col] = 1.0
    return x


def _centroids(images, side):
    grid = images.view(-1, side, side)
    rows = torch.arange(side, dtype=images.dtype).view(1, side, 1)
    cols = torch.arange(side, dtype=images.dtype).view(1, 1, side)
    mass = grid.sum((1, 2))
    return (grid * rows).sum((1, 2)) / mass, (grid * cols).sum((1, 2)) / mass


def test_image_side_recognises_square_grey_and_rgb_images_only():
    assert dnn.image_side(784) == (28, 1)
    assert dnn.image_side(3 * 32 * 32) == (32, 3)
    assert dnn.image_side(2) is None and dnn.image_side(2000) is None and dnn.image_side(1) is None


def test_no_shift_and_no_rotation_is_the_identity():
    x = torch.rand(5, 784)
    assert torch.allclose(dnn.random_affine(x, 28, max_shift=0.0, max_degrees=0.0), x, atol=1e-5)


def test_shifts_move_a_dot_within_ten_percent_of_the_width_and_keep_its_mass():
    side = 28
    x = _dot(side, n=400)
    moved = dnn.random_affine(x, side, max_shift=0.1, max_degrees=0.0, generator=torch.Generator().manual_seed(0))
    rows, cols = _centroids(moved, side)
    assert torch.allclose(moved.sum(1), torch.ones(400), atol=1e-5)  # bilinear weights of an interior dot sum to 1
    limit = 0.1 * side + 1e-4
    assert (rows - 14).abs().max() <= limit and (cols - 14).abs().max() <= limit
    assert (rows - 14).abs().max() > 2.0 and (cols - 14).abs().max() > 2.0  # the whole range is used
    assert abs(float((rows - 14).mean())) < 0.3 and abs(float((cols - 14).mean())) < 0.3  # no drift


def test_rotations_turn_about_the_centre_by_at_most_the_angle():
    side = 28
    # A dot 10 pixels right of the image centre (13.5, 13.5 in pixel-centre coordinates).
    x = torch.zeros(300, side * side)
    x[:, 13 * side + 23] = 0.5
    x[:, 14 * side + 23] = 0.5
    moved = dnn.random_affine(x, side, max_shift=0.0, max_degrees=10.0, generator=torch.Generator().manual_seed(1))
    rows, cols = _centroids(moved, side)
    angles = torch.atan2(rows - 13.5, cols - 13.5)
    radius = torch.hypot(rows - 13.5, cols - 13.5)
    assert angles.abs().max() <= math.radians(10.0) + 0.02
    assert angles.abs().max() > math.radians(7.0)
    assert torch.allclose(radius, torch.full_like(radius, 9.5), atol=0.3)


def test_rgb_images_move_all_channels_together():
    side = 8
    image = torch.zeros(1, side, side, 3)
    image[0, 4, 4] = torch.tensor([1.0, 0.5, 0.25])
    x = image.reshape(1, -1).repeat(50, 1)
    moved = dnn.random_affine(x, side, channels=3, max_shift=0.2, max_degrees=0.0,
                              generator=torch.Generator().manual_seed(2)).view(50, side, side, 3)
    assert torch.allclose(moved[..., 1], moved[..., 0] * 0.5, atol=1e-6)
    assert torch.allclose(moved[..., 2], moved[..., 0] * 0.25, atol=1e-6)


def test_augmented_pretraining_is_cached_apart_and_rejects_non_images(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPCLUST_CACHE", str(tmp_path))
    rng = np.random.default_rng(0)
    x = rng.random((60, 64)).astype(np.float32)  # 8 × 8 "images"
    common = dict(n_clusters=2, hidden_dims=(16,), latent_dim=2, pretrain_epochs=2, epochs=1, random_state=0)
    plain = VaDE(**common).fit(x)
    augmented = VaDE(**common, pretrain_augment=True).fit(x)
    assert augmented.pretrain_key_ != plain.pretrain_key_ and not augmented.pretrain_cached_
    again = VaDE(**common, pretrain_augment=True).fit(x)
    assert again.pretrain_cached_ and again.pretrain_key_ == augmented.pretrain_key_
    with pytest.raises(InputError, match="not square grey"):
        VaDE(**common, pretrain_augment=True).fit(x[:, :60])


def test_cdc_pretraining_augments_too(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPCLUST_CACHE", str(tmp_path))
    x = np.random.default_rng(1).random((60, 64)).astype(np.float32)
    common = dict(n_clusters=2, hidden_dims=(16,), latent_dim=2, pretrain_epochs=2, epochs=1, random_state=0)
    calls = []
    original = dnn.random_affine
    monkeypatch.setattr(dnn, "random_affine", lambda *a, **k: calls.append(a[1]) or original(*a, **k))
    plain = create_method("cdc", **common).fit(x)
    assert not calls
    augmented = create_method("cdc", **common, pretrain_augment=True).fit(x)
    assert calls and set(calls) == {8} and augmented.pretrain_key_ != plain.pretrain_key_
