"""The survey's discriminative and embedding methods: RIM, IMSAT, DAC, DEPICT, DEN.

Each fits a small problem above k-means, its loss goes down, and a seed repeats its labels; each is offered by the
CLI, ``compare`` and the app's form with no page changed. Closed forms: RIM's k-means start, DAC's thresholds and
pair loss, DEPICT's targets, DEN's group norms.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits, make_blobs

from deepclust_core import compare as compare_module
from deepclust_core.cli import main
from deepclust_core.errors import InputError
from deepclust_core.methods import create_method, list_methods
from deepclust_core.methods._discriminative import bn_mlp, conditional_entropy, marginal_entropy, nearest_centre_logits
from deepclust_core.methods import dac as dac_module
from deepclust_core.methods.dac import all_pairs_loss, curriculum_lambda, one_threshold, pair_loss, thresholds
from deepclust_core.methods.den import group_norms
from deepclust_core.methods.imsat import authors_init
from deepclust_core.methods.depict import balanced_targets
from deepclust_core.metrics import cluster_acc
from test_app import APP, _navigation_mode  # noqa: F401  (fixture: the app's navigation mode in AppTest)

SURVEY = ("rim", "imsat", "dac", "depict", "den")
AE = dict(pretrain_epochs=50, pretrain_lr=0.01, pretrain_batch_size=50, batch_size=50, lr=0.003, device="cpu")
# (problem, parameters): a small problem each method is expected to fit better than k-means does.
SMALL = {
    "rim": ("digits", dict(device="cpu")),
    "imsat": ("anisotropic", dict(hidden_layers=(64, 64), epochs=40, batch_size=150, device="cpu")),
    "dac": ("anisotropic", dict(hidden_dims=(64, 64), batch_size=64, lr=0.003, device="cpu")),
    # Dropout on 2 input features removes half the signal, so the 2-D problem runs DEPICT without corruption.
    "depict": ("anisotropic", dict(AE, hidden_dims=(32,), latent_dim=3, epochs=40, dropout=0.0)),
    "den": ("anisotropic", dict(AE, hidden_dims=(32,), latent_dim=3, epochs=30)),
}


@pytest.fixture(scope="module")
def problems():
    digits = load_digits()
    x, y = make_blobs(n_samples=450, centers=3, random_state=170)
    x = x @ np.array([[0.6, -0.6], [-0.4, 0.8]])  # sheared blobs: k-means' round cells cut them wrongly
    x = (x - x.mean(0)) / x.std(0)
    return {"digits": ((digits.data / 16).astype(np.float32), digits.target, 10),
            "anisotropic": (x.astype(np.float32), y, 3)}


def fit(name, problems, **overrides):
    problem, params = SMALL[name]
    x, y, k = problems[problem]
    return create_method(name, n_clusters=k, **{**params, **overrides}).fit(x, y), x, y, k


@pytest.mark.parametrize("name", SURVEY)
def test_fits_a_small_problem_above_kmeans_and_the_loss_goes_down(name, problems):
    model, x, y, k = fit(name, problems)
    kmeans = cluster_acc(y, KMeans(k, n_init=10, random_state=0).fit(x).labels_)
    assert model.scores(y)["acc"] > kmeans + 0.01
    train = [row for row in model.history_ if row["phase"] == "train"]
    assert len(train) >= 2
    if name != "dac":  # DAC's curriculum admits harder pairs each epoch: see the fixed-threshold test below
        assert train[-1]["loss"] < train[0]["loss"]
    assert not model.collapsed_ and model.labels_.shape == (x.shape[0],)
    latent = model.transform(x[:7])
    assert latent.shape[0] == 7 and np.isfinite(latent).all()
    start = getattr(model, "init_scores_", None) or getattr(model, "model_start_scores_", None)
    assert start is not None and 0.0 <= start["acc"] <= 1.0  # the start is reported beside the end


@pytest.mark.parametrize("name", SURVEY)
def test_a_seed_repeats_its_labels(name, problems):
    quick = {"epochs": 3}
    first, *_ = fit(name, problems, **quick)
    second, *_ = fit(name, problems, **quick)
    assert np.array_equal(first.labels_, second.labels_)


def test_dac_loss_goes_down_on_digits_at_fixed_thresholds(problems):
    # On the blobs the curriculum admits harder pairs every epoch, so its loss need not fall there; with the
    # thresholds (almost) fixed it must.
    x, y, _ = problems["digits"]
    model = create_method("dac", n_clusters=10, network="mlp", hidden_dims=(128,), epochs=8, threshold_step=1e-4,
                          device="cpu").fit(x, y)
    losses = [row["loss"] for row in model.history_]
    assert losses[-1] < 0.8 * losses[0]


def test_rim_starts_exactly_at_kmeans_and_its_information_terms_are_entropies(problems):
    x, y, _ = problems["digits"]
    rim = create_method("rim", n_clusters=10, epochs=1, device="cpu").fit(x, y)
    np.testing.assert_array_equal(rim.model_start_labels_, rim.init_labels_)
    centres = np.array([[0.0, 0.0], [4.0, 0.0]])
    weight, bias = nearest_centre_logits(centres, np.array([[1.0, 0.0], [3.0, 1.0]]))
    logits = np.array([[1.0, 0.0], [3.0, 1.0]]) @ weight.T + bias
    assert logits.argmax(1).tolist() == [0, 1]
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert marginal_entropy(p).item() == pytest.approx(np.log(2))
    assert conditional_entropy(p).item() == pytest.approx(0, abs=1e-6)


def test_imsat_starts_uniform_and_its_probe_and_radius_follow_the_data_scale(problems):
    """The authors' initialisation (output weights N(0, 1e-8/fan_in), zero biases) assigns every sample almost
    uniformly; ξ (a multiple of the median t-th-neighbour distance) and ε scale with the data."""
    x, y, k = problems["anisotropic"]
    network = bn_mlp([2, 64, 64, k])
    authors_init(network)
    layers = [m for m in network if isinstance(m, torch.nn.Linear)]
    assert all(float(layer.bias.abs().max()) == 0.0 for layer in layers)
    assert float(layers[-1].weight.std()) < 1e-4 / 8 * 1.5 and float(layers[0].weight.std()) > 0.1 / 2 * 0.5
    with torch.no_grad():
        p = torch.softmax(network(torch.as_tensor(x)), 1)
    assert float((p - 1.0 / k).abs().max()) < 1e-3
    params = dict(n_clusters=k, hidden_layers=(32, 32), epochs=1, batch_size=150, device="cpu")
    one = create_method("imsat", **params).fit(x, y)
    two = create_method("imsat", **params, vat_xi=0.5).fit(3 * x, y)
    distances = torch.cdist(torch.as_tensor(x), torch.as_tensor(x)).sort(1).values[:, 10]  # 10th neighbour
    assert one.probe_ == pytest.approx(float(distances.median()), rel=1e-4)
    assert two.probe_ == pytest.approx(1.5 * one.probe_, rel=1e-4)
    assert torch.allclose(two.radius_, 3 * one.radius_, rtol=1e-4)


def test_dac_thresholds_meet_and_only_confident_pairs_count():
    assert thresholds(0.0) == (0.95, 0.455)
    upper, lower = thresholds(0.45)
    assert upper == pytest.approx(0.5) and lower == pytest.approx(0.5)
    assert curriculum_lambda(3, 0.01) == pytest.approx(0.01 + 0.02 + 0.03)
    assert thresholds(curriculum_lambda(9, 0.0099))[0] > thresholds(curriculum_lambda(9, 0.0099))[1]
    assert thresholds(curriculum_lambda(10, 0.0099))[0] < thresholds(curriculum_lambda(10, 0.0099))[1]
    features = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    loss, selected = pair_loss(features, 0.95, 0.455)
    # pairs (0,1) same (sim 1), (0,2) (1,2) different (sim 0), (2,3) sim 0.8 and (0,3) (1,3) sim 0.6 left out
    assert selected.item() == pytest.approx(6 / 12)
    assert loss.item() == pytest.approx(-np.log(1 - 1e-7), abs=1e-5)


def test_dac_authors_script_pairs_by_hand():
    """The authors' MNIST script: one threshold 0.9 → 0.5, every pair, squared error; and the paper's selection
    made from reference features (the images before augmentation) rather than the trained ones."""
    assert one_threshold(1, 20) == pytest.approx(0.9) and one_threshold(21, 20) == pytest.approx(0.5)
    assert one_threshold(11, 20) == pytest.approx(0.7)
    features = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    target = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    # off-diagonal similarities 0.6, 0, 0.8 (each twice) against targets 1, 0, 0
    loss, same = all_pairs_loss(features, target)
    assert loss.item() == pytest.approx((0.4 ** 2 + 0 + 0.8 ** 2) / 3)
    assert same.item() == pytest.approx(1 / 3)  # the pair (0, 1) of three
    reference = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    _, selected = pair_loss(features, 0.95, 0.455, reference)
    assert selected.item() == pytest.approx(1.0)  # by the reference every pair is sure (1 or 0)
    _, selected = pair_loss(features, 0.95, 0.455)
    assert selected.item() == pytest.approx(2 / 6)  # by the features themselves only (0, 2) is: sim 0


def test_dac_authors_optimizer_and_head(problems):
    """The authors' MNIST script's RMSprop and its ReLU head: the head starts as batch norm, ReLU and an identity
    K×K layer, so the softmax sees non-negative inputs; each option reaches the optimizer and the network."""
    from deepclust_core.methods.dac import softmax_head

    layers = softmax_head("relu", 3)
    assert [type(layer).__name__ for layer in layers] == ["BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU"]
    np.testing.assert_array_equal(layers[2].weight.detach().numpy(), np.eye(3))
    assert [type(layer).__name__ for layer in softmax_head("bn", 3)] == ["BatchNorm1d"]
    x, y, k = problems["anisotropic"]
    model = create_method("dac", n_clusters=k, optimizer="rmsprop", head="relu", hidden_dims=(64, 64),
                          batch_size=64, epochs=3, random_state=0, device="cpu").fit(x, y)
    assert isinstance(model._optimizer([torch.zeros(1, requires_grad=True)]), torch.optim.RMSprop)
    logits = model._chunked(model._logits, torch.as_tensor(x[:100]))
    assert (logits >= 0).all() and model.history_[-1]["epoch"] == 3
    default = create_method("dac", n_clusters=k, hidden_dims=(64, 64), epochs=1, device="cpu").fit(x)
    assert isinstance(default._optimizer([torch.zeros(1, requires_grad=True)]), torch.optim.Adam)


def test_dac_pair_batches_draw_from_the_group_and_its_targets(problems, monkeypatch):
    """``pair_batch``: the targets are made once per batch (a group), and each step trains on ``pair_batch`` images
    of it against the matching block of the group's targets (the authors' 1,000-image groups, 128 per step)."""
    x, y, k = problems["digits"]
    seen = []
    original = dac_module.all_pairs_loss

    def spy(features, target):
        seen.append((features.shape[0], target.shape))
        return original(features, target)

    monkeypatch.setattr(dac_module, "all_pairs_loss", spy)
    model = create_method("dac", n_clusters=k, pairs="one_threshold", batch_size=500, pair_batch=64, batch_steps=3,
                          epochs=1, random_state=0, device="cpu").fit(x, y)
    groups = -(-len(x) // 500)
    assert len(seen) == groups * 3 and all(b == 64 and t == (64, 64) for b, t in seen)
    assert model.targets_.shape[0] in (500, len(x) - 500 * (groups - 1))  # made for the whole (last) group


def test_dac_augments_images_by_default_and_steps_repeat_on_a_batch(problems, monkeypatch):
    """On square images of 8×8 or more "auto" augments: every step trains on shifted/rotated images (the pairs
    chosen from the images as they are), ``batch_steps`` steps per batch; tables and 2-D points are not augmented,
    and asking for it there is a clear message. (Its effect on accuracy is measured on MNIST: RESULTS §9.)"""
    from deepclust_core import nn as dnn

    x, y, k = problems["digits"]
    calls = []
    original = dnn.random_affine
    monkeypatch.setattr(dnn, "random_affine", lambda *a, **kw: calls.append((a[0].shape[0], a[1])) or original(*a, **kw))
    model = create_method("dac", n_clusters=k, batch_steps=3, epochs=2, batch_size=200, random_state=0,
                          device="cpu").fit(x, y)
    assert model.resolved_params_["augment"] is True and model.network_kind_ == "conv"
    batches = -(-len(x) // 200)
    assert len(calls) == 2 * batches * 3 and all(side == 8 for _, side in calls)
    assert all(0.0 < record["selected_pairs"] <= 1.0 for record in model.history_ if record.get("phase") == "train")
    with pytest.raises(InputError, match="augment"):
        create_method("dac", n_clusters=3, augment=True, device="cpu").fit(problems["anisotropic"][0])
    table = np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32)  # 16 columns: not a 4×4 picture
    small = create_method("dac", n_clusters=2, epochs=1, device="cpu").fit(table)
    assert small.resolved_params_["augment"] is False and small.network_kind_ == "mlp"


def test_depict_targets_and_den_group_norms_by_hand():
    p = torch.tensor([[0.8, 0.2], [0.6, 0.4]])
    size = p.sum(0)
    code = p ** 2 / size
    np.testing.assert_allclose(balanced_targets(p, "code").numpy(), (code / code.sum(1, keepdim=True)).numpy(),
                               rtol=1e-6)
    paper = p / size.sqrt()
    np.testing.assert_allclose(balanced_targets(p, "paper").numpy(), (paper / paper.sum(1, keepdim=True)).numpy(),
                               rtol=1e-6)
    z = torch.tensor([[3.0, 4.0, 0.0, 1.0]])
    assert group_norms(z, 2).item() == pytest.approx(5.0 + 1.0)


def test_bad_settings_are_clear_messages(problems):
    x, y, _ = problems["anisotropic"]
    with pytest.raises(InputError, match="latent_dim must be at least"):
        create_method("den", n_clusters=3, latent_dim=2, device="cpu").fit(x)
    with pytest.raises(InputError, match="square"):
        create_method("dac", n_clusters=3, network="conv", device="cpu").fit(x)
    with pytest.raises(InputError, match="multiple of 4"):
        create_method("depict", n_clusters=3, network="conv", device="cpu").fit(x)


def test_offered_by_the_cli_and_compare(capsys):
    assert set(SURVEY) <= set(list_methods())
    assert main(["methods", "--json"]) == 0
    names = {row["name"] for row in json.loads(capsys.readouterr().out)}
    assert set(SURVEY) <= names
    own_flag = {"rim": "--weight-penalty", "imsat": "--sat-radius", "dac": "--threshold-step",
                "depict": "--targets", "den": "--locality-weight"}
    for name, flag in own_flag.items():
        with pytest.raises(SystemExit):
            main(["train", "--method", name, "--help"])
        assert flag in capsys.readouterr().out
    tiny = {"*": {"epochs": 2, "pretrain_epochs": 2, "hidden_dims": (8,), "device": "cpu", "kmeans_restarts": 1}}
    rows = compare_module.compare("moons", list(SURVEY), seeds=[0], n_samples=200, params=tiny)
    assert sorted(row["method"] for row in rows) == sorted(SURVEY)
    assert all(not row["error"] and 0.5 <= row["acc"] <= 1.0 for row in rows)


def test_the_app_form_offers_them(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DEEPCLUST_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    for name, field in (("imsat", "marginal_weight"), ("dac", "threshold_step"), ("den", "sparsity_weight")):
        assert name in at.selectbox(key="cfg.method").options
        at.selectbox(key="cfg.method").set_value(name).run()
        assert not at.exception
        assert at.number_input(key=f"p.{name}.{field}").value == create_method(name).__getattribute__(field)
        assert at.session_state["config"]["method"] == name


@pytest.mark.parametrize("name", ["rim", "dac", "den"])
def test_a_recorded_run_has_its_loss_terms_latent_snapshots_and_start(name, tmp_path):
    from deepclust_core import store

    params = {"epochs": 2, "pretrain_epochs": 2, "hidden_dims": (8,), "device": "cpu", "kmeans_restarts": 1}
    config = {"dataset": "moons", "dataset_options": {"n_samples": 200}, "method": name,
              "params": compare_module.method_params("moons", name, {"*": params})}
    result = store.run_in_process(config, tmp_path)
    folder = store.RunFolder(result["run_dir"])
    assert result["state"] == "finished"
    assert result.get("init_scores") or result.get("model_start_scores")
    rows = [json.loads(line) for line in folder.metrics.read_text().splitlines()]
    train = [row for row in rows if row["phase"] == "train"]
    assert len(train) >= 1 and all("loss" in row and "acc" in row for row in train)
    snapshots = sorted(folder.snapshots_dir.glob("epoch_*.npz"))
    assert snapshots and np.load(snapshots[-1])["latent"].shape[0] == 200


def test_depict_paper_conv_layout_on_8x8_digits():
    """The authors' layout (4×4 then 5×5 stride-2 convolutions, side 8 → 3 → 2, tanh code) fits real images, and
    the clustering layer starts from k-means on that code (its labels are the start's)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = (digits.data / 16.0).astype("float32"), digits.target
    model = create_method("depict", n_clusters=10, network="conv", conv_layout="paper", latent_dim=10,
                          pretrain_epochs=15, pretrain_lr=0.003, epochs=3, device="cpu", random_state=0,
                          cache_pretrained=False).fit(x, y)
    shapes = [tuple(h.shape[1:]) for h in model.autoencoder_.encode_layers(torch.as_tensor(x[:2]))]
    assert shapes == [(32, 3, 3), (64, 2, 2), (10,)]
    # measured: start 0.72, end 0.74 (chance 0.1; k-means on the pixels 0.79 — 15 pretraining epochs are few)
    assert model.init_scores_["acc"] > 0.6 and cluster_acc(y, model.labels_) > 0.6
