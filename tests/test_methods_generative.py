"""CatGAN, InfoGAN and LTVAE: their objectives against closed forms and brute force, clustering a small problem
above k-means, losses recorded, seeds that repeat, instability reported, and the samples page."""
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits, make_blobs

from deepclust_core import create_method, store
from deepclust_core.errors import InputError, TrainingError
from deepclust_core.methods._latent_tree import LatentTreePrior
from deepclust_core.methods.catgan import entropy_terms
from deepclust_core.metrics import cluster_acc

GAN_SMALL = dict(hidden_dims=(64, 64), noise_dim=8, batch_size=50, device="cpu")
LTVAE_SMALL = dict(hidden_dims=(64, 64), latent_dim=4, n_facets=2, pretrain_epochs=50, epochs=60, gmm_restarts=3,
                   likelihood="gaussian", lam=1.0, lr=0.005, device="cpu")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPCLUST_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def anisotropic():
    """scikit-learn's anisotropic blobs: k-means cuts across the stretched clusters (ACC 0.81)."""
    x, y = make_blobs(n_samples=600, random_state=170)
    x = x @ np.array([[0.6, -0.6], [-0.4, 0.8]])
    return ((x - x.mean(0)) / x.std(0)).astype(np.float32), y


@pytest.fixture(scope="module")
def two_factors():
    """Points made of two independent 3-way factors (a triangle of centres each), linearly mixed into 8-D."""
    rng = np.random.default_rng(0)
    a, b = rng.integers(3, size=600), rng.integers(3, size=600)
    angles = 2 * np.pi * np.arange(3) / 3
    centres_a = 6 * np.c_[np.cos(angles), np.sin(angles)]
    centres_b = 4 * np.c_[np.cos(angles + 1), np.sin(angles + 1)]
    z = np.c_[centres_a[a], centres_b[b]] + rng.normal(size=(600, 4))
    rotation, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    return (np.c_[z, 0.3 * rng.normal(size=(600, 4))] @ rotation).astype(np.float32), a, b


@pytest.fixture(scope="module")
def ltvae_model(two_factors):
    return create_method("ltvae", n_clusters=3, **LTVAE_SMALL).fit(two_factors[0])


def kmeans_acc(x, y, k):
    return cluster_acc(y, KMeans(k, n_init=10, random_state=0).fit_predict(x))


# ------------------------------------------------------------------------------------------ objectives

def test_catgan_entropies_against_closed_forms():
    uniform = torch.zeros(4, 5)
    conditional, marginal = entropy_terms(uniform)
    assert conditional.item() == pytest.approx(math.log(5)) and marginal.item() == pytest.approx(math.log(5))
    confident = torch.tensor([[50.0, 0.0], [0.0, 50.0], [50.0, 0.0], [0.0, 50.0]])  # certain, balanced
    conditional, marginal = entropy_terms(confident)
    assert conditional.item() == pytest.approx(0.0, abs=1e-6) and marginal.item() == pytest.approx(math.log(2))


@pytest.mark.parametrize("linked", [True, False])
def test_latent_tree_marginal_and_posteriors_equal_brute_force(linked):
    torch.manual_seed(0)
    dims = [np.array([0, 2]), np.array([1]), np.array([3, 4])]
    tree = LatentTreePrior(dims, [2, 3, 2], linked=linked)
    with torch.no_grad():
        for parameter in tree.parameters():
            parameter.normal_()
    z = torch.randn(6, 5)
    dens = tree.facet_log_densities(z)
    joint = {}
    for states in itertools.product(range(2), range(3), range(2)):
        log_p = tree.log_links(0)[0, states[0]] + dens[0][:, states[0]]
        for b in (1, 2):
            links = tree.log_links(b)
            log_p = log_p + links[states[b - 1] if links.shape[0] > 1 else 0, states[b]] + dens[b][:, states[b]]
        joint[states] = log_p
    stacked = torch.stack(list(joint.values()), 1)
    torch.testing.assert_close(tree.log_prob(z), torch.logsumexp(stacked, 1))
    weights = torch.softmax(stacked, 1)
    for b, posterior in enumerate(tree.posteriors(z)):
        expected = torch.stack([sum(weights[:, i] for i, s in enumerate(joint) if s[b] == k)
                                for k in range(tree.cardinalities[b])], 1)
        torch.testing.assert_close(posterior, expected)


# ------------------------------------------------------------------------------------------ the GANs

