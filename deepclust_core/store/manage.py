"""Creating, stopping, deleting runs and pruning old uploads in a runs folder."""
from __future__ import annotations

import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from .. import fileio, settings
from ..config import validate_config
from ..errors import DeepClustError, InputError
from . import states
from .layout import PathLike, RunFolder, resolve_run_dir as _resolve, run_dirs, uploads_dir
from .records import Run, load_run

UPLOAD_KEEP_SECONDS = 24 * 3600.0  # an upload no run uses yet is kept this long (it may be about to be used)


def default_runs_dir() -> Path:
    """``$DEEPCLUST_RUNS``, else ``./runs``."""
    return settings.runs_dir()


def new_run_id() -> str:
    """Timestamp (sortable) plus a short random suffix; only [0-9a-z-]."""
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return f"{stamp}-{int(now * 1000) % 1000:03d}-{secrets.token_hex(3)}"


def create_run(runs_dir: PathLike, config: Dict[str, Any]) -> Run:
    """Validate ``config`` and create ``runs_dir/<id>/`` with config.json and status "queued".

    Raises InputError before writing anything when the config is invalid, and DeepClustError (nothing left
    behind) when the folder cannot be written.
    """
    canonical = validate_config(config)
    runs_dir = Path(runs_dir)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        while True:
            folder = RunFolder(runs_dir / new_run_id())
            try:
                folder.path.mkdir()
                break
            except FileExistsError:
                continue
    except OSError as exc:
        raise DeepClustError(f"Cannot create a run in {runs_dir}: {states.one_line(exc)}") from None
    now = time.time()
    try:
        fileio.write_json(folder.config, {**canonical, "created": now})
        states.init_queued(folder.path, now)
    except OSError as exc:  # e.g. disk full: leave no half-created run behind
        shutil.rmtree(folder.path, ignore_errors=True)
        raise DeepClustError(f"Cannot create a run in {runs_dir}: {states.one_line(exc)}") from None
    return load_run(folder.path)


def storage_problem(runs_dir: PathLike) -> Optional[str]:
    """Why new runs cannot be written into ``runs_dir`` (it is not a folder, it is read-only, the disk is full),
    found by writing and removing a small probe file; None when it can be written."""
    runs_dir = Path(runs_dir)
    probe = runs_dir / f".write-probe-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        if not runs_dir.is_dir():
            return f"{runs_dir} is not a folder"
        fileio.write_atomically(probe, lambda stream: stream.write(b"{}" * 2048))
    except OSError as exc:
        return f"the runs folder {runs_dir} cannot be written ({states.one_line(exc)})"
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass
    return None


def request_stop(run_dir: PathLike) -> None:
    """Ask a run to stop: the worker checks the STOP file after every epoch."""
    folder = RunFolder(run_dir)
    if not folder.status.exists():
        raise InputError(f"{folder.path} is not a run folder.")
    try:
        folder.stop_file.write_text(str(time.time()))
    except OSError as exc:
        raise DeepClustError(f"Cannot ask run {folder.id} to stop: {states.one_line(exc)}") from None


def resolve_run_dir(runs_dir: PathLike, run_id: str) -> Path:
    """``runs_dir/run_id`` after checking that the id is a plain run id (no path tricks)."""
    run_dir = _resolve(runs_dir, run_id)
    if run_dir is None:
        raise InputError(f"Invalid run id {str(run_id)[:40]!r}.")
    return run_dir


def delete_run(runs_dir: PathLike, run_id: str) -> None:
    """Delete one run folder; a running run must be stopped first."""
    run_dir = resolve_run_dir(runs_dir, run_id)
    if not run_dir.is_dir():
        raise InputError(f"No run {run_id!r} in {runs_dir}.")
    run = load_run(run_dir)
    if run.state in states.WORKER_STATES:
        raise InputError(f"Run {run_id} is {run.state}; stop it before deleting it.")
    # Renamed out of the list first: when the runs folder cannot be written that fails and nothing is lost
    # (removing file by file would empty the run and then fail on the folder itself).
    doomed = run_dir.with_name(f".deleting-{run_dir.name}-{secrets.token_hex(3)}")
    try:
        os.rename(run_dir, doomed)
    except OSError as exc:
        raise DeepClustError(f"Cannot delete run {run_id}: {states.one_line(exc)} (is the runs folder "
                             "read-only?)") from None
    shutil.rmtree(doomed, ignore_errors=True)


def prune_uploads(runs_dir: PathLike, keep_seconds: float = UPLOAD_KEEP_SECONDS) -> List[str]:
    """Delete uploaded data files that no run uses any more and that are older than `keep_seconds`;
    return their names. A file a run's config points at is never removed, whatever its age, so a queued or
    finished run can always be re-read or repeated; a fresh upload is kept while its user sets up a run."""
    uploads = uploads_dir(runs_dir)
    if not uploads.is_dir():
        return []
    used = set()
    for run_dir in run_dirs(runs_dir):
        try:
            path = (fileio.read_json(RunFolder(run_dir).config).get("dataset_options") or {}).get("path")
        except (OSError, ValueError, AttributeError):
            continue  # a broken run keeps nothing alive, and stops nothing from being pruned
        if path:
            used.add(Path(path).expanduser().resolve())
    removed, now = [], time.time()
    for item in uploads.iterdir():
        try:
            if not item.is_file() or item.resolve() in used or now - item.stat().st_mtime < keep_seconds:
                continue
            item.unlink()
        except OSError:
            continue  # gone already, or not ours to delete: the next prune tries again
        removed.append(item.name)
    return removed
