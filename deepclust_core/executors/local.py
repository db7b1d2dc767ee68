"""The local queue: every run is its own OS process on this machine, started from the runs folder's on-disk
queue, at most ``$DEEPCLUST_MAX_JOBS`` at once (what :mod:`deepclust_core.jobs` always did).

A worker is ``python -m deepclust_core.jobs run RUN_DIR``, started with ``subprocess.Popen`` in a new session (so
closing the app or its tab does not end it) with its output in the run's log.txt. :func:`schedule` starts
queued runs oldest first under an ``fcntl`` lock so two app sessions cannot over-start, and every worker calls
it again when it ends, so the queue drains without the app. Runs handed to a Ray cluster (status ``executor:
"ray"``) are neither started nor counted here.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

from .. import settings, store
from ..store import states
from ..store.layout import PathLike, lock_file
from .base import Executor, OnEnd, wait_for_runs

STOP_GRACE_SECONDS = 15.0
SCHEDULE_EVERY = 2.0  # seconds between two schedule() calls while a caller waits for its runs
_children: List[subprocess.Popen] = []  # workers this process started, polled so none stays a zombie
_children_lock = threading.Lock()  # the app calls in from one thread per session


@contextlib.contextmanager
def schedule_lock(runs_dir: Path) -> Iterator[None]:
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_file(runs_dir), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def reap_children() -> None:
    with _children_lock:
        _children[:] = [child for child in _children if child.poll() is None]


def adopt(child: subprocess.Popen) -> subprocess.Popen:
    with _children_lock:
        _children.append(child)
    return child


def worker_env() -> Dict[str, str]:
    """The environment of a worker: ours, with this package importable even when not installed."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def spawn_detached(args: List[str], log: Optional[Path] = None) -> subprocess.Popen:
    """``python ARGS`` in its own session (it outlives the app), output to ``log`` (else nowhere)."""
    with open(log, "ab") if log else open(os.devnull, "wb") as out:
        # Same working directory as the caller, so relative data paths in a config mean the same thing.
        child = subprocess.Popen([sys.executable, *args], stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True, env=worker_env())
    return adopt(child)


def _start_worker(run_dir: Path) -> subprocess.Popen:
    return spawn_detached(["-m", "deepclust_core.jobs", "run", str(run_dir.resolve())], store.RunFolder(run_dir).log)


def is_remote(run: store.Run) -> bool:
    """A run handed to a Ray cluster: its driver, not this queue, starts and ends it."""
    return run.status.get("executor") == "ray"


def schedule(runs_dir: PathLike) -> List[str]:
    """Record dead workers' runs as failed, then start queued runs, oldest first, while fewer than
    ``$DEEPCLUST_MAX_JOBS`` local runs are running; return the ids started."""
    runs_dir = Path(runs_dir)
    limit = settings.max_jobs()  # a bad $DEEPCLUST_MAX_JOBS fails here, before anything is marked
    reap_children()
    started = []
    with schedule_lock(runs_dir):
        store.reconcile(runs_dir)
        all_runs = [run for run in store.list_runs(runs_dir) if not is_remote(run)]
        running = sum(run.state == "running" for run in all_runs)
        queued = sorted((run for run in all_runs if run.state == "queued"), key=lambda run: (run.created or 0, run.id))
        for run in queued[:max(0, limit - running)]:
            # Marked running before the worker exists, under the lock, so the next schedule() counts it;
            # only the pid is added afterwards (the worker may already have moved the state on).
            if not states.mark_scheduled(run.path):
                continue
            try:
                child = _start_worker(run.path)
            except OSError as exc:
                states.mark_ended(run.path, "failed", f"could not start the worker: {exc}")
                continue
            states.record_worker(run.path, child.pid)
            started.append(run.id)
    return started


