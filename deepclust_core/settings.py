"""Settings read from the environment, parsed in one place.

Every ``DEEPCLUST_*`` variable the library or the app reads is named here, with its default and how it is
parsed, so ``off`` means the same thing wherever a boolean is read:

==========================  ===================================================  ========================
variable                    meaning                                              default
==========================  ===================================================  ========================
``DEEPCLUST_RUNS``          the runs folder (one sub-folder per run)              ``./runs``
``DEEPCLUST_DATA``          where datasets are looked for and cached              ``~/.cache/deepclust``
``DEEPCLUST_CACHE``         root of the pretrained-autoencoder cache              ``~/.cache/deepclust``
``DEEPCLUST_OFFLINE``       never download anything (boolean)                     off
``DEEPCLUST_MAX_JOBS``      runs that train at once on this machine (>= 1)        1
``DEEPCLUST_SERVER_PATHS``  the app may read data files by server path (boolean)  on
``DEEPCLUST_MAX_UPLOAD_MB`` largest upload the app accepts, in MB                 200
``DEEPCLUST_RAY_ADDRESS``   the Ray cluster runs go to (else ``RAY_ADDRESS``)     none: local processes
==========================  ===================================================  ========================

Booleans accept ``1/true/yes/on`` and ``0/false/no/off`` (any case); an empty or unset variable means the
default. A value that cannot be parsed raises :class:`~deepclust_core.errors.InputError` naming the variable.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .errors import InputError

RUNS_ENV = "DEEPCLUST_RUNS"
DATA_ENV = "DEEPCLUST_DATA"
CACHE_ENV = "DEEPCLUST_CACHE"
OFFLINE_ENV = "DEEPCLUST_OFFLINE"
MAX_JOBS_ENV = "DEEPCLUST_MAX_JOBS"
SERVER_PATHS_ENV = "DEEPCLUST_SERVER_PATHS"
MAX_UPLOAD_ENV = "DEEPCLUST_MAX_UPLOAD_MB"
RAY_ADDRESS_ENV = "DEEPCLUST_RAY_ADDRESS"
RAY_STANDARD_ENV = "RAY_ADDRESS"

DEFAULT_MAX_JOBS = 1
DEFAULT_MAX_UPLOAD_MB = 200.0  # keep equal to server.maxUploadSize in .streamlit/config.toml

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _raw(name: str) -> str:
    return os.environ.get(name, "").strip()


def env_bool(name: str, default: bool) -> bool:
    """A boolean variable: 1/true/yes/on or 0/false/no/off; unset or empty gives ``default``."""
    raw = _raw(name).lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise InputError(f"{name} must be one of {'/'.join(_TRUE)} or {'/'.join(_FALSE)}; got {raw[:40]!r}.")


def env_int(name: str, default: int, low: Optional[int] = None) -> int:
    """A whole-number variable (at least ``low`` when given); unset or empty gives ``default``."""
    raw = _raw(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InputError(f"{name} must be a whole number; got {raw[:40]!r}.") from None
    if low is not None and value < low:
        raise InputError(f"{name} must be at least {low}; got {value}.")
    return value


def env_float(name: str, default: float, low: Optional[float] = None) -> float:
    """A number variable (at least ``low`` when given); unset or empty gives ``default``."""
    raw = _raw(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"{name} must be a number; got {raw[:40]!r}.") from None
    if value != value or (low is not None and value < low):
        raise InputError(f"{name} must be a number of at least {low}; got {raw[:40]!r}.")
    return value


def env_path(name: str, default: Path) -> Path:
    """A folder variable, ``~`` expanded; unset or empty gives ``default``."""
    raw = _raw(name)
    return Path(raw).expanduser() if raw else Path(default).expanduser()


def _home_cache() -> Path:
    return Path.home() / ".cache" / "deepclust"


def runs_dir() -> Path:
    """``$DEEPCLUST_RUNS``, else ``./runs``."""
    return env_path(RUNS_ENV, Path("runs"))


def data_dir() -> Path:
    """Where datasets are looked for and cached: ``$DEEPCLUST_DATA``, else ``~/.cache/deepclust``."""
    return env_path(DATA_ENV, _home_cache())


def cache_root() -> Path:
    """Root of derived caches (pretrained autoencoders, UMAP embeddings): ``$DEEPCLUST_CACHE``, else
    ``~/.cache/deepclust``."""
    return env_path(CACHE_ENV, _home_cache())


def offline() -> bool:
    """``$DEEPCLUST_OFFLINE``: never try a download."""
    return env_bool(OFFLINE_ENV, False)


def max_jobs() -> int:
    """``$DEEPCLUST_MAX_JOBS`` (>= 1), else 1."""
    return env_int(MAX_JOBS_ENV, DEFAULT_MAX_JOBS, low=1)


def server_paths_allowed() -> bool:
    """``$DEEPCLUST_SERVER_PATHS``: whether the app may read a data file by a path typed in the sidebar."""
    return env_bool(SERVER_PATHS_ENV, True)


def max_upload_mb() -> float:
    """``$DEEPCLUST_MAX_UPLOAD_MB``, else 200."""
    return env_float(MAX_UPLOAD_ENV, DEFAULT_MAX_UPLOAD_MB, low=0.0)


def ray_address() -> str:
    """``$DEEPCLUST_RAY_ADDRESS``, else Ray's own ``$RAY_ADDRESS``, else "" (train on this machine's queue)."""
    return _raw(RAY_ADDRESS_ENV) or _raw(RAY_STANDARD_ENV)
