"""A run's states and their transitions: the only writer of ``status.json``.

::

    queued ──schedule──▶ running ──▶ finished
       │                 ▲  │ ├──────▶ failed    (an error, a divergence, a worker that died)
       │           resume│  │pause     (paused keeps its worker and model; it can also fail, stop or finish)
       │                 └ paused
       └──────stop────────▶ stopped ◀── stop   (partial results are kept)

``broken`` is never written: a reader reports it for a folder whose config or status cannot be read. A state
that has ended never changes again (a late write from a dying worker is ignored). A reader never writes:
:func:`effective_state` reports a ``running`` run whose worker is gone as ``failed`` without touching the disk,
and :func:`reconcile_run` (called by the queue) records it.
"""
from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from .. import fileio
from ..errors import DeepClustError
from .layout import PathLike, RunFolder

STATES = ("queued", "running", "paused", "finished", "failed", "stopped", "broken")
ACTIVE_STATES = ("queued", "running", "paused")
WORKER_STATES = ("running", "paused")  # states whose worker process must be alive
ENDED_STATES = ("finished", "failed", "stopped")
TRANSITIONS = {"queued": ("running", "stopped", "failed"),
               "running": ("running", "paused", "finished", "failed", "stopped"),
               "paused": ("running", "paused", "finished", "failed", "stopped")}
STARTING_SECONDS = 30.0  # a run marked running whose worker pid is not recorded yet
DIED = "worker process died"
LOG_TAIL_CHARS = 300
STATUS_RESERVE = 1024  # bytes every status.json takes, so that an end can be recorded in place on a full disk


def one_line(exc: BaseException) -> str:
    """A clear one-line reason: the message of our own errors, 'Type: message' for anything else."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, DeepClustError):
        return text
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full ({text})"
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"read-only or not writable ({text})"
    return f"{type(exc).__name__}: {text}"


def read_status(run_dir: PathLike) -> Dict[str, Any]:
    return fileio.read_json(RunFolder(run_dir).status)


def _write(run_dir: PathLike, status: Dict[str, Any], changes: Dict[str, Any]) -> Dict[str, Any]:
    status = {**status, **changes, "updated": time.time()}
    try:
        _write_status(run_dir, status)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not _write_in_place(run_dir, status):
            raise
    return status


def _write_status(run_dir: PathLike, status: Dict[str, Any]) -> None:
    """status.json, atomically, padded to :data:`STATUS_RESERVE` bytes: the room an end state and its reason
    need to be written in place on a full disk."""
    fileio.write_json(RunFolder(run_dir).status, status, reserve=STATUS_RESERVE)


def _write_in_place(run_dir: PathLike, status: Dict[str, Any]) -> bool:
    """On a full disk, overwrite status.json in place: the new JSON, padded with spaces to the old length,
    needs no new disk blocks. Only for a state change that must not be lost (an end, with its reason): only
    the state, its reason (shortened if need be) and its times are kept. True when it was written."""
    if status.get("state") not in ENDED_STATES:
        return False
    path = RunFolder(run_dir).status
    try:
        with open(path, "r+b") as stream:
            size = os.fstat(stream.fileno()).st_size
            slim = {key: status[key] for key in ("state", "created", "started", "finished") if key in status}
            for limit in (LOG_TAIL_CHARS * 2, LOG_TAIL_CHARS, 60):
                reason = str(status.get("reason") or "")
                text = json.dumps(fileio.jsonable({**slim, "reason": reason[:limit] or None}), sort_keys=True)
                data = text.encode()
                if len(data) <= size:
                    stream.write(data + b" " * (size - len(data)))  # trailing spaces are valid JSON
                    stream.flush()
                    os.fsync(stream.fileno())
                    return True
    except OSError:
        pass
    return False


def _current(run_dir: PathLike) -> Dict[str, Any]:
    try:
        status = read_status(run_dir)
        return status if isinstance(status, dict) else {}
    except (OSError, ValueError):
        return {}


def init_queued(run_dir: PathLike, now: float) -> None:
    """The first status of a new run."""
    _write_status(run_dir, {"state": "queued", "created": now, "updated": now})


def transition(run_dir: PathLike, state: str, **changes: Any) -> Optional[Dict[str, Any]]:
    """Move the run to ``state`` (merging ``changes``) when the transition is allowed; return the new status,
    or None when the run had already ended or cannot move there (nothing is written then)."""
    status = _current(run_dir)
    current = status.get("state")
    if state not in TRANSITIONS.get(current, ()):
        return None
    return _write(run_dir, status, {"state": state, **changes})


def update(run_dir: PathLike, **changes: Any) -> Optional[Dict[str, Any]]:
    """Merge ``changes`` (progress, pid) into an active run's status; None when it has ended."""
    status = _current(run_dir)
    if status.get("state") not in ACTIVE_STATES:
        return None
    return _write(run_dir, status, changes)