def stop(run_dir: PathLike, grace: float = STOP_GRACE_SECONDS, wait: bool = False) -> str:
    """Stop a run; return its state afterwards ("stopped" at once for a queued run).

    A running run sees the STOP file after its current epoch and ends as "stopped" keeping partial results.
    A local worker still running ``grace`` seconds later gets SIGTERM on its process group (which it also
    records as "stopped"); with ``wait`` False (the app) that deadline is kept by a small detached watchdog
    process, so the caller returns at once. A run on a Ray cluster is stopped by its driver, which relays the
    STOP file to the remote task (and cancels the task after ``grace`` seconds).
    """
    run = store.load_run(run_dir)
    with schedule_lock(run.runs_dir):  # no queued -> running transition can happen meanwhile
        run = store.load_run(run.path)
        if run.state == "queued":
            store.request_stop(run.path)  # in case a worker was about to pick it up anyway
            states.mark_ended(run.path, "stopped", "stopped before it started")
            return "stopped"
        if run.state != "running":
            return run.state
        store.request_stop(run.path)
    run_dir = run.path
    if is_remote(run):
        return _wait_for_end(run_dir, grace + 30.0) if wait else "running"
    if wait:
        return _terminate_after(run_dir, grace)
    reap_children()
    spawn_detached(["-m", "deepclust_core.jobs", "stop", str(run_dir.resolve()), "--grace", str(grace)])
    return "running"


def _wait_for_end(run_dir: Path, patience: float) -> str:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        run = store.load_run(run_dir)
        if not run.active:
            return run.state
        time.sleep(0.2)
    return store.load_run(run_dir).state


def _terminate_after(run_dir: Path, grace: float) -> str:
    """Wait up to ``grace`` seconds for the run to end, then SIGTERM (and later SIGKILL) its group."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        reap_children()
        run = store.load_run(run_dir)
        if run.state != "running":
            return run.state
        time.sleep(0.2)
    status = store.load_run(run_dir).status
    pid = status.get("pid")
    for sig, patience in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 2.0)):
        if not states.pid_alive(pid, status.get("pid_start")):
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        end = time.monotonic() + patience
        while time.monotonic() < end and states.pid_alive(pid, status.get("pid_start")):
            reap_children()
            time.sleep(0.1)
    if not states.pid_alive(pid, status.get("pid_start")):
        # Killed before it could record anything (e.g. still importing): it was stopped, not crashed.
        states.mark_ended(run_dir, "stopped", "stopped (worker terminated)")
    return store.load_run(run_dir).state


class LocalQueue(Executor):
    """This machine's queue. ``max_jobs`` (else ``$DEEPCLUST_MAX_JOBS``) runs train at once; giving it sets
    ``$DEEPCLUST_MAX_JOBS`` for this process and the workers it starts, so the queue keeps the same limit
    when a worker starts the next run."""

    name = "local"

    def __init__(self, max_jobs: Optional[int] = None):
        if max_jobs is not None:
            if int(max_jobs) < 1:
                from ..errors import InputError

                raise InputError(f"The local queue needs at least 1 worker; got {max_jobs}.")
            os.environ[settings.MAX_JOBS_ENV] = str(int(max_jobs))
        self.max_jobs = settings.max_jobs()

    def start(self, runs_dir: PathLike, run_dirs: Sequence[Path] = ()) -> None:
        schedule(runs_dir)

    def run(self, runs_dir: PathLike, run_dirs: Sequence[Path], on_end: OnEnd = None) -> List[store.Run]:
        last = [0.0]

        def tick() -> None:  # the workers start the next run themselves; this also records dead ones
            if time.monotonic() - last[0] >= SCHEDULE_EVERY:
                last[0] = time.monotonic()
                schedule(runs_dir)

        try:
            return wait_for_runs(run_dirs, on_end, tick)
        except KeyboardInterrupt:
            for path in run_dirs:
                with contextlib.suppress(Exception):
                    stop(path, grace=5.0, wait=False)
            raise

    def describe(self) -> str:
        return f"local queue ({self.max_jobs} at once)"
