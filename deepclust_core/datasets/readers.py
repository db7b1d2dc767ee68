"""File reading shared by the dataset loaders: :class:`NumpyOnlyUnpickler` (the only way a pickle is ever
read), the pickle-free .npz reader, file signatures, and finding a file or an array a user named."""
from __future__ import annotations

import math
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import numpy as np

from .. import settings
from ..errors import DataUnavailableError, InputError

PathLike = Union[str, os.PathLike]

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members, an empty zip
_NPY_MAGIC = b"\x93NUMPY"


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


def check_data_size(file: Path, arrays) -> None:
    """InputError when ``arrays`` ((shape, bytes per value) pairs) hold more values than
    ``$DEEPCLUST_MAX_CELLS`` or more than ``$DEEPCLUST_MAX_DATA_MB`` once decompressed -- checked from the
    arrays' headers before anything is decompressed."""
    counts = [(math.prod(int(n) for n in shape), int(itemsize)) for shape, itemsize in arrays]
    cells, size = sum(n for n, _ in counts), sum(n * itemsize for n, itemsize in counts)
    max_cells, max_mb = settings.max_cells(), settings.max_data_mb()
    if cells > max_cells:
        raise InputError(f"{file.name} holds {cells:,} values; this server accepts at most {max_cells:,} "
                         f"({settings.MAX_CELLS_ENV}).")
    if size > max_mb * 1e6:
        raise InputError(f"{file.name} holds {size / 1e6:,.0f} MB of data once decompressed; this server "
                         f"accepts at most {max_mb:g} MB ({settings.MAX_DATA_ENV}).")


def _npy_header(stream) -> Tuple[Tuple[int, ...], np.dtype]:
    """(shape, dtype) from a .npy header, without reading the data."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    return shape, dtype


def npy_shape(file: Path) -> Tuple[Tuple[int, ...], int]:
    """(shape, bytes per value) from a .npy file's header; InputError when the header cannot be read."""
    try:
        with open(file, "rb") as stream:
            shape, dtype = _npy_header(stream)
            return shape, dtype.itemsize
    except Exception as exc:  # NumPy parses the header with ast, so damage can also be a SyntaxError or TokenError
        raise InputError(f"{file.name} is corrupt or truncated: its header cannot be read "
                         f"({type(exc).__name__}).") from None


def npz_shapes(file: Path) -> Dict[str, Tuple[Tuple[int, ...], int]]:
    """(shape, bytes per value) of every array of an .npz archive, from the headers of its members (only a few bytes of each
    are decompressed); InputError when the archive or a header cannot be read."""
    shapes = {}
    try:
        with zipfile.ZipFile(file) as archive:
            for member in archive.infolist():
                if not member.filename.endswith(".npy"):
                    continue
                with archive.open(member) as stream:
                    shape, dtype = _npy_header(stream)
                    shapes[member.filename[:-4]] = (shape, dtype.itemsize)
    except Exception as exc:  # zipfile, zlib and NumPy report damaged headers with many exception types
        raise InputError(f"{file.name} is corrupt or truncated: {type(exc).__name__}.") from None
    return shapes


def _read_npz(file: Path, check_size: bool = True) -> Dict[str, np.ndarray]:
    """All arrays of an .npz archive, without pickle; InputError when it is not a readable archive, or (with
    ``check_size``) when its arrays would be larger than the server's limits once decompressed."""
    if not _starts_with(file, _ZIP_MAGIC):
        raise InputError(f"{file.name} is not an .npz archive (it is not a zip file).")
    if check_size:
        check_data_size(file, npz_shapes(file).values())
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