def mark_scheduled(run_dir: PathLike) -> bool:
    """queued -> running, before the worker exists (under the queue's lock, so the next schedule counts it);
    False when the run is no longer queued (stopped or deleted meanwhile)."""
    return transition(run_dir, "running", pid=None, scheduled=time.time()) is not None


def mark_started(run_dir: PathLike, pid: int, started: float) -> None:
    """The worker has started training this run."""
    transition(run_dir, "running", pid=pid, pid_start=process_start_time(pid), started=started, reason=None)


def record_worker(run_dir: PathLike, pid: int) -> None:
    """The scheduler's record of the worker process it started."""
    update(run_dir, pid=pid, pid_start=process_start_time(pid))


def set_progress(run_dir: PathLike, phase: str, epoch: int, n_epochs: int) -> None:
    update(run_dir, progress={"phase": phase, "epoch": epoch, "n_epochs": n_epochs})


def set_paused(run_dir: PathLike, paused: bool) -> None:
    """running <-> paused, written by the worker itself when it stops between epochs or goes on."""
    transition(run_dir, "paused" if paused else "running")


def mark_ended(run_dir: PathLike, state: str, reason: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """running/queued -> finished | failed | stopped, with its reason."""
    if state not in ENDED_STATES:
        raise ValueError(f"{state!r} is not an end state")
    return transition(run_dir, state, reason=reason, finished=time.time())


# ------------------------------------------------------------------------------------------- liveness

def process_start_time(pid: int) -> Optional[int]:
    """Start time of a process in clock ticks since boot (Linux /proc), to tell a reused pid apart."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def pid_alive(pid: Optional[int], start_time: Optional[int] = None) -> bool:
    """Whether ``pid`` is a live (not zombie) process, and the same one when ``start_time`` is known."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False
    except (OSError, IndexError):
        return True  # no /proc (macOS): trust os.kill
    return start_time is None or process_start_time(pid) in (None, start_time)


def worker_gone(status: Dict[str, Any]) -> bool:
    """A "running" or "paused" status whose worker no longer exists (and is not just starting)."""
    if status.get("state") not in WORKER_STATES:
        return False
    scheduled = status.get("scheduled") if isinstance(status.get("scheduled"), (int, float)) else 0
    if status.get("pid") is None and time.time() - scheduled < STARTING_SECONDS:
        return False
    return not pid_alive(status.get("pid"), status.get("pid_start"))


def death_reason(run_dir: PathLike) -> str:
    """"worker process died", with the last line of its log when there is one (the real cause, e.g. a full
    disk, is often only there)."""
    try:
        with open(RunFolder(run_dir).log, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 4096))
            lines = [line.strip() for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    if not lines:
        return DIED
    last = lines[-1]
    return f"{DIED}; its log ends: {last[:LOG_TAIL_CHARS]}"


def effective_state(run_dir: PathLike, status: Dict[str, Any]) -> Tuple[str, Optional[str]]:
    """(state, reason) as a reader should report them: a dead worker's run is "failed", without writing."""
    reason = None if status.get("reason") is None else str(status["reason"])
    if worker_gone(status):
        return "failed", death_reason(run_dir)
    return status["state"], reason


def reconcile_run(run_dir: PathLike) -> bool:
    """Record a "running" run whose worker is gone as failed; True when it was."""
    status = _current(run_dir)
    if not worker_gone(status):
        return False
    if not worker_gone(_current(run_dir)):
        return False  # the worker recorded its end and exited between the two reads: not a crash
    return transition(run_dir, "failed", reason=death_reason(run_dir), finished=time.time()) is not None
