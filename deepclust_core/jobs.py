"""Training jobs: every run is its own OS process, started from a small on-disk queue. Processes only: what a
run folder holds and how its state changes is :mod:`deepclust_core.store`'s business.

    run_id = submit("runs", config)      # creates runs/<id>/ (queued) and starts it if a slot is free
    stop("runs/<id>")                    # STOP file; SIGTERM to the worker's process group after a grace

A worker is ``python -m deepclust_core.jobs run RUN_DIR``, started with ``subprocess.Popen`` in a
new session (so closing the app or its tab does not end it) with its output in the run's log.txt.
At most ``$DEEPCLUST_MAX_JOBS`` (default 1) runs train at once; :func:`schedule` starts queued runs
oldest first under an ``fcntl`` lock so two app sessions cannot over-start, and every worker calls
it again when it ends, so the queue drains without the app. The disk is the truth: after a crash or
a server restart, :func:`startup` (reconcile + schedule) repairs the state, and the app's
:class:`Supervisor` thread keeps doing so (a worker killed with SIGKILL cannot start the next run itself).
Reading a run never starts or schedules anything.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from . import settings, store
from .errors import InputError
from .store import states
from .store.layout import PathLike, lock_file

STOP_GRACE_SECONDS = 15.0
SUPERVISE_SECONDS = 5.0
_children: List[subprocess.Popen] = []  # workers this process started, polled so none stays a zombie
_children_lock = threading.Lock()  # the app calls in from one thread per session


def max_jobs() -> int:
    """``$DEEPCLUST_MAX_JOBS`` (>= 1), else 1."""
    return settings.max_jobs()


@contextlib.contextmanager
def _schedule_lock(runs_dir: Path) -> Iterator[None]:
    runs_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_file(runs_dir), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _reap_children() -> None:
    with _children_lock:
        _children[:] = [child for child in _children if child.poll() is None]


def _adopt(child: subprocess.Popen) -> subprocess.Popen:
    with _children_lock:
        _children.append(child)
    return child


def _worker_env() -> Dict[str, str]:
    """The environment of a worker: ours, with this package importable even when not installed."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _start_worker(run_dir: Path) -> subprocess.Popen:
    with open(store.RunFolder(run_dir).log, "ab") as log:
        # Same working directory as the caller, so relative data paths in a config mean the same thing.
        child = subprocess.Popen([sys.executable, "-m", "deepclust_core.jobs", "run", str(run_dir.resolve())],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True, env=_worker_env())
    return _adopt(child)


def schedule(runs_dir: PathLike) -> List[str]:
    """Record dead workers' runs as failed, then start queued runs, oldest first, while fewer than
    :func:`max_jobs` are running; return the ids started."""
    runs_dir = Path(runs_dir)
    limit = max_jobs()  # a bad $DEEPCLUST_MAX_JOBS fails here, before anything is marked
    _reap_children()
    started = []
    with _schedule_lock(runs_dir):
        store.reconcile(runs_dir)
        all_runs = store.list_runs(runs_dir)
        running = sum(run.state in states.WORKER_STATES for run in all_runs)  # a paused run keeps its slot
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


def submit(runs_dir: PathLike, config: Dict) -> str:
    """Create a queued run (InputError for a bad config, nothing written) and schedule; return its id."""
    max_jobs()  # a bad $DEEPCLUST_MAX_JOBS is reported before a run is queued
    run = store.create_run(runs_dir, config)
    schedule(runs_dir)
    return run.id


