"""Atomic file writes and safe reads, shared by the run store, the dataset caches and the model cache.

A writer writes a temporary file next to the target (a name unique to the process and thread) and moves it
into place with ``os.replace``, so a reader sees the old file or the new one, never half of one; a failed
write (e.g. a full disk) removes its partial file.
"""
from __future__ import annotations

import json
import math
import os
import secrets
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Union

import numpy as np

PathLike = Union[str, os.PathLike]


def jsonable(value: Any) -> Any:
    """Tuples to lists, NumPy scalars to Python, non-finite floats to None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def partial_name(path: Path) -> Path:
    """A temporary name next to ``path``, unique per writer (process and thread)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}-{secrets.token_hex(4)}.tmp")


def write_atomically(path: PathLike, write: Callable[[Any], None]) -> None:
    """``write(stream)`` into a temporary binary file, then ``os.replace`` it onto ``path``; on any failure
    the partial file is removed, so a folder never keeps half a file."""
    path = Path(path)
    partial = partial_name(path)
    try:
        with open(partial, "wb") as stream:
            write(stream)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_json(path: PathLike, payload: Any, reserve: int = 0) -> None:
    """Write JSON atomically (indented, sorted keys, strict: NaN becomes null), padded with spaces (valid
    JSON) to at least ``reserve`` bytes, so that it can later be rewritten in place on a full disk."""
    text = json.dumps(jsonable(payload), indent=1, sort_keys=True).encode()
    text += b" " * max(0, reserve - len(text))
    write_atomically(path, lambda stream: stream.write(text))


def read_json(path: PathLike) -> Any:
    return json.loads(Path(path).read_text())


def save_npz(path: PathLike, **arrays: np.ndarray) -> None:
    """Write a compressed .npz atomically, creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda stream: np.savez_compressed(stream, **arrays))


def load_npz(path: PathLike) -> Optional[Dict[str, np.ndarray]]:
    """All arrays of an .npz (never unpickling anything), or None when it is missing or damaged."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except Exception:  # missing, truncated, not a zip: callers treat it as absent
        return None