@pytest.mark.parametrize("method", ["catgan", "infogan"])
def test_gan_clusters_anisotropic_blobs_above_kmeans(method, anisotropic):
    x, y = anisotropic
    model = create_method(method, n_clusters=3, epochs=60, **GAN_SMALL).fit(x, y)
    baseline = kmeans_acc(x, y, 3)
    assert cluster_acc(y, model.labels_) > baseline + 0.1, (cluster_acc(y, model.labels_), baseline)
    train = [r for r in model.history_ if r["phase"] == "train"]
    assert len(train) == 60 and all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in train)
    assert train[-1]["clusters_used"] == 3 and model.n_clusters_used_ == 3 and not model.collapsed_
    samples = model.cluster_samples(4)
    assert samples["samples"].shape == (3, 4, 2) and samples["real_share"].sum() == pytest.approx(1.0)
    if method == "infogan":  # Q recovers the codes (judged in minibatches of one code it read chance, ~1/3)
        assert samples["code_agreement"].min() > 0.9, samples["code_agreement"]
    assert model.transform(x).shape == (600, 3)
    np.testing.assert_array_equal(model.predict(x), model.labels_)


@pytest.mark.parametrize("method", ["catgan", "infogan"])
def test_gan_seeds_repeat(method, anisotropic):
    x, y = anisotropic
    first, second = (create_method(method, n_clusters=3, epochs=3, random_state=5, **GAN_SMALL).fit(x, y)
                     for _ in range(2))
    np.testing.assert_array_equal(first.labels_, second.labels_)
    assert first.history_ == second.history_
    np.testing.assert_array_equal(first.cluster_samples(3)["samples"], second.cluster_samples(3)["samples"])


@pytest.mark.parametrize("method", ["catgan", "infogan"])
def test_gan_networks_are_convolutional_on_square_images_only(method, anisotropic):
    digits = (load_digits().data[:200] / 16).astype(np.float32)  # 8×8 images
    small = dict(GAN_SMALL, epochs=1)
    auto = create_method(method, n_clusters=4, **small).fit(digits)  # InfoGAN's pair measured better for InfoGAN only
    assert any(isinstance(m, torch.nn.Conv2d) for m in auto.discriminator_.modules()) == (method == "infogan")
    conv = create_method(method, n_clusters=4, network="conv", **small).fit(digits)
    convolutions = [m for m in conv.discriminator_.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convolutions] == [64, 128]  # InfoGAN's MNIST network
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in conv.generator_net_.modules())
    assert conv.sample(5).shape == (5, 64) and conv.transform(digits).shape == (200, 4)
    assert conv.cluster_samples(2)["samples"].shape == (4, 2, 64)
    mlp = create_method(method, n_clusters=4, network="mlp", **small).fit(digits)
    assert not any(isinstance(m, torch.nn.Conv2d) for m in mlp.discriminator_.modules())
    points = create_method(method, n_clusters=3, **small).fit(anisotropic[0])  # a table is not a picture
    assert not any(isinstance(m, torch.nn.Conv2d) for m in points.discriminator_.modules())
    with pytest.raises(InputError, match="network='conv' needs square images"):
        create_method(method, n_clusters=3, network="conv", **small).fit(anisotropic[0])


def test_gan_divergence_fails_with_the_reason(anisotropic):
    x, _ = anisotropic
    model = create_method("catgan", n_clusters=3, epochs=3, **GAN_SMALL)
    model._g_step = lambda n: {"loss": torch.tensor(float("nan"), requires_grad=True)}
    with pytest.raises(TrainingError, match="diverged at epoch 1: g_loss=nan"):
        model.fit(x)


def test_gan_mode_collapse_and_a_winning_discriminator_are_reported():
    model = create_method("catgan", n_clusters=3)
    model.labels_ = np.array([0, 0, 2, 2])
    model.warnings_ = []
    model.history_ = [{"phase": "train", "epoch": e, "g_loss": 0.5 + 6 * e, "fake_clusters_used": 1}
                      for e in range(1, 6)]
    with pytest.warns(RuntimeWarning):
        model._check_instability()
    assert model.collapsed_ and model.n_clusters_used_ == 2
    text = " ".join(model.warnings_)
    assert "only 2 of 3 clusters" in text and "only 1 of 3 clusters" in text and "discriminator won" in text


# ------------------------------------------------------------------------------------------ LTVAE

def test_ltvae_facets_recover_both_factors_where_kmeans_finds_one(two_factors, ltvae_model):
    x, a, b = two_factors
    model = ltvae_model
    facets = model.facet_labels_
    best = [max(cluster_acc(factor, labels) for labels in facets) for factor in (a, b)]
    assert min(best) > 0.95, best
    kmeans = KMeans(3, n_init=10, random_state=0).fit_predict(x)
    assert min(cluster_acc(a, kmeans), cluster_acc(b, kmeans)) < 0.5  # one partition cannot hold both
    train = [r for r in model.history_ if r["phase"] == "train"]
    assert len(train) == 60 and all(math.isfinite(r["loss"]) for r in train)
    assert {"recon", "prior_nll", "entropy", "facet1_clusters_used"} <= set(train[-1])
    samples = model.cluster_samples(5)
    assert samples["facet1_samples"].shape == (3, 5, 8) and len(samples["facet0_labels"]) == 600
    assert sorted(np.concatenate([samples["facet0_dims"], samples["facet1_dims"]])) == [0, 1, 2, 3]


