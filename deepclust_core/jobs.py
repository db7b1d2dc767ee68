"""Training jobs: queued runs handed to an executor, the local queue's worker processes, stop, and the app's
supervisor thread. Processes only: what a run folder holds and how its state changes is
:mod:`deepclust_core.store`'s business; where a run trains is the executor seam's
(:mod:`deepclust_core.executors`).

    run_id = submit("runs", config)                       # local queue: starts it if a slot is free
    run_ids = submit_many("runs", configs, address=ADDR)  # all or nothing; on the Ray cluster at ADDR
    stop("runs/<id>")                                     # STOP file; SIGTERM / Ray cancel after a grace

By default a run trains on this machine: a worker process ``python -m deepclust_core.jobs run RUN_DIR``, at most
``$DEEPCLUST_MAX_JOBS`` at once (:mod:`deepclust_core.executors.local`). When a Ray address is configured
(argument, ``$DEEPCLUST_RAY_ADDRESS`` / ``$RAY_ADDRESS``, the app's setting) the runs go to that cluster instead,
through one detached driver process that writes what the remote tasks stream back into the run folders
(:mod:`deepclust_core.executors.raycluster`). The disk is the truth: after a crash or a server restart,
:func:`startup` (reconcile + schedule) repairs the state, and the app's :class:`Supervisor` thread keeps doing
so. Reading a run never starts or schedules anything.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from . import settings, store
from .config import validate_config
from .errors import InputError
from .executors import get_executor, local
from .executors.local import STOP_GRACE_SECONDS, _children, schedule  # noqa: F401  (public names of jobs)
from .executors.local import reap_children as _reap_children  # noqa: F401
from .store import states
from .store.layout import PathLike

SUPERVISE_SECONDS = 5.0
_children_lock = threading.Lock()


def max_jobs() -> int:
    """``$DEEPCLUST_MAX_JOBS`` (>= 1), else 1."""
    return settings.max_jobs()


def submit(runs_dir: PathLike, config: Dict, address: Optional[str] = None) -> str:
    """Create a queued run (InputError for a bad config, nothing written) and hand it to the executor (the
    local queue, or the Ray cluster at ``address`` / the configured one); return its id."""
    return submit_many(runs_dir, [config], address=address)[0]


def submit_many(runs_dir: PathLike, configs: Sequence[Dict], address: Optional[str] = None,
                cpus_per_run: Optional[float] = None, gpus_per_run: Optional[float] = None) -> List[str]:
    """Create several runs all or nothing (every config is validated, and a Ray cluster's address checked,
    before any run is written) and hand them to one executor; return their ids."""
    max_jobs()  # a bad $DEEPCLUST_MAX_JOBS is reported before a run is queued
    executor = get_executor(address, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run)
    for config in configs:
        validate_config(config)
    executor.check()
    runs = [store.create_run(runs_dir, config) for config in configs]
    executor.start(runs_dir, [run.path for run in runs])
    return [run.id for run in runs]


def stop(run_dir: PathLike, grace: float = STOP_GRACE_SECONDS, wait: bool = False) -> str:
    """Stop a run; return its state afterwards ("stopped" at once for a queued run). See
    :func:`deepclust_core.executors.local.stop`: a local worker gets SIGTERM after ``grace`` seconds, a run on a
    Ray cluster is stopped by its driver."""
    return local.stop(run_dir, grace=grace, wait=wait)


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