def stop(run_dir: PathLike, grace: float = STOP_GRACE_SECONDS, wait: bool = False) -> str:
    """Stop a run; return its state afterwards ("stopped" at once for a queued run).

    A running worker sees the STOP file after its current epoch and ends as "stopped" keeping partial
    results. If it is still running ``grace`` seconds later its process group gets SIGTERM (which the
    worker also records as "stopped"). With ``wait`` False (the app) that deadline is kept by a small
    detached watchdog process, so the caller returns immediately.
    """
    run = store.load_run(run_dir)
    with _schedule_lock(run.runs_dir):  # no queued -> running transition can happen meanwhile
        run = store.load_run(run.path)
        if run.state == "queued":
            store.request_stop(run.path)  # in case a worker was about to pick it up anyway
            states.mark_ended(run.path, "stopped", "stopped before it started")
            return "stopped"
        if run.state not in states.WORKER_STATES:
            return run.state
        store.request_stop(run.path)
    run_dir = run.path
    if wait:
        return _terminate_after(run_dir, grace)
    _reap_children()
    _adopt(subprocess.Popen(
        [sys.executable, "-m", "deepclust_core.jobs", "stop", str(run_dir.resolve()), "--grace", str(grace)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env=_worker_env()))
    return "running"


def pause(run_dir: PathLike) -> None:
    """Ask a running run to pause after its current epoch (its worker keeps the model and waits)."""
    run = store.load_run(run_dir)
    if run.state in states.ACTIVE_STATES:
        run.folder.pause_file.touch()


def resume(run_dir: PathLike) -> None:
    """Let a paused run go on where it stopped."""
    folder = store.RunFolder(run_dir)
    folder.step_file.unlink(missing_ok=True)
    folder.pause_file.unlink(missing_ok=True)


def step(run_dir: PathLike) -> None:
    """Train exactly one more epoch of a paused run, then pause again (a running run just pauses)."""
    run = store.load_run(run_dir)
    if run.state not in states.ACTIVE_STATES:
        return
    if run.folder.pause_file.exists() and run.state == "paused":
        run.folder.step_file.touch()
    else:
        run.folder.pause_file.touch()


def _terminate_after(run_dir: Path, grace: float) -> str:
    """Wait up to ``grace`` seconds for the run to end, then SIGTERM (and later SIGKILL) its group."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap_children()
        run = store.load_run(run_dir)
        if run.state not in states.WORKER_STATES:
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
            _reap_children()
            time.sleep(0.1)
    if not states.pid_alive(pid, status.get("pid_start")):
        # Killed before it could record anything (e.g. still importing): it was stopped, not crashed.
        states.mark_ended(run_dir, "stopped", "stopped (worker terminated)")
    return store.load_run(run_dir).state


def startup(runs_dir: PathLike, supervise: bool = True) -> List[str]:
    """What the app does when it starts: mark dead workers failed (under the lock), start what is queued,
    drop old uploads that no run uses, and (``supervise``) start this process's :class:`Supervisor` of the
    runs folder, once per folder."""
    started = schedule(runs_dir)
    store.prune_uploads(runs_dir)
    if supervise:
        supervisor(runs_dir)
    return started


_supervisors: Dict[Path, "Supervisor"] = {}


def supervisor(runs_dir: PathLike) -> "Supervisor":
    """This process's supervisor thread of ``runs_dir``, started on first use."""
    key = Path(runs_dir).resolve()
    with _children_lock:
        current = _supervisors.get(key)
        if current is None or not current.is_alive():
            current = _supervisors[key] = Supervisor(key)
            current.start()
    return current


class Supervisor(threading.Thread):
    """A daemon thread of the app's server process that calls :func:`schedule` every few seconds, so the
    queue drains and dead workers are recorded even when a worker was killed before it could start the next
    run. Errors (a read-only or full runs folder) are kept in :attr:`last_error`, never raised."""

    def __init__(self, runs_dir: PathLike, every: float = SUPERVISE_SECONDS):
        super().__init__(name="deepclust-supervisor", daemon=True)
        self.runs_dir, self.every = Path(runs_dir), every
        self.last_error: Optional[str] = None
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.every):
            try:
                schedule(self.runs_dir)
                self.last_error = None
            except Exception as exc:  # keep supervising; the pages report the folder's problems themselves
                self.last_error = states.one_line(exc)

    def halt(self) -> None:
        self._halt.set()


def _interrupt(signum, frame):  # SIGTERM -> KeyboardInterrupt, which execute_run records as "stopped"
    raise KeyboardInterrupt(f"signal {signum}")


def _limit_threads(run_dir: Path) -> None:
    """Threads of this worker from the size of its work and the number of runs training now
    (:mod:`deepclust_core.threads`: one for tiny networks, else the cores shared between the running runs)."""
    from . import fileio, threads

    try:
        params = fileio.read_json(store.RunFolder(run_dir).config).get("params") or {}
    except (OSError, ValueError, AttributeError):
        params = {}
    running = threads.count_running(run.state for run in store.list_runs(run_dir.parent))
    chosen = threads.set_threads(threads.work_of_config(params), max(1, min(running, max_jobs())))
    print(f"threads: {chosen} (runs training now: {running})", flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deepclust_core.jobs", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="Train one queued run (what a worker process does).")
    run_parser.add_argument("run_dir")
    stop_parser = commands.add_parser("stop", help="Stop a run, SIGTERM after a grace period.")
    stop_parser.add_argument("run_dir")
    stop_parser.add_argument("--grace", type=float, default=STOP_GRACE_SECONDS)
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir).resolve()
    if args.command == "stop":
        print(stop(run_dir, grace=args.grace, wait=True))
        return 0
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        _limit_threads(run_dir)
        result = store.execute_run(run_dir)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with contextlib.suppress(Exception):  # the queue must drain even when this run went wrong
            schedule(run_dir.parent)
    print(f"run {run_dir.name}: {result.get('state')} {result.get('reason') or ''}".rstrip(), flush=True)
    return 1 if result.get("state") == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
