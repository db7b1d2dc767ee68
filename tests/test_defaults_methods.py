"""Automatic defaults of the methods with a paper's fixed network (IMSAT, SpectralNet, CatGAN, InfoGAN) and of the
autoencoder methods that took the shared rules later (DEN, DEPICT, LTVAE): small networks and a step budget on
low-dimensional data, exactly the papers' values on images (so the MNIST reproductions do not move)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from deepclust_core.config import resolve_params
from deepclust_core.defaults import GAN_UPDATES_LOW, GAN_UPDATES_WIDE, STEP_BUDGET, resolve
from deepclust_core.methods import create_method

POINTS = np.random.default_rng(0).normal(0.0, 1.0, size=(2000, 2)).astype(np.float32)


def steps(n: int, batch: int, epochs: int) -> int:
    return math.ceil(n / batch) * epochs


def test_small_networks_and_step_budgets_on_2000_points():
    assert resolve(create_method("imsat", n_clusters=2), POINTS) == {"hidden_layers": (256, 256)}
    spectral = resolve(create_method("spectralnet", n_clusters=2), POINTS)
    assert spectral["map_hidden"] == (64, 64) and spectral["laplacian"] == "unnormalized"
    for name in ("catgan", "infogan"):
        gan = resolve(create_method(name, n_clusters=2), POINTS)
        assert gan["hidden_dims"] == (64, 64)
        assert gan["epochs"] == 200 and steps(2000, 100, gan["epochs"]) == GAN_UPDATES_LOW  # 4,000 updates
    for name in ("den", "depict", "ltvae"):
        auto = resolve(create_method(name, n_clusters=2), POINTS)
        assert auto["hidden_dims"] == (64, 64) and auto["latent_dim"] == 4 and auto["pretrain_lr"] == 0.01
        pretrain = steps(2000, auto["pretrain_batch_size"], auto["pretrain_epochs"])
        assert STEP_BUDGET <= pretrain < STEP_BUDGET + math.ceil(2000 / auto["pretrain_batch_size"])
    assert steps(2000, *(lambda r: (r["batch_size"], r["epochs"]))(resolve(create_method("ltvae"), POINTS))) == 2000
    assert create_method("den").epochs == 50 and create_method("depict").lr == 0.0001  # their papers' schedules
    depict = resolve(create_method("depict", n_clusters=2), POINTS)
    assert depict["dropout"] == 0.0  # one of 2 coordinates is no noise
    assert depict["layer_weight"] == 0.1  # the authors' hidden-layer losses off images
    digits = np.random.default_rng(0).random((100, 64)).astype(np.float32)  # 8×8 images
    assert resolve(create_method("depict", n_clusters=10), digits)["layer_weight"] == 0.0
    for setting in ({"conv_layout": "paper"}, {"network": "mlp"}):  # their tanh code needs them; MLPs: unmeasured
        assert resolve(create_method("depict", n_clusters=10, **setting), digits)["layer_weight"] == 0.1
    assert resolve(create_method("den", n_clusters=2), POINTS)["lr"] == 0.001  # a tenth of the pretraining 0.01
    assert resolve(create_method("den", n_clusters=2, pretrain_lr=0.02), POINTS)["lr"] == 0.002
    # LTVAE: a 4-D latent of 2-D points has no four independent directions to unmix: contiguous facets; a table
    # wider than the latent keeps ICA.
    assert resolve(create_method("ltvae", n_clusters=2), POINTS)["structure"] == "split"
    wide = np.random.default_rng(0).normal(size=(200, 13)).astype(np.float32)
    assert resolve(create_method("ltvae", n_clusters=3), wide)["structure"] == "ica"
    assert "structure" not in resolve(create_method("ltvae", n_clusters=2, structure="ica"), POINTS)


@pytest.mark.parametrize("n", [10000, 70000])
def test_images_keep_the_papers_networks_and_schedules(n):
    images = np.zeros((n, 784), np.float32)  # the rules read only the shape and the range of the values
    images[0, 0] = 1.0
    assert resolve(create_method("imsat", n_clusters=10), images) == {"hidden_layers": (1200, 1200)}
    spectral = resolve(create_method("spectralnet", **resolve_params("mnist", "spectralnet")), images)
    assert spectral["map_hidden"] == (1024, 1024, 512) and spectral["laplacian"] == "normalized"
    gan = resolve(create_method("catgan", n_clusters=10), images)
    assert gan["hidden_dims"] == (1000, 500)
    assert gan["epochs"] == int(np.clip(math.ceil(GAN_UPDATES_WIDE / math.ceil(n / 100)), 20, 300))  # as before
    # With the MNIST recipe DEN, DEPICT and LTVAE resolve only what the recipe leaves open, to the old values
    # (λ is unused by a Bernoulli likelihood).
    for name, old in (("den", {"lr": 0.0001}), ("depict", {}), ("ltvae", {"batch_size": 100, "lr": 0.002})):
        params = resolve_params("mnist", name, {"epochs": 20} if name == "ltvae" else {})
        auto = resolve(create_method(name, **params), images)
        assert set(auto) <= {"lam", "batch_size", "lr", "dropout", "layer_weight", "structure"}
        assert {k: auto[k] for k in old} == old
        assert auto.get("dropout", 0.1) == 0.1  # DEPICT's paper corruption on images
        assert auto.get("layer_weight", 0.0) == 0.0  # and no hidden-layer losses on images (they merged clusters)
        assert auto.get("structure", "ica") == "ica"  # LTVAE's facets by ICA of a latent narrower than the data


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # one epoch on 300 points may leave a cluster empty
def test_discriminative_and_gan_fits_record_what_auto_became():
    x = POINTS[:300]
    imsat = create_method("imsat", n_clusters=2, epochs=1).fit(x)
    assert imsat.resolved_params_ == {"hidden_layers": (256, 256)} and imsat.hidden_layers == "auto"
    assert imsat.network_[0].out_features == 256
    gan = create_method("infogan", n_clusters=2, epochs=1, batch_size=50).fit(x)
    assert gan.resolved_params_ == {"hidden_dims": (64, 64)} and gan.epochs_ == 1
    assert create_method("catgan", n_clusters=2, epochs=0).resolved_epochs(x) == 300  # 0 = auto, as before
