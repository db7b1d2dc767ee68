"""Reuters-10K, registered as "reuters10k": the files it is read from (our .npz cache, VaDE's .mat, DEC's
pickled .npy) and :func:`build_reuters10k`, which derives it from scikit-learn's RCV1."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Optional, Tuple

import numpy as np
import scipy.sparse as sp

from .. import fileio, settings
from ..errors import DataUnavailableError, InputError
from ..validation import check_features, check_int_range, check_labels
from .base import Dataset, _stratified_subset, register_dataset
from .readers import NumpyOnlyUnpickler, PathLike, _array, _explicit_file, _read_npz

REUTERS_FILES = ("reuters10k.npz", "reuters10k.mat", "reutersidf10k.npy")
REUTERS_TOPICS = ("CCAT", "GCAT", "MCAT", "ECAT")  # label 0..3, in this order


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
    folder = settings.data_dir()
    for name in REUTERS_FILES:
        if (folder / name).is_file():
            return folder / name
    cached = folder / REUTERS_FILES[0]
    if settings.offline():
        reason = "skipped: DEEPCLUST_OFFLINE is set"
    else:
        try:
            x, y = build_reuters10k(data_home=folder)
            fileio.save_npz(cached, x=x, y=y)
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
    """Derive Reuters-10K from RCV1 (docs/METHODS.md §6); returns x float32 (n_docs, n_terms) and y int64 in 0..3.

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
        rcv1 = _fetch_rcv1(Path(data_home) if data_home is not None else settings.data_dir())
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
