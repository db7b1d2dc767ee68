"""The benchmark commands: overrides are typed per method, and a result file holds the figures with the exact
command, the commit the code came from, the machine and the wall time."""
import json
import sys

import pytest

from benchmarks import common, moons


def test_overrides_are_typed_and_kept_only_for_methods_that_accept_them():
    pairs = ["neighbors_per_step=3", "epochs=7", "lam=0.5", "graph_space=pca"]
    assert common.overrides(pairs, "dgg") == {"neighbors_per_step": 3, "epochs": 7, "lam": 0.5,
                                              "graph_space": "pca"}
    assert common.overrides(pairs, "vade") == {"epochs": 7, "lam": 0.5}  # VaDE has no graph
    assert common.overrides([], "dgg") == {}


def test_moons_benchmark_records_its_runs_and_how_they_were_made(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DEEPCLUST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    argv = ["moons.py", "--seeds", "0", "--methods", "dgg", "--set", "epochs=2", "--set", "pretrain_epochs=2",
            "--set", "neighbors_per_step=2", "--tag", "t"]
    monkeypatch.setattr(sys, "argv", argv)
    moons.main()
    saved = json.loads((tmp_path / "results" / "moons-t.json").read_text())
    assert saved == json.loads(capsys.readouterr().out.strip().splitlines()[-1])  # printed and written alike
    assert saved["command"].endswith("-m benchmarks.moons " + " ".join(argv[1:]))
    assert saved["git_commit"] == common.COMMIT_AT_START and saved["machine"]["cores"] >= 1
    assert saved["wall_seconds"] > 0
    assert saved["overrides"] == ["epochs=2", "pretrain_epochs=2", "neighbors_per_step=2"]
    (run,) = saved["runs"]
    assert run["method"] == "dgg" and run["state"] == "finished" and 0.0 <= run["acc"] <= 1.0
    assert saved["summary"]["dgg"]["acc"]["values"] == [run["acc"]]
    assert "dgg_minus_vade_acc" not in saved  # only one method ran


def test_benchmark_runs_go_through_the_executor_seam_and_an_unreachable_cluster_is_a_clear_error(tmp_path,
                                                                                                  monkeypatch):
    from deepclust_core import store
    from deepclust_core.errors import InputError

    monkeypatch.setenv("DEEPCLUST_RAY_ADDRESS", "127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(InputError, match="unreachable|not installed"):
        common.train("moons", "kmeans", {"n_samples": 100}, {}, runs_dir=str(tmp_path))
    assert store.list_runs(tmp_path) == []


def test_depict_authors_network_is_their_convolution_on_their_input_scale():
    """Lasagne's Conv2DLayer convolves (flips its filters) on inputs 2x − 1; the loaded first layer must give the
    same on our x in [0, 1] — checked against scipy's true convolution, computed independently."""
    import numpy as np
    import torch
    from scipy.signal import convolve2d

    from benchmarks.depict_authors import authors_autoencoder

    rng = np.random.default_rng(0)
    shapes = [(50, 1, 4, 4), (50,), (50, 50, 5, 5), (50,), (2450, 10), (10,), (10, 2450), (2450,),
              (50, 50, 5, 5), (50,), (50, 1, 4, 4), (1,)]
    values = [rng.normal(0, 0.1, s).astype(np.float32) for s in shapes]
    model = authors_autoencoder(values)
    x = rng.random((1, 784)).astype(np.float32)
    with torch.no_grad():
        first = model.encoder_blocks[0][1](torch.as_tensor(x).view(1, 1, 28, 28))[0].numpy()
    image = 2 * x.reshape(28, 28) - 1
    for channel in (0, 17, 49):
        full = convolve2d(image, values[0][channel, 0], mode="valid")[::2, ::2] + values[1][channel]
        np.testing.assert_allclose(first[channel], full, rtol=1e-4, atol=1e-5)
    assert first.shape == (50, 13, 13)  # 28 → 13 → 7: the paper layout's sides on MNIST
    with torch.no_grad():
        codes = model.encode_layers(torch.as_tensor(x))
        out = model.decode(codes[-1])
    assert [tuple(c.shape) for c in codes] == [(1, 50, 13, 13), (1, 50, 7, 7), (1, 10)] and out.shape == (1, 784)
    assert float(codes[-1].abs().max()) <= 1.0  # the tanh code


def test_a_network_trained_on_the_unit_scale_folds_into_one_on_pixels():
    """Trained on 2x − 1 with a tanh output, the folded network takes x and gives the logits 2a of tanh(a)."""
    import torch

    from benchmarks.depict_authors import fold_unit_scale
    from deepclust_core.methods.depict import conv_autoencoder

    torch.manual_seed(0)
    model, x = conv_autoencoder(28, 1, (8, 8), 10, "paper"), torch.rand(4, 784)
    with torch.no_grad():
        before = model.decode(model.encode(2 * x - 1)[0])
        after = fold_unit_scale(model).decode(model.encode(x)[0])
    torch.testing.assert_close(after, 2 * before, rtol=1e-5, atol=1e-5)
