"""AE+GMM, DEC, IDEC, DCN, DKM, CDC, SpectralNet and the classical baselines on easy problems."""
import math

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs

from deepclust_core.callbacks import Callback
from deepclust_core.errors import InputError
from deepclust_core.methods import create_method, get_method_class, list_methods
from deepclust_core.methods import cdc as cdc_module
from deepclust_core.methods import dec as dec_module
from deepclust_core.methods import spectralnet as spectralnet_module
from deepclust_core.methods.dcn import dkm_alpha
from deepclust_core.metrics import cluster_acc

DEEP = ("aegmm", "dec", "idec", "dcn", "dkm", "cdc", "spectralnet")
CLASSICAL = ("kmeans", "gmm", "spectral")
TINY_AE = dict(hidden_dims=(16,), latent_dim=3, pretrain_epochs=10, pretrain_lr=0.01, pretrain_batch_size=50,
               kmeans_restarts=3, device="cpu")
TINY = {
    "aegmm": {},
    "dec": dict(epochs=8, batch_size=32, update_interval=5, tol=0.0),
    "idec": dict(epochs=8, batch_size=32, update_interval=5, tol=0.0),
    "dcn": dict(epochs=8, batch_size=32),
    "dkm": dict(epochs=8, batch_size=32),
    "cdc": dict(epochs=8, batch_size=32, update_interval=5, tol=0.0),
    "spectralnet": dict(epochs=20, batch_size=100, map_hidden=(32, 32), n_neighbors=5, pretrain_epochs=0),
}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPCLUST_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def blobs():
    x, y = make_blobs(n_samples=300, centers=3, n_features=5, cluster_std=1.0, random_state=0)
    return x.astype(np.float32), y


def make(name, **overrides):
    """A small, fast configuration of ``name`` (shared settings it lacks are dropped)."""
    accepted = {spec.name for spec in get_method_class(name).param_specs()}
    small = {**TINY_AE, **TINY.get(name, {})} if name in DEEP + ("vade",) else {}
    params = {key: value for key, value in small.items() if key in accepted}
    return create_method(name, **{"n_clusters": 3, **params, **overrides})


class Recorder(Callback):
    def __init__(self):
        self.started, self.ended, self.epochs = [], [], []

    def on_fit_start(self, estimator, info):
        self.started.append(info)

    def on_epoch_end(self, estimator, info):
        self.epochs.append(info)

    def on_fit_end(self, estimator, info):
        self.ended.append(info)


def test_registry_lists_the_methods():
    assert set(DEEP + CLASSICAL) <= set(list_methods())


@pytest.mark.parametrize("name", DEEP + CLASSICAL)
def test_every_parameter_has_help_text(name):
    specs = get_method_class(name).param_specs()
    assert specs and all(spec.help.strip() for spec in specs)
    with pytest.raises(InputError):
        create_method(name, no_such_parameter=1)


