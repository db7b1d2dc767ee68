"""VaDE and DGG as estimators: objective identities, accuracy on moons, sklearn conventions, bad input."""
import inspect

import numpy as np
import pytest
import torch
from sklearn.base import clone

from deepclust_core import DGG, VaDE, create_method, list_methods
from deepclust_core.callbacks import Callback, StopAfter
from deepclust_core.datasets import load_dataset
from deepclust_core.errors import InputError
from deepclust_core.metrics import cluster_acc, evaluate
from deepclust_core.recipes import recipe

TINY = dict(hidden_dims=(8, 8), latent_dim=2, epochs=2, pretrain_epochs=2, batch_size=64, lam=0.1,
            device="cpu", gmm_restarts=1)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPCLUST_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [6, 6]], dtype=np.float32)
    y = np.repeat([0, 1], 100)
    return (centres[y] + rng.normal(size=(200, 2))).astype(np.float32), y


def test_registry_and_create_method():
    assert {"vade", "dgg"} <= set(list_methods())
    model = create_method("dgg", n_neighbors=5)
    assert isinstance(model, DGG) and model.n_neighbors == 5
    with pytest.raises(InputError, match="Unknown method 'nope'"):
        create_method("nope")
    with pytest.raises(InputError, match="Unknown parameter"):
        create_method("vade", n_neighbors=3)


def test_dgg_without_neighbours_has_the_vade_objective(blobs):
    x, _ = blobs
    vade = VaDE(n_clusters=2, **TINY).fit(x)
    dgg = DGG(n_clusters=2, n_neighbors=0, **TINY).fit(x)
    dgg.autoencoder_.load_state_dict(vade.autoencoder_.state_dict())
    dgg.prior_.load_state_dict(vade.prior_.state_dict())
    xt = torch.as_tensor(x)
    index = torch.arange(50)
    torch.manual_seed(7)
    vade_terms = vade._batch_loss(xt, index)
    torch.manual_seed(7)
    dgg_terms = dgg._batch_loss(xt, index)
    for key in vade_terms:
        torch.testing.assert_close(dgg_terms[key], vade_terms[key])
    np.testing.assert_array_equal(dgg.predict(x), vade.predict(x))


def test_dgg_exact_sum_is_the_expectation_of_sampled_neighbours(blobs):
    """m sampled neighbours estimate the weighted sum without bias (deterministic parts compared)."""
    x, _ = blobs
    model = DGG(n_clusters=2, n_neighbors=4, neighbors_per_step=4, **TINY).fit(x)
    xt = torch.as_tensor(x)
    index = torch.arange(20)
    with torch.no_grad():
        model.autoencoder_.logvar_head.bias.fill_(-30.0)  # z = mu: removes sampling noise
        model.autoencoder_.logvar_head.weight.zero_()
        cache = model.gamma_cache_.clone()
        exact = model._batch_loss(xt, index)["recon"].item()
        model.neighbors_per_step = 1
        estimates = []
        for _ in range(150):
            model.gamma_cache_.copy_(cache)
            estimates.append(model._batch_loss(xt, index)["recon"].item())
    assert np.mean(estimates) == pytest.approx(exact, rel=0.03)


def test_fit_outputs_and_seed_reproducibility(blobs):
    x, y = blobs
    a = DGG(n_clusters=2, n_neighbors=5, random_state=3, **TINY).fit(x, y)
    b = DGG(n_clusters=2, n_neighbors=5, random_state=3, **TINY).fit(x, y)
    assert a.labels_.shape == (200,) and a.transform(x).shape == (200, 2)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.transform(x), b.transform(x), rtol=1e-5, atol=1e-6)
    assert [r["epoch"] for r in a.history_ if r["phase"] == "train"] == [1, 2]
    assert {"loss", "recon", "kl_z", "kl_c", "entropy", "acc", "nmi", "ari"} <= set(a.history_[-1])
    assert a.predict_proba(x).sum(1) == pytest.approx(np.ones(200), abs=1e-5)
    assert a.pretrain_cached_ is False and b.pretrain_cached_ is True  # shared pretraining cache