def test_ltvae_unmixing_keeps_the_reconstructions_and_seeds_repeat(two_factors):
    x, _, _ = two_factors
    params = {**LTVAE_SMALL, "epochs": 2, "pretrain_epochs": 5}
    model = create_method("ltvae", n_clusters=3, **params).fit(x)
    xt = torch.as_tensor(x)
    before = model.autoencoder_.decode(model.autoencoder_.encode(xt)[0]).detach()
    rng = np.random.default_rng(0)
    unmixing, mean = rng.normal(size=(4, 4)) + 3 * np.eye(4), rng.normal(size=4)
    model._unmix_latent(unmixing, mean)
    after = model.autoencoder_.decode(model.autoencoder_.encode(xt)[0]).detach()
    torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)
    again = create_method("ltvae", n_clusters=3, **params).fit(x)
    fresh = create_method("ltvae", n_clusters=3, **params).fit(x)
    np.testing.assert_array_equal(again.labels_, fresh.labels_)
    assert again.history_ == fresh.history_


# ------------------------------------------------------------------------------------------ the samples page

@pytest.fixture
def _navigation_mode(monkeypatch):
    """As in test_app: AppTest must keep st.navigation's mode across reruns."""
    from streamlit.runtime import pages_manager
    from streamlit.testing.v1 import app_test

    class NavigationPagesManager(pages_manager.PagesManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pages_manager.PagesManager.uses_pages_directory = False

    monkeypatch.setattr(app_test, "PagesManager", NavigationPagesManager)


def test_samples_page_shows_cluster_grids_and_facets(tmp_path, monkeypatch, _navigation_mode):
    from streamlit.testing.v1 import AppTest

    digits = load_digits()
    images = tmp_path / "digits.npz"
    np.savez(images, x=(digits.data[:400] / 16).astype(np.float32), y=digits.target[:400])
    runs_dir = tmp_path / "runs"
    data = {"dataset": "file", "dataset_options": {"path": str(images)}}
    ids = {}
    for method, params in (("infogan", {**GAN_SMALL, "epochs": 2}), ("catgan", {**GAN_SMALL, "epochs": 2}),
                           ("ltvae", {**LTVAE_SMALL, "likelihood": "bernoulli", "epochs": 2, "pretrain_epochs": 2,
                                      "gmm_restarts": 1})):
        run = store.create_run(runs_dir, {**data, "method": method, "params": {"n_clusters": 10, **params}})
        result = store.execute_run(run.path)
        assert result["state"] == "finished", result
        ids[method] = run.id
    moons = store.create_run(runs_dir, {"dataset": "moons", "dataset_options": {"n_samples": 200}, "method": "catgan",
                                        "params": {"n_clusters": 2, **GAN_SMALL, "epochs": 2}})
    assert store.execute_run(moons.path)["state"] == "finished"
    ids["moons"] = moons.id
    monkeypatch.setenv("DEEPCLUST_RUNS", str(runs_dir))
    monkeypatch.setenv("DEEPCLUST_MAX_JOBS", "1")
    app = Path(__file__).resolve().parent.parent / "app.py"

    def open_run(run_id):
        at = AppTest.from_file(str(app), default_timeout=120)
        at.query_params.update(run=run_id)
        at.run()
        at.switch_page("pages/samples.py").run()
        assert not at.exception, [e.value for e in at.exception]
        assert not [e.value for e in at.error], [e.value for e in at.error]
        return at

    def charts(at):
        return {c.key: c.proto.spec for c in at.get("plotly_chart")}

    at = open_run(ids["infogan"])  # shares, every cluster's row of images, the chosen cluster's grid
    assert list(charts(at)) == ["samples.shares", "samples.gan.overview", "samples.gan.grid"]
    assert "code recovered by Q" in charts(at)["samples.shares"]
    at.selectbox(key="samples.gan.cluster").set_value(7).run()
    assert "Cluster 7: its samples" in charts(at)["samples.gan.grid"]
    at = open_run(ids["catgan"])
    assert '"generated"' in charts(at)["samples.shares"]  # shares of data and of generated samples
    at = open_run(ids["moons"])
    assert "generated, cluster 1" in charts(at)["samples.gan.points"]
    at = open_run(ids["ltvae"])
    facet = at.selectbox(key="samples.facet")
    assert len(facet.options) == 2 and "gives the labels" in facet.options[0]
    at.selectbox(key="samples.facet").set_value(1).run()
    shown = charts(at)
    dims = store.load_artifact(runs_dir / ids["ltvae"], "samples")["facet1_dims"]
    assert f"z{dims[0] + 1}" in shown["samples.facet_partition"] and "Facet 1" in shown["samples.facet_partition"]
    assert {"samples.facet_grid.overview", "samples.facet_grid.grid"} <= set(shown)
    # the Latent page offers each facet: its own dimensions, coloured by its own states
    at.switch_page("pages/latent.py").run()
    assert not at.exception, [e.value for e in at.exception]
    partition = at.selectbox(key=f"latent.facet.{ids['ltvae']}")
    assert len(partition.options) == 3 and "all latent dimensions" in partition.options[0]
    whole = charts(at)["latent.scatter"]
    partition.set_value(1).run()
    assert not at.exception, [e.value for e in at.exception]
    facet_labels = store.load_artifact(runs_dir / ids["ltvae"], "samples")["facet1_labels"]
    shown = charts(at)["latent.scatter"]
    assert shown != whole and shown.count('"name":"cluster ') == len(np.unique(facet_labels))
    # the Traversals page: each facet's states along that facet's own dimensions (closed form of the path)
    at.switch_page("pages/traversals.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key=f"traversals.facet.{ids['ltvae']}").set_value(1).run()
    samples = store.load_artifact(runs_dir / ids["ltvae"], "samples")
    dims, paths = samples["facet1_dims"], samples["facet1_traversals"]
    assert paths.shape[:3] == (len(samples["facet1_variances"]), len(dims), len(samples["traversal_offsets"]))
    shown = charts(at)
    assert f"z{dims[0] + 1}" in shown["traversals.images"] and "State 0: one row" in shown["traversals.images"]
    bars = shown["traversals.variances"]
    assert "state 0" in bars


# ------------------------------------------------------------------------------------------ figures

def test_sample_figures_show_missing_samples_as_blank_and_check_shapes():
    from deepclust_core import viz
    from deepclust_core.errors import InputError

    samples = np.random.default_rng(0).random((3, 4, 16)).astype(np.float32)
    samples[1] = np.nan  # a cluster the generator never draws
    overview = viz.samples_overview(samples, (4, 4))
    mosaic = np.asarray(overview.data[0].z, dtype=float)
    assert mosaic.shape == (3 * 6 - 2, 4 * 6 - 2) and np.isnan(mosaic[6:10]).all() and np.isfinite(mosaic[:4, :4]).all()
    grid = viz.cluster_grid(samples[0], (4, 4), columns=3)  # 4 images on a 2 × 3 grid, two tiles blank
    assert np.isnan(np.asarray(grid.data[0].z, dtype=float)[6:, 6:]).all()
    with pytest.raises(InputError, match="image_shape"):
        viz.samples_overview(samples, (5, 5))
    latent = np.random.default_rng(1).normal(size=(50, 4))
    figure = viz.facet_partition(latent, np.arange(50) % 3, [2, 3])
    assert figure.layout.xaxis.title.text == "z3" and len(figure.data) == 3
    with pytest.raises(InputError, match="do not fit"):
        viz.facet_partition(latent, np.arange(50) % 3, [4])
    points = viz.generated_points(np.random.default_rng(2).normal(size=(2, 5, 2)))
    assert [trace.name for trace in points.data] == ["generated, cluster 0", "generated, cluster 1"]


def test_ltvae_facet_traversals_move_only_their_own_dimensions(two_factors, ltvae_model):
    """A facet's traversal decodes m_bk + scale·a·s_bk,i·e_i: its middle step is the state's mean, its last
    step is scale·s further along that one dimension (checked through the decoder on the same z)."""
    x, model = two_factors[0], ltvae_model
    samples = model.cluster_samples(n_per_cluster=2, traversal_steps=5, traversal_scale=2.0)
    tree = model.prior_tree_
    for b in range(tree.n_facets):
        dims = samples[f"facet{b}_dims"]
        paths = samples[f"facet{b}_traversals"]
        means = tree.means[b].detach().cpu().numpy()
        stds = np.exp(0.5 * tree.log_vars[b].detach().cpu().numpy())
        assert paths.shape == (len(means), len(dims), 5, x.shape[1])
        np.testing.assert_allclose(samples[f"facet{b}_variances"], stds ** 2, rtol=1e-5)
        centre = model._prior_draws(np.random.default_rng(model.random_state), 2).mean(axis=0)
        z = np.repeat(centre[None], 2, axis=0)
        z[:, dims] = means[0]
        z[1, dims[0]] += 2.0 * stds[0, 0]  # the last step along the facet's first dimension
        np.testing.assert_allclose(paths[0, 0, [2, 4]], model.decode(z), rtol=1e-4, atol=1e-5)
