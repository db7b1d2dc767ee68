"""The user's own data file, registered as "file": :func:`read_user_file` (validated x, y from .npz, .npy,
.csv or .tsv), :func:`store_user_file` (keeping an upload once it is known to be usable) and the CSV and
plain .npy readers behind them."""
from __future__ import annotations

import errno
import hashlib
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Optional, Tuple, Union

import numpy as np
import pandas as pd

from .. import settings
from ..errors import InputError
from ..validation import check_features, check_labels, check_n_clusters, parses_as_number
from .base import Dataset, register_dataset
from .readers import _NPY_MAGIC, PathLike, _array, _read_npz, _starts_with, check_data_size, npy_shape

LABEL_COLUMN_NAMES = ("label", "labels", "y", "class", "target")
USER_FILE_TYPES = (".npz", ".npy", ".csv", ".tsv")


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
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"The 'file' dataset's path must be a file name; got a {type(path).__name__}.")
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
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"A data file's path must be a file name; got a {type(path).__name__}.")
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
    check_data_size(file, [npy_shape(file)])
    try:
        return np.load(file, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise InputError(f"{file.name} holds pickled Python objects, which deepclust never loads; "
                             "save a numeric array instead.") from None
        raise InputError(f"{file.name} is corrupt or truncated: {exc}") from None
    except Exception as exc:  # NumPy reports damaged files with many exception types
        raise InputError(f"{file.name} is corrupt or truncated: {type(exc).__name__}: {exc}") from None


def _csv_shape(file: Path, separator: str) -> Tuple[int, int]:
    """(lines, values in the widest of the first 64 lines), counted without parsing, for the size limits."""
    separator_byte, width = separator.encode(), 0
    with open(file, "rb") as stream:
        for _, line in zip(range(64), stream):
            width = max(width, line.count(separator_byte) + 1)
        stream.seek(0)
        lines, last = 0, b""
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            lines, last = lines + chunk.count(b"\n"), chunk[-1:]
    return lines + (last not in (b"", b"\n")), width


def _check_csv_size(file: Path, separator: str) -> None:
    """The size limits of :func:`check_data_size` for a text table, before pandas reads it (pandas needs
    several times the file's size in memory). Each value of a text file takes at least two bytes, so a file
    whose smallest possible table is over a limit is refused before it is even counted."""
    size = file.stat().st_size
    if size // 2 * 8 > settings.max_data_mb() * 1e6 or size // 2 > settings.max_cells():
        check_data_size(file, [((size // 2,), 8)])  # raises, with the limit that is hit
    lines, width = _csv_shape(file, separator)
    check_data_size(file, [((lines, width), 8)])  # pandas reads float64


def _read_csv(file: Path, separator: str, label_column: Union[str, int, None]) -> Tuple[Any, Optional[Any]]:
    with open(file, "rb") as stream:
        if b"\x00" in stream.read(8192):
            raise InputError(f"{file.name} looks like a binary file, not {file.suffix.lower()} text.")
    _check_csv_size(file, separator)
    try:
        first_rows = pd.read_csv(file, sep=separator, header=None, nrows=2, dtype=str, na_filter=False,
                                 skipinitialspace=True)
        has_header = _looks_like_header(first_rows)
        table = pd.read_csv(file, sep=separator, header=0 if has_header else None, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputError(f"{file.name} has no data.") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{file.name} is not a regular table (do all rows have the same number of values?): "
                         f"{_parser_detail(exc)}") from None
    except UnicodeDecodeError:
        raise InputError(f"{file.name} is not UTF-8 text; save it as a UTF-8 CSV.") from None
    except Exception as exc:  # pandas reports other malformed input with many exception types
        raise InputError(f"Cannot read {file.name} as CSV ({type(exc).__name__}).") from None
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
            raise InputError(  # the value itself is never repeated: messages do not echo a file's contents
                f"{file.name} has a non-numeric value on line {row + first_line}, column "
                f"{_column_name(table, name)}{hint}; only the label column may hold text (set label_column "
                "if this is it)."
            )
    missing = features.isna().to_numpy()
    if missing.any():
        row, column = np.argwhere(missing)[0]
        count = int(missing.sum())
        raise InputError(
            f"{file.name} has {count} empty or missing value{'s' if count > 1 else ''} (first on line "
            f"{row + first_line}, column {_column_name(table, features.columns[column])}); a row with fewer values than "
            "the others shows up like this too. Fill or remove them."
        )
    labels = table[label_key].to_numpy() if label_key is not None else None
    return features.to_numpy(), labels


def _parser_detail(exc: Exception) -> str:
    """pandas' parser message when it only counts fields ("Expected 3 fields in line 5, saw 4"), else
    nothing: a message never repeats the file's contents."""
    match = re.search(r"Expected \d+ fields in line \d+, saw \d+", str(exc))
    return match.group(0) if match else type(exc).__name__


def _column_name(table: pd.DataFrame, column: Any) -> str:
    """How to name a CSV column in a message: by its 0-based index (a header's text is the file's content,
    which messages do not repeat)."""
    return f"index {list(table.columns).index(column)}"


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
    raise InputError(f"{file.name} has no label column {settings.echo(str(label_column))}: give a column's "
                     f"exact header or its 0-based index (the file has {len(columns)} columns).")