def test_callbacks_see_epochs_latent_and_can_stop(blobs):
    x, y = blobs
    seen = []

    class Probe(Callback):
        def on_epoch_end(self, estimator, info):
            if info.phase == "train":
                latent, labels = info.latent()
                seen.append((info.epoch, latent.shape, labels.shape))

    model = VaDE(n_clusters=2, **{**TINY, "epochs": 10}).fit(x, y, callbacks=[Probe(), StopAfter(3)])
    assert [s[0] for s in seen] == [1, 2, 3]
    assert seen[0][1] == (200, 2) and seen[0][2] == (200,)
    assert model.stopped_early_ and model.labels_.shape == (200,)


def test_nan_loss_is_reported_not_hidden(blobs):
    x, _ = blobs
    from deepclust_core.errors import TrainingError

    with pytest.raises(TrainingError, match="diverged"):
        VaDE(n_clusters=2, **{**TINY, "lr": 1e30, "epochs": 3}).fit(x)


def test_collapse_is_reported(blobs):
    x, _ = blobs
    model = VaDE(n_clusters=2, **TINY).fit(x)
    with pytest.warns(RuntimeWarning, match="collapse"):
        model._check_collapse(np.zeros(10, dtype=int))
    assert model.collapsed_ and model.n_clusters_used_ == 1


@pytest.mark.parametrize("params, message", [
    ({"n_neighbors": 200}, "smaller than the number of samples"),
    ({"n_neighbors": -1}, "n_neighbors"),
    ({"lam": 0.0}, "lam must be > 0"),
    ({"lam": -1.0}, "lam must be > 0"),
    ({"epochs": 0}, "epochs must be >= 1"),
    ({"kernel": "cosine"}, "kernel must be one of"),
    ({"n_clusters": 500}, "n_clusters"),
])
def test_bad_hyperparameters_are_rejected(blobs, params, message):
    x, _ = blobs
    with pytest.raises(InputError, match=message):
        DGG(**{**TINY, "n_clusters": 2, **params}).fit(x)


@pytest.mark.parametrize("data, message", [
    (np.array([[1.0, np.nan], [0.0, 1.0], [2.0, 2.0]]), "NaN"),
    (np.array([["a", "b"], ["c", "d"]]), "non-numeric"),
    (np.zeros(10), "2-D|shape"),
])
def test_bad_features_are_rejected(data, message):
    with pytest.raises(InputError, match=message):
        VaDE(n_clusters=2, **TINY).fit(data)


def test_label_length_mismatch_is_rejected(blobs):
    x, y = blobs
    with pytest.raises(InputError, match="length|samples"):
        VaDE(n_clusters=2, **TINY).fit(x, y[:10])


def test_predict_checks_feature_count(blobs):
    x, _ = blobs
    model = VaDE(n_clusters=2, **TINY).fit(x)
    with pytest.raises(InputError, match="features"):
        model.predict(np.zeros((3, 5)))


def test_clone_and_params_roundtrip():
    model = DGG(n_neighbors=7, hidden_dims=(4,))
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    assert "n_neighbors=7" in repr(model)


def test_dgg_separates_small_moons():
    """The paper's Fig. 1 claim: DGG above 0.95 on the default moons (2 x 2000 points) with the moons recipe.

    (On 1000 points the recipe's 40 neighbours span too much of each arc and 10 steps per epoch are too few;
    DGG then stays around 0.6-0.9, so the test uses the size the recipe is made for: ~20 s on 2 cores.)"""
    data = load_dataset("moons", random_state=0)
    params = {**recipe("moons", "dgg"), "random_state": 0, "device": "cpu"}
    model = DGG(**params).fit(data.x, data.y)
    assert model.graph_cross_fraction_ < 0.01
    assert model.scores(data.y)["acc"] > 0.95