@pytest.mark.parametrize("name", DEEP)
def test_deep_method_clusters_blobs_learns_and_repeats(name, blobs):
    x, y = blobs
    recorder = Recorder()
    model = make(name).fit(x, y, callbacks=[recorder])  # trains and caches the autoencoder
    assert model.labels_.shape == (len(x),)
    assert cluster_acc(y, model.labels_) > 0.9
    assert recorder.started and recorder.ended and "acc" in recorder.ended[0]
    train = [h for h in model.history_ if h["phase"] == "train"]
    assert train and all(math.isfinite(h["loss"]) for h in train)
    if name != "spectralnet":  # SpectralNet skips pretraining with feature_space="input"
        pretrain = [h["loss"] for h in model.history_ if h["phase"] == "pretrain"]
        assert pretrain[-1] < pretrain[0]
    if name != "aegmm":  # AE+GMM has a single "train" record (the mixture fit)
        assert len(train) == TINY[name]["epochs"]
        assert min(h["loss"] for h in train[len(train) // 2:]) < train[0]["loss"]
    latent, predicted = recorder.epochs[-1].latent()
    assert latent.shape[0] == len(x) and np.array_equal(predicted, model.labels_)
    assert model.transform(x).shape[0] == len(x)
    assert np.array_equal(model.predict(x), model.labels_)
    assert np.allclose(model.predict_proba(x).sum(1), 1.0, atol=1e-5)

    again = make(name).fit(x, y)  # same seed: loads the cached autoencoder, same labels
    if name != "spectralnet":
        assert not model.pretrain_cached_ and again.pretrain_cached_
    assert np.array_equal(again.labels_, model.labels_)


def test_dec_target_is_computed_on_the_full_data(blobs, monkeypatch):
    x, _ = blobs
    seen = []
    original = dec_module.target_distribution

    def spy(q):
        seen.append(q.shape[0])
        return original(q)

    monkeypatch.setattr(dec_module, "target_distribution", spy)
    model = make("dec", epochs=4, batch_size=32, update_interval=7).fit(x)
    iterations = 4 * math.ceil(len(x) / 32)
    assert seen == [len(x)] * math.ceil(iterations / 7)  # every 7 minibatches, never per batch
    assert tuple(model.target_.shape) == (len(x), 3)
    assert torch.allclose(model.target_.sum(1), torch.ones(len(x)))


def test_dec_stops_when_labels_settle(blobs, tmp_path):
    """Settled labels (tol) end the fit early, and that is a finished fit: a run that converged is recorded
    "finished", not "stopped on request" (which ``compare`` counts as a failed run)."""
    from deepclust_core import store

    x, _ = blobs
    model = make("dec", epochs=50, tol=0.5).fit(x)
    assert model.converged_ and not model.stopped_early_
    assert len([h for h in model.history_ if h["phase"] == "train"]) < 50
    params = {"epochs": 50, "batch_size": 16, "tol": 0.5, "pretrain_epochs": 2, "hidden_dims": (8,), "device": "cpu"}
    config = {"dataset": "moons", "dataset_options": {"n_samples": 200}, "method": "cdc", "params": params}
    result = store.run_in_process(config, tmp_path)
    assert result["state"] == "finished" and not result.get("reason")
    assert len([r for r in store.read_metrics(result["run_dir"]) if r.get("phase") == "train"]) < 50


def test_target_distribution_sharpens():
    q = torch.tensor([[0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
    p = dec_module.target_distribution(q)
    assert torch.allclose(p.sum(1), torch.ones(3))
    assert p[0, 0] > q[0, 0] and p[1, 1] > q[1, 1]


def test_idec_trains_the_decoder_and_dec_does_not(blobs):
    x, _ = blobs
    dec = make("dec", epochs=1).fit(x)
    idec = make("idec", epochs=1).fit(x)
    dec_ids = {id(p) for p in dec._trainable_parameters()}
    assert not any(id(p) in dec_ids for p in dec.autoencoder_.decoder.parameters())
    idec_ids = {id(p) for p in idec._trainable_parameters()}
    assert all(id(p) in idec_ids for p in idec.autoencoder_.decoder.parameters())
    assert "recon" in idec.history_[-1] and "recon" not in dec.history_[-1]


def test_aegmm_reuses_the_shared_autoencoder_and_matches_vade_start(blobs):
    x, _ = blobs
    vade = make("vade", epochs=1, init="gmm").fit(x)  # the paper's start (auto is spectral)
    aegmm = make("aegmm").fit(x)
    assert aegmm.pretrain_cached_ and aegmm.pretrain_key_ == vade.pretrain_key_
    assert np.array_equal(aegmm.labels_, vade.init_labels_)


def test_dcn_centre_update_is_the_sequential_running_mean():
    model = make("dcn")
    model.n_clusters = 2
    model.centers_ = torch.tensor([[0.0, 0.0], [10.0, 10.0]])
    model.counts_ = torch.tensor([3.0, 5.0])
    z = torch.tensor([[1.0, 0.0], [0.0, 2.0], [9.0, 9.0]])
    expected, counts = model.centers_.clone(), model.counts_.clone()
    for point in z:
        k = int(((expected - point) ** 2).sum(1).argmin())
        counts[k] += 1
        expected[k] -= (expected[k] - point) / counts[k]
    assigned = model._update_centers(z)
    assert assigned.tolist() == [0, 0, 1]
    assert torch.allclose(model.centers_, expected) and torch.allclose(model.counts_, counts)


def test_dcn_epoch_refresh_remakes_the_centres_from_the_current_latent(blobs):
    """center_refresh="epoch": each epoch starts from the means of the current latent's nearest-centre groups
    (counts back to initial_count); "none" keeps the paper's running mean untouched."""
    x, _ = blobs
    model = make("dcn", center_refresh="none", epochs=1).fit(x)
    xt = torch.as_tensor(x)
    z = model._encode_means(xt)
    stale = model.centers_ + 1.0  # centres that lag behind the latent
    model.centers_ = stale.clone()
    model._on_epoch_start(xt, 2)
    assert torch.equal(model.centers_, stale)
    model.center_refresh = "epoch"
    model._on_epoch_start(xt, 2)
    groups = ((z.unsqueeze(1) - stale.unsqueeze(0)) ** 2).sum(-1).argmin(1)
    for k in groups.unique():
        assert torch.allclose(model.centers_[k], z[groups == k].mean(0), atol=1e-5)
    assert torch.all(model.counts_ == model.initial_count)


def test_dkm_alpha_schedule():
    assert dkm_alpha(0, 0.1) == pytest.approx(0.1)
    assert dkm_alpha(1, 0.1) == pytest.approx(0.1 * 2 ** (1 / math.log(2) ** 2))
    assert dkm_alpha(5, 0.1) < dkm_alpha(6, 0.1)


def test_cdc_similarity_and_own_pretraining_cache(blobs):
    x, _ = blobs
    h = torch.randn(20, 4)
    similarity = cdc_module.pairwise_similarity(h)
    assert torch.allclose(similarity.sum(), torch.tensor(1.0)) and similarity.diagonal().abs().max() == 0
    assert torch.allclose(cdc_module.pairwise_similarity(5 * h), similarity, atol=1e-6)  # scale-free
    cdc = make("cdc", pretrain_epochs=2, epochs=1).fit(x)
    dec = make("dec", pretrain_epochs=2, epochs=1).fit(x)
    assert cdc.pretrain_key_ != dec.pretrain_key_  # different pretraining objective, different cache entry
    pretrain = [h for h in cdc.history_ if h["phase"] == "pretrain"]
    assert {"recon", "corr_latent", "corr_recon"} <= set(pretrain[0])
    plain = make("cdc", correlation_weight=0.0, pretrain_epochs=2, epochs=1).fit(x)
    assert plain.pretrain_key_ == dec.pretrain_key_


def test_orthonormalizing_matrix_whitens_and_passes_gradients():
    raw = torch.randn(64, 4, requires_grad=True)
    ortho = spectralnet_module.orthonormalizing_matrix(raw)
    y = raw @ ortho
    assert torch.allclose(y.T @ y / 64, torch.eye(4), atol=1e-4)
    y.pow(3).sum().backward()
    assert raw.grad is not None and torch.isfinite(raw.grad).all()
    collinear = torch.randn(64, 1).repeat(1, 3)  # singular Gram matrix: a ridge keeps it finite
    assert torch.isfinite(spectralnet_module.orthonormalizing_matrix(collinear)).all()


def test_spectralnet_embedding_is_orthonormal_and_rsm_runs(blobs):
    x, y = blobs
    model = make("spectralnet").fit(x)
    embedding = model.transform(x)
    assert embedding.shape == (len(x), 3)
    assert np.allclose(embedding.T @ embedding / len(x), np.eye(3), atol=1e-3)
    rsm = make("spectralnet", variant="rsm").fit(x, y)
    assert cluster_acc(y, rsm.labels_) > 0.9
    assert {"spectral", "ortho"} <= set(rsm.history_[-1])
    with pytest.raises(InputError):
        make("spectralnet", n_neighbors=200, batch_size=100).fit(x)


@pytest.mark.filterwarnings("ignore:Graph is not fully connected")
@pytest.mark.parametrize("name", CLASSICAL)
@pytest.mark.parametrize("features", ["raw", "pca"])
def test_classical_baselines(name, features, blobs):
    x, y = blobs
    recorder = Recorder()
    model = make(name, features=features, pca_components=3, random_state=0).fit(x, y, callbacks=[recorder])
    again = make(name, features=features, pca_components=3, random_state=0).fit(x)
    assert model.labels_.shape == (len(x),) and cluster_acc(y, model.labels_) > 0.9
    assert np.array_equal(model.labels_, again.labels_)
    assert len(recorder.started) == 1 and len(recorder.ended) == 1 and recorder.epochs[0].latent() is None
    assert model.history_[0]["acc"] == pytest.approx(model.scores(y)["acc"])
    if name == "spectral":
        with pytest.raises(InputError):
            model.predict(x)
    else:
        assert np.array_equal(model.predict(x), model.labels_)
    with pytest.raises(InputError):
        make(name).fit(np.full((10, 2), np.nan))


def test_recipes_share_the_data_part_and_keep_each_papers_training_schedule():
    from deepclust_core.recipes import recipe

    dgg, spectralnet, dec = recipe("moons", "dgg"), recipe("moons", "spectralnet"), recipe("moons", "dec")
    assert dgg["lr"] == 0.02 and dgg["batch_size"] == 100 and dgg["n_neighbors"] == 40
    assert "lr" not in spectralnet and "batch_size" not in spectralnet and "n_neighbors" not in spectralnet
    assert spectralnet["n_clusters"] == 2
    shared = ("hidden_dims", "latent_dim", "pretrain_epochs", "pretrain_lr", "pretrain_batch_size")
    assert {k: dec[k] for k in shared} == {k: dgg[k] for k in shared}  # one pretrained autoencoder for all
    assert recipe("mnist", "spectralnet")["feature_space"] == "latent"
