"""The :class:`Dataset` a loader returns, the dataset registry and the option introspection the app's forms use.

A loader is a function registered with :func:`register_dataset` whose keyword options carry a type, a
default and a help text (``typing.Annotated``); :func:`load_dataset` calls it and :func:`dataset_options`
describes its options. Also the class-stratified subset that the MNIST and Reuters loaders share.
"""
from __future__ import annotations

import inspect
import math
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from ..errors import InputError
from ..registry import Registry
from ..settings import data_dir

__all__ = ["KINDS", "Dataset", "DATASETS", "register_dataset", "list_datasets", "load_dataset",
           "dataset_options", "data_dir"]

KINDS = ("points", "image", "tf-idf")


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