def test_cluster_moments_are_each_clusters_weight_mean_and_variance():
    from deepclust_core.methods.vade import cluster_moments

    features = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 4.0], [10.0, 6.0], [11.0, 5.0]])
    weights, means, variances = cluster_moments(features, np.array([0, 0, 2, 2, 2]), 3)
    np.testing.assert_allclose(weights, [0.4, 1e-3 / 5, 0.6])  # the empty cluster keeps a tiny weight
    np.testing.assert_allclose(means[0], [1.0, 0.0])
    np.testing.assert_allclose(means[2], [31 / 3, 5.0])
    np.testing.assert_allclose(variances[0], [1.0 + 1e-6, 1e-6])
    np.testing.assert_allclose(variances[2], [2 / 9 + 1e-6, 2 / 3 + 1e-6])
    np.testing.assert_allclose(means[1], features.mean(0))  # the empty one sits on the data, with its spread
    np.testing.assert_allclose(variances[1], features.var(0) + 1e-6)


@pytest.mark.parametrize("init", ["spectral", "umap"])
def test_graph_starts_find_the_moons_that_a_gmm_start_cuts(init):
    data = load_dataset("moons", random_state=0)
    params = {**recipe("moons", "vade"), "epochs": 1, "random_state": 0}
    gmm_start = VaDE(**params).fit(data.x, data.y)
    other_start = VaDE(**{**params, "init": init}).fit(data.x, data.y)
    assert other_start.init_scores_["acc"] > 0.99 > gmm_start.init_scores_["acc"]
    # The prior's components are the start's clusters: its weights are their sizes.
    sizes = np.bincount(other_start.init_labels_, minlength=2) / len(data.y)
    np.testing.assert_allclose(other_start.gmm_parameters()["weights"], sizes, atol=0.05)
    # DGG's classifier f2 learns the start's clusters, not k-means labels.
    dgg = DGG(**{**recipe("moons", "dgg"), "epochs": 1, "random_state": 0,
                 "init": init}).fit(data.x, data.y)
    assert dgg.init_scores_["acc"] > 0.99 and not hasattr(dgg, "kmeans_labels_")


def test_model_start_scores_are_the_models_own_assignments_before_training():
    data = load_dataset("moons", random_state=0)
    params = {**recipe("moons", "vade"), "epochs": 1, "random_state": 0}
    seen = {}

    class Spy(VaDE):  # what the model predicts right after its start, before any training step
        def _initialize(self, x_np, x, labels):
            super()._initialize(x_np, x, labels)
            seen["labels"] = self._predict_tensor(x)

    gmm = Spy(**params).fit(data.x, data.y)
    assert gmm.model_start_scores_ == evaluate(data.y, seen["labels"])
    # The paper's start: the prior is the GMM, so the model assigns exactly what the GMM did.
    np.testing.assert_array_equal(seen["labels"], gmm.init_labels_)
    assert gmm.model_start_scores_ == gmm.init_scores_
    # A spectral start finds the moons (ACC > 0.99); Gaussians fitted to them cannot hold them all.
    spectral = Spy(**{**params, "init": "spectral"}).fit(data.x, data.y)
    assert spectral.model_start_scores_ == evaluate(data.y, seen["labels"])
    assert spectral.model_start_scores_["acc"] < spectral.init_scores_["acc"]
    # DGG's start is its classifier f2 fitted to the start's clusters; without labels nothing is scored.
    dgg = DGG(**{**recipe("moons", "dgg"), "epochs": 1, "random_state": 0, "init": "spectral"}).fit(data.x, data.y)
    assert dgg.model_start_scores_["acc"] > 0.95
    assert VaDE(**params).fit(data.x).model_start_scores_ is None


