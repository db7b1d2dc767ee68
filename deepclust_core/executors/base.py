"""The executor seam: where a queued run trains. Two executors, one interface:

- :class:`deepclust_core.jobs.LocalQueue` (the default): one OS process per run on this machine, at
  most ``$DEEPCLUST_MAX_JOBS`` at once, started from the runs folder's on-disk queue;
- :class:`~deepclust_core.executors.raycluster.RayExecutor`: one Ray task per run on a Ray cluster, chosen when
  an address is given (argument, ``--address``, the app's setting, ``$DEEPCLUST_RAY_ADDRESS`` or
  ``$RAY_ADDRESS``).

Either way the run folder on this machine is the source of truth: the Ray executor's driver writes into it what
the remote task streams back (see docs/SCALING.md), so the pages, ``compare`` and the sweep read runs the same
way whatever trained them.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence

from .. import settings, store
from ..errors import DeepClustError, InputError
from ..store import states
from ..store.layout import PathLike, lock_file

POLL_SECONDS = 0.5
OnEnd = Optional[Callable[[store.Run], None]]
_spawned: List[subprocess.Popen] = []  # detached processes this process started, polled so none stays a zombie
_spawned_lock = threading.Lock()


class Executor:
    """Runs queued run folders. ``start`` hands them over and returns; ``run`` blocks until every one has
    ended, calling ``on_end(run)`` as each does (in the order they end); ``stop`` asks one to stop."""

    name = "executor"

    def check(self) -> None:
        """Raise InputError (clear, nothing written) when runs cannot be handed over now."""

    def start(self, runs_dir: PathLike, run_dirs: Sequence[Path]) -> None:
        raise NotImplementedError

    def run(self, runs_dir: PathLike, run_dirs: Sequence[Path], on_end: OnEnd = None) -> List[store.Run]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


def wait_for_runs(run_dirs: Iterable[Path], on_end: OnEnd = None, tick: Callable[[], None] = lambda: None,
                  poll: float = POLL_SECONDS) -> List[store.Run]:
    """Poll the run folders until each has ended; ``tick()`` is called every round (the local queue schedules
    there). Returns the ended runs in the order given."""
    pending = {Path(path): None for path in run_dirs}
    ended = {}
    while pending:
        tick()
        for path in list(pending):
            run = store.load_run(path)
            if not run.active:
                ended[path] = run
                del pending[path]
                if on_end is not None:
                    on_end(run)
        if pending:
            time.sleep(poll)
    return [ended[Path(path)] for path in run_dirs]


def ray_address(explicit: Optional[str] = None) -> Optional[str]:
    """The Ray cluster to use: ``explicit`` when given (an empty string or "local" means this machine's queue),
    else ``$DEEPCLUST_RAY_ADDRESS``, else ``$RAY_ADDRESS``; None for the local queue."""
    address = settings.ray_address() if explicit is None else explicit.strip()
    return None if not address or address.lower() == "local" else address


def check_reachable(address: str, timeout: float = 3.0) -> None:
    """A clear InputError when nothing answers at ``address`` ("host:port", "ray://host:port"); "auto" is
    left to Ray (it looks for a cluster started on this machine)."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"Ray address {address!r} is not host:port (e.g. 10.0.0.5:6379 or ray://10.0.0.5:10001).")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise InputError(f"The Ray cluster at {address} is unreachable ({exc.strerror or exc}); nothing was "
                         "queued there. Unset the address (RAY_ADDRESS, --address, the app's setting) to train "
                         "on this machine's queue.") from None


def is_remote(run: store.Run) -> bool:
    """A run handed to a Ray cluster: its driver, not the local queue, starts and ends it."""
    return run.status.get("executor") == "ray"


@contextlib.contextmanager
def schedule_lock(runs_dir: PathLike) -> Iterator[None]:
    """The runs folder's queue lock (``fcntl``): no two processes move runs out of "queued" at once."""
    runs_dir = Path(runs_dir)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        handle = open(lock_file(runs_dir), "a")
    except OSError as exc:  # read-only, a file in the folder's place, /proc: say so, never a traceback
        raise DeepClustError(f"The runs folder {runs_dir} cannot be written: {states.one_line(exc)}.") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def worker_env() -> Dict[str, str]:
    """The environment of a detached process: ours, with this package importable even when not installed."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def reap_spawned() -> None:
    with _spawned_lock:
        _spawned[:] = [child for child in _spawned if child.poll() is None]


def spawn_detached(args: List[str], log: Optional[Path] = None) -> subprocess.Popen:
    """``python ARGS`` in its own session (it outlives the app and its tab), output appended to ``log``.
    Same working directory as the caller, so relative data paths in a config mean the same thing."""
    reap_spawned()
    with open(log, "ab") if log else open(os.devnull, "wb") as out:
        child = subprocess.Popen([sys.executable, *args], stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True, env=worker_env())
    with _spawned_lock:
        _spawned.append(child)
    return child
