"""Training jobs: every run is its own OS process, started from a small on-disk queue.

    run_id = submit("runs", config)      # creates runs/<id>/ (queued) and starts it if a slot is free
    stop("runs/<id>")                    # STOP file; SIGTERM to the worker's process group after a grace

A worker is ``python -m deepclust_core.jobs run RUN_DIR``, started with ``subprocess.Popen`` in a
new session (so closing the app or its tab does not end it) with its output in the run's log.txt.
At most ``$DEEPCLUST_MAX_JOBS`` (default 1) runs train at once; :func:`schedule` starts queued runs
oldest first under an ``fcntl`` lock so two app sessions cannot over-start, and every worker calls
it again when it ends, so the queue drains without the app. The disk is the truth: after a crash or
a server restart, :func:`startup` (reconcile + schedule) repairs the state.
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

from . import runs
from .errors import InputError

MAX_JOBS_ENV = "DEEPCLUST_MAX_JOBS"
DEFAULT_MAX_JOBS = 1
STOP_GRACE_SECONDS = 15.0
_LOCK_NAME = ".schedule.lock"
_children: List[subprocess.Popen] = []  # workers this process started, polled so none stays a zombie
_children_lock = threading.Lock()  # the app calls in from one thread per session


def max_jobs() -> int:
    """``$DEEPCLUST_MAX_JOBS`` (>= 1), else 1."""
    raw = os.environ.get(MAX_JOBS_ENV, "").strip()
    try:
        return max(1, int(raw)) if raw else DEFAULT_MAX_JOBS
    except ValueError:
        raise InputError(f"{MAX_JOBS_ENV} must be a whole number; got {raw!r}.") from None


@contextlib.contextmanager
def _schedule_lock(runs_dir: Path) -> Iterator[None]:
    runs_dir.mkdir(parents=True, exist_ok=True)
    with open(runs_dir / _LOCK_NAME, "a") as handle:
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
    with open(run_dir / "log.txt", "ab") as log:
        # Same working directory as the caller, so relative data paths in a config mean the same thing.
        child = subprocess.Popen([sys.executable, "-m", "deepclust_core.jobs", "run", str(run_dir.resolve())],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True, env=_worker_env())
    return _adopt(child)


def schedule(runs_dir: runs.PathLike) -> List[str]:
    """Start queued runs, oldest first, while fewer than :func:`max_jobs` are running; return their ids."""
    runs_dir = Path(runs_dir)
    _reap_children()
    started = []
    with _schedule_lock(runs_dir):
        runs.reconcile(runs_dir)
        all_runs = runs.list_runs(runs_dir)
        running = sum(run["state"] == "running" for run in all_runs)
        queued = sorted((run for run in all_runs if run["state"] == "queued"),
                        key=lambda run: (run["created"] or 0, run["id"]))
        for run in queued[:max(0, max_jobs() - running)]:
            run_dir = Path(run["path"])
            # Marked running before the worker exists, under the lock, so the next schedule() counts it;
            # only the pid is added afterwards (the worker may already have moved the state on).
            runs.update_status(run_dir, state="running", pid=None, scheduled=time.time())
            try:
                child = _start_worker(run_dir)
            except OSError as exc:
                runs.update_status(run_dir, state="failed", reason=f"could not start the worker: {exc}",
                                   finished=time.time())
                continue
            runs.update_status(run_dir, pid=child.pid, pid_start=runs.process_start_time(child.pid))
            started.append(run["id"])
    return started


def submit(runs_dir: runs.PathLike, config: Dict) -> str:
    """Create a queued run (InputError for a bad config, nothing written) and schedule; return its id."""
    run_dir = runs.create_run(runs_dir, config)
    schedule(runs_dir)
    return run_dir.name


def stop(run_dir: runs.PathLike, grace: float = STOP_GRACE_SECONDS, wait: bool = False) -> str:
    """Stop a run; return its state afterwards ("stopped" at once for a queued run).

    A running worker sees the STOP file after its current epoch and ends as "stopped" keeping partial
    results. If it is still running ``grace`` seconds later its process group gets SIGTERM (which the
    worker also records as "stopped"). With ``wait`` False (the app) that deadline is kept by a small
    detached watchdog process, so the caller returns immediately.
    """
    run_dir = Path(run_dir)
    with _schedule_lock(run_dir.parent):  # no queued -> running transition can happen meanwhile
        run = runs.load_run(run_dir)
        if run["state"] == "queued":
            runs.request_stop(run_dir)  # in case a worker was about to pick it up anyway
            runs.update_status(run_dir, state="stopped", reason="stopped before it started", finished=time.time())
            return "stopped"
        if run["state"] != "running":
            return run["state"]
        runs.request_stop(run_dir)
    if wait:
        return _terminate_after(run_dir, grace)
    _reap_children()
    _adopt(subprocess.Popen(
        [sys.executable, "-m", "deepclust_core.jobs", "stop", str(run_dir.resolve()), "--grace", str(grace)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env=_worker_env()))
    return "running"


def _terminate_after(run_dir: Path, grace: float) -> str:
    """Wait up to ``grace`` seconds for the run to end, then SIGTERM (and later SIGKILL) its group."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap_children()
        run = runs.load_run(run_dir)
        if run["state"] != "running":
            return run["state"]
        time.sleep(0.2)
    status = runs.load_run(run_dir)["status"]
    pid = status.get("pid")
    for sig, patience in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 2.0)):
        if not runs.pid_alive(pid, status.get("pid_start")):
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        end = time.monotonic() + patience
        while time.monotonic() < end and runs.pid_alive(pid, status.get("pid_start")):
            _reap_children()
            time.sleep(0.1)
    run = runs.load_run(run_dir)
    if run["state"] == "running" and not runs.pid_alive(pid, status.get("pid_start")):
        # Killed before it could record anything (e.g. still importing): it was stopped, not crashed.
        runs.update_status(run_dir, state="stopped", reason="stopped (worker terminated)", finished=time.time())
    return runs.load_run(run_dir)["state"]


def startup(runs_dir: runs.PathLike) -> List[str]:
    """What the app does when it starts: mark dead workers failed (under the lock), start what is queued,
    and drop old uploads that no run uses."""
    started = schedule(runs_dir)
    runs.prune_uploads(runs_dir)
    return started


def _interrupt(signum, frame):  # SIGTERM -> KeyboardInterrupt, which execute_run records as "stopped"
    raise KeyboardInterrupt(f"signal {signum}")


def _limit_threads() -> None:
    """Share the CPU between the runs allowed at once (torch would otherwise take every core each)."""
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max_jobs()))


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
        _limit_threads()
        result = runs.execute_run(run_dir)
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
