"""Training jobs: the executor seam, and the local queue where every run is its own OS process started from a
small on-disk queue. Processes only: what a run folder holds and how its state changes is
:mod:`deepclust_core.store`'s business.

    run_id = submit("runs", config)      # creates runs/<id>/ (queued) and starts it if a slot is free
    ids = submit_many("runs", configs, address="HOST:PORT")   # all or nothing, here on a Ray cluster
    stop("runs/<id>")                    # STOP file; SIGTERM to the worker's process group after a grace

Where runs train is :func:`get_executor`'s choice: this module's :class:`LocalQueue` by default, the Ray
executor (:mod:`deepclust_core.executors.raycluster`) when an address is given (argument, the app's setting,
``$DEEPCLUST_RAY_ADDRESS`` or ``$RAY_ADDRESS``). A run on a cluster is marked ``executor: "ray"`` in its status:
the local queue neither starts nor counts it, and its driver (not a SIGTERM) stops it.

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
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from . import settings, store
from .config import validate_config
from .errors import DeepClustError, InputError
from .executors.base import (Executor, OnEnd, is_remote, ray_address, reap_spawned, schedule_lock, wait_for_runs,
                             worker_env)
from .store import states
from .store.layout import PathLike

STOP_GRACE_SECONDS = 15.0
SUPERVISE_SECONDS = 5.0
_children: List[subprocess.Popen] = []  # workers this process started, polled so none stays a zombie
_children_lock = threading.Lock()  # the app calls in from one thread per session


def max_jobs() -> int:
    """``$DEEPCLUST_MAX_JOBS`` (>= 1), else 1."""
    return settings.max_jobs()


_schedule_lock = schedule_lock


def _reap_children() -> None:
    reap_spawned()  # Ray drivers this process started
    with _children_lock:
        _children[:] = [child for child in _children if child.poll() is None]


def _adopt(child: subprocess.Popen) -> subprocess.Popen:
    with _children_lock:
        _children.append(child)
    return child


_worker_env = worker_env


def _start_worker(run_dir: Path) -> subprocess.Popen:
    with open(store.RunFolder(run_dir).log, "ab") as log:
        # Same working directory as the caller, so relative data paths in a config mean the same thing.
        child = subprocess.Popen([sys.executable, "-m", "deepclust_core.jobs", "run", str(run_dir.resolve())],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True, env=_worker_env())
    return _adopt(child)


def schedule(runs_dir: PathLike) -> List[str]:
    """Record dead workers' runs as failed, then start queued runs, oldest first, while fewer than
    :func:`max_jobs` local runs are running (runs on a Ray cluster are neither started nor counted here);
    return the ids started."""
    runs_dir = Path(runs_dir)
    limit = max_jobs()  # a bad $DEEPCLUST_MAX_JOBS fails here, before anything is marked
    _reap_children()
    started = []
    with _schedule_lock(runs_dir):
        store.reconcile(runs_dir)
        all_runs = [run for run in store.list_runs(runs_dir) if not is_remote(run)]
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


def get_executor(address: Optional[str] = None, max_jobs: Optional[int] = None,
                 cpus_per_run: Optional[float] = None, gpus_per_run: Optional[float] = None) -> Executor:
    """The executor seam: the Ray executor when ``address`` (else ``$DEEPCLUST_RAY_ADDRESS`` / ``$RAY_ADDRESS``)
    names a cluster, else this machine's :class:`LocalQueue` (``max_jobs`` at once, else ``$DEEPCLUST_MAX_JOBS``).
    An empty address or "local" forces the local queue whatever the environment says."""
    resolved = ray_address(address)
    if resolved is None:
        return LocalQueue(max_jobs)
    from .executors.raycluster import RayExecutor

    return RayExecutor(resolved, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run)


def submit(runs_dir: PathLike, config: Dict, address: Optional[str] = None) -> str:
    """Create a queued run (InputError for a bad config, nothing written) and hand it to the executor (this
    machine's queue: started if a slot is free; or the Ray cluster at ``address`` / the configured one)."""
    return submit_many(runs_dir, [config], address=address)[0]


def submit_many(runs_dir: PathLike, configs: Sequence[Dict], address: Optional[str] = None,
                cpus_per_run: Optional[float] = None, gpus_per_run: Optional[float] = None) -> List[str]:
    """Create several runs all or nothing (every config validated, and a cluster's address checked, before
    any run is written) and hand them to one executor (one Ray driver for all of them); return their ids."""
    max_jobs()  # a bad $DEEPCLUST_MAX_JOBS is reported before a run is queued
    executor = get_executor(address, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run)
    for config in configs:
        validate_config(config)
    executor.check()
    runs = [store.create_run(runs_dir, config) for config in configs]
    executor.start(runs_dir, [run.path for run in runs])
    return [run.id for run in runs]


def stop(run_dir: PathLike, grace: float = STOP_GRACE_SECONDS, wait: bool = False) -> str:
    """Stop a run; return its state afterwards ("stopped" at once for a queued run).

    A run on a Ray cluster: its driver relays the STOP file to the remote task (and cancels it if it is still
    running after the driver's grace); ``wait`` waits for its end. A running local worker sees the STOP file after its current epoch and ends as "stopped" keeping partial
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
    if is_remote(run):
        return wait_for_runs([run_dir])[0].state if wait else "running"
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


class LocalQueue(Executor):
    """This machine's queue (the default executor). ``max_jobs`` (else ``$DEEPCLUST_MAX_JOBS``) runs train at
    once; giving it sets ``$DEEPCLUST_MAX_JOBS`` for this process and the workers it starts, so the queue keeps
    that limit when a worker starts the next run."""

    name = "local"
    SCHEDULE_EVERY = 2.0  # seconds between two schedule() calls while a caller waits (records dead workers)

    def __init__(self, max_jobs: Optional[int] = None):
        if max_jobs is not None:
            if int(max_jobs) < 1:
                raise InputError(f"The local queue needs at least 1 worker; got {max_jobs}.")
            os.environ[settings.MAX_JOBS_ENV] = str(int(max_jobs))
        self.max_jobs = settings.max_jobs()

    def describe(self) -> str:
        return f"local queue ({self.max_jobs} at once)"

    def start(self, runs_dir: PathLike, run_dirs: Sequence[Path] = ()) -> None:
        schedule(runs_dir)

    def run(self, runs_dir: PathLike, run_dirs: Sequence[Path], on_end: OnEnd = None) -> List[store.Run]:
        last = [time.monotonic()]
        schedule(runs_dir)

        def tick() -> None:  # the workers start the next run themselves; this also records dead ones
            if time.monotonic() - last[0] >= self.SCHEDULE_EVERY:
                last[0] = time.monotonic()
                schedule(runs_dir)

        try:
            return wait_for_runs(run_dirs, on_end, tick)
        except KeyboardInterrupt:  # Ctrl-C on a sweep: its runs stop too (finished ones are kept)
            for path in run_dirs:
                with contextlib.suppress(Exception):
                    stop(path, wait=False)
            raise


def startup(runs_dir: PathLike, supervise: bool = True) -> List[str]:
    """What the app does when it starts: mark dead workers failed (under the lock), start what is queued,
    drop old uploads that no run uses, and (``supervise``) start this process's :class:`Supervisor` of the
    runs folder, once per folder."""
    global startup_error
    started: List[str] = []
    try:  # a read-only or full runs folder must not stop the app: its pages say what still works
        started = schedule(runs_dir)
        startup_error = None
    except (DeepClustError, OSError) as exc:
        startup_error = states.one_line(exc)
    store.prune_uploads(runs_dir)
    if supervise:
        supervisor(runs_dir)
    return started


startup_error: Optional[str] = None  # why the last startup() could not schedule, if it could not


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


def _yield_cpu() -> None:
    """Lower this worker's CPU priority by ``$DEEPCLUST_WORKER_NICE`` (default 10): a run trains on what the
    app's server and the browser leave, so a click while it trains is answered first. On 2 cores, default moons
    DGG run in Chromium, 9 clicks each: click median 0.33 / 0.43 s without, 0.26 / 0.28 s with; the run took the
    same time (36.1 against 35.8 s). Where ``os.nice`` is missing (Windows) nothing changes."""
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            print(f"cpu priority: nice {os.nice(settings.worker_nice())}", flush=True)


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
        _yield_cpu()
        _limit_threads(run_dir)
        result = store.execute_run(run_dir)
    except InputError as exc:
        with contextlib.suppress(OSError):
            print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with contextlib.suppress(Exception):  # the queue must drain even when this run went wrong
            schedule(run_dir.parent)
    with contextlib.suppress(OSError):  # a full disk: log.txt cannot take the line, status.json has the state
        print(f"run {run_dir.name}: {result.get('state')} {result.get('reason') or ''}".rstrip(), flush=True)
    return 1 if result.get("state") == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
