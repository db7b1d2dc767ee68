"""Automatic defaults: the rules (deepclust_core/defaults.py), "auto" as a typed value, its resolution at fit
time (``resolved_params_``, restored afterwards), the start that keeps a non-convex shape, DGG's kept epoch."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from deepclust_core import InputError
from deepclust_core.config import coerce_params, method_specs, resolve_params, validate_config
from deepclust_core.datasets import load_dataset
from deepclust_core.defaults import DataStats, resolve
from deepclust_core.graph import NeighborGraph
from deepclust_core.methods import create_method
from deepclust_core.methods.base import BaseClusterer
from deepclust_core.params import AUTO, coerce_value, param


def test_rules_follow_the_data_shape_not_its_name():
    rng = np.random.default_rng(0)
    points = rng.normal(0, 2.0, size=(2000, 2)).astype(np.float32)
    low = resolve(create_method("dgg", n_clusters=2), points)
    assert low["hidden_dims"] == (64, 64) and low["latent_dim"] == 4
    assert low["likelihood"] == "gaussian"
    assert low["lam"] == pytest.approx(0.02 * points.var(0).mean(), rel=1e-2)
    assert low["batch_size"] == 100 and low["epochs"] == 100 and low["lr"] == 0.01
    assert low["n_neighbors"] == 22 and low["neighbor_gammas"] == "fresh" and low["classifier_hidden"] == (20, 20)
    assert (low["init"], low["encoder_var_init"], low["keep_epoch"]) == ("spectral", "scaled", "graph_cut")
    images = rng.random((3000, 784)).astype(np.float32)
    high = resolve(create_method("dgg", n_clusters=10), images)
    assert high["hidden_dims"] == (500, 500, 2000) and high["latent_dim"] == 10
    assert high["likelihood"] == "bernoulli" and high["lr"] == 0.002 and high["classifier_hidden"] == ()
    # Time stays flat in n: the step budget sets the epochs; tiny tables get small batches and N_s < n.
    tiny = resolve(create_method("dgg", n_clusters=3), rng.normal(size=(40, 4)).astype(np.float32))
    assert tiny["batch_size"] == 16 and tiny["epochs"] == 200 and 5 <= tiny["n_neighbors"] < 40
    assert DataStats.of(images, 10).in_unit and not DataStats.of(points, 2).in_unit


def test_dec_refreshes_its_target_every_half_epoch():
    """The authors' 140 iterations are half an epoch of MNIST at batch 256: MNIST keeps ≈ 140; a few thousand
    points get a target every few steps; never sparser than 140; CDC, a DEC, the same."""
    rng = np.random.default_rng(0)
    mnist_like = resolve(create_method("dec", n_clusters=10), rng.random((70000, 8)).astype(np.float32))
    assert mnist_like["update_interval"] == math.ceil(70000 / 512) == 137
    points = resolve(create_method("idec", n_clusters=2), rng.normal(size=(4000, 2)).astype(np.float32))
    assert points["update_interval"] == 8 and "tol" not in points  # tol keeps the paper's 0.1 %
    assert resolve(create_method("dec", n_clusters=3), rng.normal(size=(150, 4)))["update_interval"] == 1
    huge = resolve(create_method("dec", n_clusters=3), np.zeros((200000, 1), np.float32))
    assert huge["update_interval"] == 140  # never sparser than the authors
    shapes = rng.normal(size=(4000, 2)).astype(np.float32)
    cdc = resolve(create_method("cdc", n_clusters=2), shapes)  # CDC takes DEC's rule: half an epoch at batch 256
    assert cdc["update_interval"] == resolve(create_method("dec", n_clusters=2), shapes)["update_interval"] == 8
    images = resolve(create_method("cdc", n_clusters=10), rng.random((10000, 784)).astype(np.float32))
    assert images["update_interval"] == 20  # 10,000 MNIST images: half an epoch at batch 256 (RESULTS §8.6)


def test_dcn_and_dkm_slow_their_clustering_phase_when_the_latent_is_wider_than_the_data():
    """Where the latent has more dimensions than the data, reconstruction hardly holds it: the k-means phase runs
    at 0.0001 and re-makes its centres each epoch; images and wide tables keep the papers' 0.001 and the
    running mean (MNIST's path unchanged). Other methods' learning rates keep the shared rule."""
    rng = np.random.default_rng(0)
    points = rng.normal(size=(1500, 2)).astype(np.float32)
    for name in ("dcn", "dkm"):
        low = resolve(create_method(name, n_clusters=3), points)
        assert low["latent_dim"] == 4 and low["lr"] == 1e-4
        wide = resolve(create_method(name, n_clusters=10), rng.random((3000, 784)).astype(np.float32))
        assert wide["latent_dim"] == 10 and wide["lr"] == 1e-3
        assert low["center_refresh"] == "epoch" and wide["center_refresh"] == "none"
    assert resolve(create_method("dcn", n_clusters=3), rng.normal(size=(200, 13)))["center_refresh"] == "none"
    assert resolve(create_method("dgg", n_clusters=3), points)["lr"] == 0.01  # the shared rule is untouched
    recipe = resolve_params("moons", "dcn")  # the paper recipe's 2-D latent on 2-D data: not wider
    assert resolve(create_method("dcn", **recipe), points)["lr"] == 1e-3


def test_set_values_win_and_plain_defaults_resolve_nothing():
    points = np.random.default_rng(1).normal(size=(500, 2)).astype(np.float32)
    resolved = resolve(create_method("dgg", n_clusters=2, latent_dim=3, lr=0.05, init="gmm"), points)
    assert "latent_dim" not in resolved and "lr" not in resolved and "init" not in resolved
    assert resolve(create_method("kmeans", n_clusters=2), points) == {}

    @dataclass(eq=False, repr=False)
    class Plain(BaseClusterer):  # a method written on the old API: plain defaults, nothing to resolve
        alpha: float = param(1.0, "α")

    plain = Plain(n_clusters=2)
    assert resolve(plain, points) == {}
    plain.check_input(points)

    from deepclust_core.methods import AutoDeepClusterer, DeepClusterer

    @dataclass(eq=False, repr=False)
    class PlainDeep(DeepClusterer):  # another engineer's autoencoder method on the base API: plain defaults
        pass

    assert PlainDeep().hidden_dims == (500, 500, 2000)
    assert resolve(PlainDeep(), points) == {"likelihood": "gaussian"}  # the one "auto" DeepClusterer always had
    assert isinstance(create_method("vade"), AutoDeepClusterer) and create_method("vade").hidden_dims == AUTO
    assert create_method("dec").epochs == 100  # a method's own paper schedule stays plain


def test_auto_is_a_typed_value_that_forms_and_flags_accept():
    specs = method_specs("dgg")
    assert specs["latent_dim"].auto and specs["hidden_dims"].auto and not specs["n_clusters"].auto
    assert coerce_value(specs["latent_dim"], "auto") == AUTO
    assert coerce_value(specs["hidden_dims"], "32,32") == (32, 32)
    with pytest.raises(InputError):
        coerce_params("dgg", {"latent_dim": "big"})
    with pytest.raises(InputError):
        coerce_params("dgg", {"latent_dim": 0})
    config = validate_config({"dataset": "circles", "method": "dgg", "params": resolve_params("circles", "dgg")})
    assert config["params"]["latent_dim"] == AUTO and config["params"]["n_clusters"] == 2
    # The paper recipes keep the paper's start; the gallery's only sets K.
    assert resolve_params("moons", "dgg")["init"] == "gmm"
    assert resolve_params("blobs", "vade") == {"n_clusters": 3}


def test_graph_cut_matches_hand_count_and_an_empty_cluster_never_wins():
    model = create_method("dgg", n_clusters=2)
    # Four points, two neighbours each; weights ½. Labels 0,0,1,1: points 1 and 2 each have one edge across.
    indices = torch.tensor([[1, 2], [0, 2], [3, 1], [2, 0]])
    model.graph_ = NeighborGraph(indices, torch.full((4, 2), 0.5), torch.ones(4, 2))
    labels = torch.tensor([0, 0, 1, 1])
    # cut(0) = ½ (point 0 → 2) + ½ (point 1 → 2) = 1 over vol 2; cut(1) = ½ + ½ = 1 over vol 2.
    assert model.graph_cut(labels) == pytest.approx(1.0)
    assert model.graph_cut(torch.tensor([0, 0, 0, 0])) == math.inf


def test_auto_defaults_keep_circles_whole_and_record_what_they_chose():
    """The issue's failure: DGG with its defaults on circles put every point in one cluster (ACC 0.5)."""
    data = load_dataset("circles", n_samples=600, random_state=3)
    model = create_method("dgg", n_clusters=2, random_state=0, cache_pretrained=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a collapse warns: it must not happen
        model.fit(data.x, data.y)
    assert model.scores(data.y)["acc"] >= 0.95
    assert not model.collapsed_
    assert model.resolved_params_["latent_dim"] == 4 and model.resolved_params_["init"] == "spectral"
    assert model.latent_dim == AUTO and model.get_params()["n_neighbors"] == AUTO  # the user's choice stays
    assert model.predict(data.x).shape == (600,)  # post-fit code reads the resolved values
    assert model.kept_epoch_ is not None


def test_a_collapse_says_which_clusters_went_empty_and_when():
    model = create_method("vade", n_clusters=3)
    model.warnings_ = []
    model.history_ = [{"phase": "train", "epoch": 1, "clusters_used": 3},
                      {"phase": "train", "epoch": 2, "clusters_used": 2}]
    with pytest.warns(RuntimeWarning, match=r"cluster\(s\) 1, 2 ended empty; first seen after training epoch 2"):
        model._check_collapse(np.zeros(10, dtype=int))
    assert model.collapsed_ and "ended empty" in model.warnings_[0]