def test_dgg_records_how_far_its_mixture_agrees_with_f2():
    data = load_dataset("moons", n_samples=1000, random_state=0)
    params = {**recipe("moons", "dgg"), "epochs": 2, "random_state": 0, "init": "spectral"}
    dgg = DGG(**params).fit(data.x, data.y)
    last = dgg.history_[-1]
    assert last["phase"] == "train" and last["epoch"] == 2
    # The same quantities recomputed from the fitted model: f2's labels against the mixture's posterior at mu.
    with torch.no_grad():
        mu = torch.as_tensor(dgg.transform(data.x), device=dgg.device_)
        mixture = dgg.prior_.responsibilities(mu).argmax(1).cpu().numpy()
    predicted = dgg.predict(data.x)
    assert last["acc"] == pytest.approx(cluster_acc(data.y, predicted))
    assert last["mixture_agreement"] == pytest.approx(np.mean(predicted == mixture))
    assert last["mixture_acc"] == pytest.approx(cluster_acc(data.y, mixture))
    # The spectral start finds the moons and f2 holds them, but two Gaussians in the latent cannot yet: one
    # epoch pulls f2 to the mixture (they agree on > 95 % of the points) and its ACC falls to the mixture's.
    first = dgg.history_[-2]
    assert dgg.model_start_scores_["acc"] > 0.99
    assert first["acc"] < 0.9 and abs(first["acc"] - first["mixture_acc"]) < 0.05
    assert first["mixture_agreement"] > 0.95
    # Without labels the agreement is still recorded (it needs none); VaDE has no f2 to compare.
    unlabelled = DGG(**params).fit(data.x)
    assert "mixture_acc" not in unlabelled.history_[-1]
    assert 0.0 <= unlabelled.history_[-1]["mixture_agreement"] <= 1.0
    vade = VaDE(**{**recipe("moons", "vade"), "epochs": 1, "random_state": 0}).fit(data.x, data.y)
    assert "mixture_agreement" not in vade.history_[-1]


def test_umap_graph_uses_the_embedding_the_umap_start_made(monkeypatch):
    from deepclust_core import graph as dgraph

    data = load_dataset("moons", n_samples=600, random_state=0)
    real, calls, used_metrics = dgraph.umap_embedding, [], []

    def spy(*a, **k):
        bound = inspect.signature(real).bind(*a, **k)
        bound.apply_defaults()
        calls.append(bound.arguments["features"].shape)
        used_metrics.append(bound.arguments["metric"])
        return real(*a, **k)

    monkeypatch.setattr(dgraph, "umap_embedding", spy)
    real_clusters, fits = dgraph.manifold_clusters, []
    monkeypatch.setattr(dgraph, "manifold_clusters", lambda *a, **k: fits.append(k["n_init"]) or real_clusters(*a, **k))
    params = {**recipe("moons", "dgg"), "epochs": 1, "random_state": 0, "n_neighbors": 10, "graph_space": "umap"}
    dgg = DGG(**{**params, "init": "umap"}, gmm_restarts=3).fit(data.x, data.y)
    assert calls == [(600, 2)]  # one UMAP of the pretrained latent, shared by the start and the graph
    assert fits == [3]  # the start's mixture on it keeps the most likely of gmm_restarts fits
    embedding = torch.as_tensor(dgg.umap_embedding_)
    assert embedding.shape == (600, 2)
    nearest = torch.cdist(embedding, embedding).topk(11, largest=False).values[:, 1:]
    # (atol: the kNN uses |a|² + |b|² - 2ab in float32, and min_dist 0 puts some points almost on top of others)
    torch.testing.assert_close(dgg.graph_.distances, nearest, atol=0.02, rtol=1e-3)
    # The graph's own UMAP when the start is the paper's GMM; other data (another autoencoder) another UMAP.
    gmm_start = DGG(**params).fit(data.x[::-1].copy(), data.y[::-1].copy())
    assert len(calls) == 2 and gmm_start.graph_.distances.shape == (600, 10)
    # The same autoencoder again: its UMAP comes from the cache beside it, unless caching is off.
    again = DGG(**{**params, "init": "umap"}).fit(data.x, data.y)
    assert len(calls) == 2 and np.array_equal(again.umap_embedding_, dgg.umap_embedding_)
    DGG(**{**params, "init": "umap"}, cache_pretrained=False).fit(data.x, data.y)
    assert len(calls) == 3
    # Another UMAP metric is another embedding, cached apart from the euclidean one.
    cosine = DGG(**{**params, "init": "umap"}, umap_metric="cosine").fit(data.x, data.y)
    assert len(calls) == 4 and used_metrics == ["euclidean"] * 3 + ["cosine"]
    assert not np.array_equal(cosine.umap_embedding_, dgg.umap_embedding_)
    DGG(**{**params, "init": "umap"}, umap_metric="cosine").fit(data.x, data.y)
    assert len(calls) == 4
