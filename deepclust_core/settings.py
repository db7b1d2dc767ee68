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
``DEEPCLUST_WORKER_NICE``   how much a training worker yields the CPU to the      10
                            app and the browser (``nice`` increment, 0-19)
``DEEPCLUST_SERVER_PATHS``  the app may read data files by server path (boolean)  off
``DEEPCLUST_MAX_UPLOAD_MB`` largest upload the app accepts, in MB                 200
``DEEPCLUST_MAX_DATA_MB``   largest data a user file may hold once decompressed   1000
                            (checked from its headers before loading), in MB
``DEEPCLUST_MAX_CELLS``     most values (rows x columns) a user file may hold     100,000,000
``DEEPCLUST_MAX_NETWORK``   widest hidden layer of a network (units)              20,000
``DEEPCLUST_MAX_GROUP``     most runs one click may queue (Compare, Ablation)     100
``DEEPCLUST_MAX_ECHO``      longest typed value repeated in a message (chars)     40
``DEEPCLUST_RAY_ADDRESS``   the Ray cluster runs go to (else ``RAY_ADDRESS``)     none: local processes
==========================  ===================================================  ========================

Server paths are off by default: a shared classroom server reads data files only from its uploads folder
unless the person who starts it sets ``DEEPCLUST_SERVER_PATHS=1`` (the CLI and the Python API read any path
they are given). Messages never repeat a data file's contents, and a value a user typed is shown cut to
``DEEPCLUST_MAX_ECHO`` characters (:func:`echo`).

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
WORKER_NICE_ENV = "DEEPCLUST_WORKER_NICE"
SERVER_PATHS_ENV = "DEEPCLUST_SERVER_PATHS"
MAX_UPLOAD_ENV = "DEEPCLUST_MAX_UPLOAD_MB"
MAX_DATA_ENV = "DEEPCLUST_MAX_DATA_MB"
MAX_CELLS_ENV = "DEEPCLUST_MAX_CELLS"
MAX_NETWORK_ENV = "DEEPCLUST_MAX_NETWORK"
MAX_GROUP_ENV = "DEEPCLUST_MAX_GROUP"
MAX_ECHO_ENV = "DEEPCLUST_MAX_ECHO"
RAY_ADDRESS_ENV = "DEEPCLUST_RAY_ADDRESS"
RAY_STANDARD_ENV = "RAY_ADDRESS"

DEFAULT_MAX_JOBS = 1
DEFAULT_WORKER_NICE = 10
DEFAULT_MAX_UPLOAD_MB = 200.0  # keep equal to server.maxUploadSize in .streamlit/config.toml
DEFAULT_MAX_DATA_MB = 1000.0  # MNIST's 70,000 x 784 is 55 MB as uint8, 220 MB as float32
DEFAULT_MAX_CELLS = 100_000_000
DEFAULT_MAX_NETWORK = 20_000  # the papers' widest layer is 2,000
DEFAULT_MAX_GROUP = 100
DEFAULT_MAX_ECHO = 40

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


def env_int(name: str, default: int, low: Optional[int] = None, high: Optional[int] = None) -> int:
    """A whole-number variable (between ``low`` and ``high`` when given); unset or empty gives ``default``."""
    raw = _raw(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InputError(f"{name} must be a whole number; got {raw[:40]!r}.") from None
    if low is not None and value < low:
        raise InputError(f"{name} must be at least {low}; got {value}.")
    if high is not None and value > high:
        raise InputError(f"{name} must be at most {high}; got {value}.")
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


def worker_nice() -> int:
    """``$DEEPCLUST_WORKER_NICE`` (0-19), else 10: the ``nice`` increment of a training worker process, so that
    the app's server and the browser get the CPU first when they need it (a click while a run trains)."""
    return env_int(WORKER_NICE_ENV, DEFAULT_WORKER_NICE, low=0, high=19)


def server_paths_allowed() -> bool:
    """``$DEEPCLUST_SERVER_PATHS``: whether the app may read a data file by a path typed in the sidebar."""
    return env_bool(SERVER_PATHS_ENV, False)


def max_upload_mb() -> float:
    """``$DEEPCLUST_MAX_UPLOAD_MB``, else 200."""
    return env_float(MAX_UPLOAD_ENV, DEFAULT_MAX_UPLOAD_MB, low=0.0)


def max_data_mb() -> float:
    """``$DEEPCLUST_MAX_DATA_MB``: the largest data a user file may hold once decompressed, in MB, else 1000."""
    return env_float(MAX_DATA_ENV, DEFAULT_MAX_DATA_MB, low=0.0)


def max_cells() -> int:
    """``$DEEPCLUST_MAX_CELLS``: the most values (rows x columns) a user file may hold, else 100,000,000."""
    return env_int(MAX_CELLS_ENV, DEFAULT_MAX_CELLS, low=1)


def max_network() -> int:
    """``$DEEPCLUST_MAX_NETWORK``: the most units of one hidden layer, else 20,000."""
    return env_int(MAX_NETWORK_ENV, DEFAULT_MAX_NETWORK, low=1)


def max_group() -> int:
    """``$DEEPCLUST_MAX_GROUP``: the most runs one click (a comparison, a sweep) may queue, else 100."""
    return env_int(MAX_GROUP_ENV, DEFAULT_MAX_GROUP, low=1)


def max_echo() -> int:
    """``$DEEPCLUST_MAX_ECHO``: the longest value a message repeats, in characters, else 40."""
    return env_int(MAX_ECHO_ENV, DEFAULT_MAX_ECHO, low=8)


def echo(value) -> str:
    """``repr(value)`` cut to :func:`max_echo` characters (with '…' and the full length when cut), for
    repeating what a user typed in a message without letting it grow without bound. Never pass a file's
    contents here: messages do not repeat them at all."""
    try:
        limit = max_echo()
    except InputError:
        limit = DEFAULT_MAX_ECHO
    text = value if isinstance(value, str) else repr(value)
    if isinstance(value, str):
        text = repr(value[:limit + 1])
    if len(text) <= limit + 2:
        return text
    return f"{text[:limit]}… ({len(value) if isinstance(value, str) else len(text)} characters)"
def ray_address() -> str:
    """``$DEEPCLUST_RAY_ADDRESS``, else Ray's own ``$RAY_ADDRESS``, else "" (train on this machine's queue)."""
    return _raw(RAY_ADDRESS_ENV) or _raw(RAY_STANDARD_ENV)
