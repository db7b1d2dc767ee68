"""Runs on a Ray cluster: one Ray task per run, with the run's resources (CPUs, a GPU or a fraction of one);
Ray places and queues the tasks, nothing here schedules machines.

One *driver* per batch of runs (a sweep, a comparison, the app's submission) connects to the cluster, submits
the tasks and writes what each streams back (:mod:`.remote`: new epochs, snapshots, artifacts, the end state)
into the run's folder on this machine; the driver's pid is the run's ``pid``, so a driver that dies leaves its
runs ``failed`` like a dead local worker. The CLI's ``sweep`` drives in its own process; the app starts a
detached driver process (``python -m deepclust_core.executors.raycluster``) so runs outlive the page.

Stop: ``jobs.stop`` writes the run's STOP file, the driver relays it (with PAUSE / STEP) to the task through
Ray's key-value store and the task's recorder ends the run as "stopped" with its partial results; a task that
has not started is cancelled, one that ignores STOP for ``stop_grace`` seconds is force-cancelled.
Faults: a Ray worker that dies fails its own run with the reason, the others go on; an unreachable cluster is
an InputError before anything is queued (and a driver that cannot connect fails its runs with the reason).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .. import fileio, store
from ..errors import InputError
from ..store import states
from ..store.layout import PathLike, RunFolder
from . import remote
from .base import Executor, OnEnd, check_reachable, schedule_lock, spawn_detached

POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 30.0
DRIVER_LOG = ".ray-driver.log"  # in the runs folder (a dot name is never taken for a run)


def import_ray():
    """The ``ray`` module, or a clear InputError when the optional extra is not installed."""
    try:
        import ray
    except ImportError:
        raise InputError("Ray is not installed: `pip install 'deepclust[ray]'`, or leave the cluster address "
                         "empty to train on this machine's queue.") from None
    return ray


CONTROL_NAMESPACE = "deepclust-controls"


def _control_key(run_id: str) -> str:
    return f"run/{run_id}"


def _read_controls(run_id: str) -> Dict[str, str]:
    """The control files the driver relayed for ``run_id`` (Ray's key-value store in its GCS). A task must not
    wait on an object (``ray.get``) for this: Ray lends a blocked task's CPU to another task, which would run
    more tasks at once than the cluster has CPUs."""
    from ray.experimental.internal_kv import _internal_kv_get

    raw = _internal_kv_get(_control_key(run_id), namespace=CONTROL_NAMESPACE)
    return json.loads(raw) if raw else {}


def train_task(config: Dict[str, Any], run_id: str, threads: int):
    """The Ray task (a streaming generator): :func:`.remote.stream_run`, its control files read from Ray's
    key-value store, where the driver writes them."""
    yield from remote.stream_run(config, controls=lambda: _read_controls(run_id), threads=threads)


class RayExecutor(Executor):
    """Ray at ``address`` with ``cpus_per_run`` CPUs (default 1) and ``gpus_per_run`` GPUs (default 0; a
    fraction shares one GPU) for each run."""

    name = "ray"

    def __init__(self, address: str, cpus_per_run: Optional[float] = None, gpus_per_run: Optional[float] = None,
                 stop_grace: float = STOP_GRACE_SECONDS):
        self.address = address
        self.cpus = 1.0 if cpus_per_run is None else float(cpus_per_run)
        self.gpus = 0.0 if gpus_per_run is None else float(gpus_per_run)
        self.stop_grace = stop_grace
        if self.cpus <= 0 or self.gpus < 0:
            raise InputError(f"A run needs more than 0 CPUs and at least 0 GPUs; got {self.cpus} and {self.gpus}.")

    def describe(self) -> str:
        gpus = f", {self.gpus:g} GPU" if self.gpus else ""
        return f"Ray cluster at {self.address} ({self.cpus:g} CPU{gpus} per run)"

    def check(self) -> None:
        import_ray()
        check_reachable(self.address)

    def claim(self, run_dirs: Sequence[Path]) -> None:
        """queued -> running (executor "ray") under the queue's lock, so the local queue never starts them."""
        if not run_dirs:
            return
        with schedule_lock(Path(run_dirs[0]).parent):
            for path in run_dirs:
                if states.mark_scheduled(path):
                    states.update(path, executor="ray", address=self.address)

    def start(self, runs_dir: PathLike, run_dirs: Sequence[Path]) -> None:
        """Hand the runs to a detached driver process (the app: the runs outlive the page and the server)."""
        run_dirs = [Path(path) for path in run_dirs]
        self.claim(run_dirs)
        try:
            child = spawn_detached(
                ["-m", "deepclust_core.executors.raycluster", "--address", self.address, "--cpus", str(self.cpus),
                 "--gpus", str(self.gpus), *[str(path.resolve()) for path in run_dirs]], Path(runs_dir) / DRIVER_LOG)
        except OSError as exc:
            for path in run_dirs:
                states.mark_ended(path, "failed", f"could not start the Ray driver: {exc}")
            return
        for path in run_dirs:
            states.record_worker(path, child.pid)

    def run(self, runs_dir: PathLike, run_dirs: Sequence[Path], on_end: OnEnd = None) -> List[store.Run]:
        """Drive the runs from this process until each has ended (the CLI's sweep)."""
        run_dirs = [Path(path) for path in run_dirs]
        self.claim(run_dirs)
        for path in run_dirs:
            states.record_worker(path, os.getpid())
        Driver(self).drive(run_dirs, on_end)
        return [store.load_run(path) for path in run_dirs]


class _Task:
    def __init__(self, path: Path, generator, submitted: float):
        self.path, self.generator, self.submitted = path, generator, submitted
        self.started = False
        self.first_epoch = False
        self.sent: Dict[str, str] = {}
        self.stop_seen: Optional[float] = None


class Driver:
    """Submits one task per run and writes their streams into the run folders (see the module docstring)."""

    def __init__(self, executor: RayExecutor):
        self.executor = executor
        self.ray = import_ray()

    def connect(self, run_dirs: Sequence[Path]) -> None:
        ray = self.ray
        try:
            check_reachable(self.executor.address)
            if not ray.is_initialized():
                ray.init(address=self.executor.address, log_to_driver=False, logging_level="ERROR")
        except Exception as exc:
            reason = f"cannot reach the Ray cluster at {self.executor.address}: {states.one_line(exc)}"
            for path in run_dirs:
                states.mark_ended(path, "failed", reason)
            raise InputError(reason) from None

    def drive(self, run_dirs: Sequence[Path], on_end: OnEnd = None) -> None:
        self.connect(run_dirs)
        ray = self.ray
        task = ray.remote(train_task)
        resources = {"num_cpus": self.executor.cpus, "num_gpus": self.executor.gpus, "max_retries": 0}
        threads = max(1, int(self.executor.cpus))
        tasks: Dict[Any, _Task] = {}
        for path in run_dirs:
            if not store.load_run(path).active:
                continue  # stopped before the driver got to it
            config = fileio.read_json(RunFolder(path).config)
            now = time.time()
            states.update(path, submitted=now)
            generator = task.options(name=f"deepclust-run-{path.name}", **resources).remote(config, path.name, threads)
            tasks[generator] = _Task(path, generator, now)
        try:
            while tasks:
                ready, _ = ray.wait(list(tasks), num_returns=1, timeout=POLL_SECONDS)
                if ready:
                    ready, _ = ray.wait(list(tasks), num_returns=len(tasks), timeout=0)
                for generator in ready:
                    self._advance(tasks, tasks[generator], on_end)
                for item in list(tasks.values()):
                    self._relay_controls(tasks, item, on_end)
        except BaseException as exc:  # Ctrl-C, SIGTERM, or a driver bug: the runs must not stay "running"
            for item in tasks.values():
                ray.cancel(item.generator, force=False)
                states.mark_ended(item.path, "stopped" if isinstance(exc, KeyboardInterrupt) else "failed",
                                  f"the Ray driver ended: {states.one_line(exc)}")
            raise

    def _end(self, tasks: Dict, item: _Task, state: str, reason: Optional[str], on_end: OnEnd) -> None:
        from ray.experimental.internal_kv import _internal_kv_del

        tasks.pop(item.generator, None)
        if item.sent:
            _internal_kv_del(_control_key(item.path.name), namespace=CONTROL_NAMESPACE)
        states.mark_ended(item.path, state, reason)
        if on_end is not None:
            on_end(store.load_run(item.path))

    def _advance(self, tasks: Dict, item: _Task, on_end: OnEnd) -> None:
        ray = self.ray
        try:
            event = ray.get(next(item.generator))
        except StopIteration:
            self._end(tasks, item, "failed", "the Ray task ended without a result", on_end)
            return
        except ray.exceptions.TaskCancelledError:
            self._end(tasks, item, "stopped", "stopped (Ray task cancelled)", on_end)
            return
        except ray.exceptions.RayError as exc:
            self._log(item.path, f"Ray task failed: {exc}")
            self._end(tasks, item, "failed", f"Ray worker failed: {_short(exc)}", on_end)
            return
        kind = event.get("kind")
        if kind == "started":
            item.started = True
            states.update(item.path, remote_started=event["time"], remote_pid=event["pid"],
                          remote_host=event["host"])
            self._log(item.path, f"Training on the Ray cluster at {self.executor.address}: worker process "
                                 f"{event['pid']} on {event['host']}.")
            return
        remote.apply_changes(item.path, event)
        if not item.first_epoch and "metrics.jsonl" in (event.get("append") or {}):
            item.first_epoch = True
            states.update(item.path, first_epoch=time.time())
        progress = event.get("progress")
        if isinstance(progress, dict) and {"phase", "epoch", "n_epochs"} <= set(progress):
            states.set_progress(item.path, progress["phase"], progress["epoch"], progress["n_epochs"])
        if kind == "ended":
            self._end(tasks, item, event["state"], event.get("reason"), on_end)

    def _relay_controls(self, tasks: Dict, item: _Task, on_end: OnEnd) -> None:
        from ray.experimental.internal_kv import _internal_kv_put

        files = remote.control_files(item.path)
        if files != item.sent:
            _internal_kv_put(_control_key(item.path.name), json.dumps(files), overwrite=True,
                             namespace=CONTROL_NAMESPACE)
            item.sent = files
        if "STOP" not in files:
            return
        if item.stop_seen is None:
            item.stop_seen = time.monotonic()
        if not item.started:
            self.ray.cancel(item.generator, force=False)
            self._end(tasks, item, "stopped", "stopped before it started", on_end)
        elif time.monotonic() - item.stop_seen > self.executor.stop_grace:
            self.ray.cancel(item.generator, force=True)
            self._end(tasks, item, "stopped", "stopped (Ray task cancelled after the grace period)", on_end)

    @staticmethod
    def _log(path: Path, text: str) -> None:
        from ..store.execute import append_log

        append_log(path, text)


def _short(exc: BaseException) -> str:
    """The first meaningful line of a Ray error (they run over many lines)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    head = type(exc).__name__
    return f"{head}: {lines[0][:300]}" if lines else head


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deepclust_core.executors.raycluster",
                                     description="Drive runs on a Ray cluster (what the app starts).")
    parser.add_argument("--address", required=True)
    parser.add_argument("--cpus", type=float, default=1.0)
    parser.add_argument("--gpus", type=float, default=0.0)
    parser.add_argument("run_dirs", nargs="+")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    executor = RayExecutor(args.address, cpus_per_run=args.cpus, gpus_per_run=args.gpus)
    run_dirs = [Path(path) for path in args.run_dirs]
    try:
        Driver(executor).drive(run_dirs)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
