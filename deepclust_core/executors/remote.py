"""What a run does on a remote machine (a Ray worker): train it in a scratch run folder there, and stream
back, every fraction of a second, what that folder gained. The driver on the user's machine writes each change
into the run's real folder, which stays the only source of truth; nothing needs a shared filesystem.

    for event in stream_run(config, controls=lambda: {"STOP": "..."}):   # a generator, one dict per event
        ...   # {"kind": "started", pid, host}, {"kind": "files", append, replace, progress}, {"kind": "ended", ...}

The scratch folder is written by the same code as a local run (:func:`deepclust_core.store.execute_run`, its
recorder and final artifacts), so a remote run's folder holds exactly what a local one does. Control files
(STOP, and PAUSE / STEP where the teaching lab uses them) go the other way: ``controls()`` returns the ones the
driver sees in the real folder, and they are mirrored into the scratch folder, where the recorder honours them.
No Ray import here: this module is tested and usable without a cluster.
"""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Mapping, Optional

from .. import fileio, store
from ..store import states
from ..store.layout import PathLike

POLL_SECONDS = 0.5
APPENDED = ("metrics.jsonl", "log.txt")  # append-only files: only their new complete lines travel
NOT_MIRRORED = ("status.json", "config.json")  # the driver keeps these itself (states, the canonical config)
CONTROL_FILES = ("STOP", "PAUSE", "STEP")
STOP_PATIENCE = 60.0  # seconds a cancelled stream waits for its training thread to honour STOP


class FolderMirror:
    """The changes of a run folder since the last call: new complete lines of the append-only files, and the
    other files (snapshots, artifacts, result.json, data.json) whose size or modification time changed."""

    def __init__(self, path: PathLike):
        self.path = Path(path)
        self.offsets: Dict[str, int] = {}
        self.seen: Dict[str, tuple] = {}

    def changes(self) -> Dict[str, Dict[str, bytes]]:
        appended, replaced = {}, {}
        for file in sorted(self.path.rglob("*")):
            relative = file.relative_to(self.path).as_posix()
            if (not file.is_file() or any(part.startswith(".") for part in relative.split("/"))
                    or relative in NOT_MIRRORED or relative in CONTROL_FILES or relative.startswith("cache/")):
                continue
            try:
                if relative in APPENDED:
                    with open(file, "rb") as stream:
                        stream.seek(self.offsets.get(relative, 0))
                        data = stream.read()
                    data = data[:data.rfind(b"\n") + 1]  # a half-written last line waits for the next call
                    if data:
                        appended[relative] = data
                        self.offsets[relative] = self.offsets.get(relative, 0) + len(data)
                    continue
                stat = file.stat()
                key = (stat.st_mtime_ns, stat.st_size)
                if self.seen.get(relative) != key:
                    replaced[relative] = file.read_bytes()  # files are replaced atomically: old or new, never half
                    self.seen[relative] = key
            except OSError:
                continue  # replaced or removed while read: the next call sends it
        return {"append": appended, "replace": replaced}


def apply_changes(run_dir: PathLike, change: Mapping[str, Mapping[str, bytes]]) -> None:
    """Write a :class:`FolderMirror` change into ``run_dir`` (what the driver does with each event)."""
    root = Path(run_dir).resolve()
    for kind in ("append", "replace"):
        for relative, data in (change.get(kind) or {}).items():
            target = (root / relative).resolve()
            if root not in target.parents or relative in NOT_MIRRORED or relative in CONTROL_FILES:
                continue  # never outside the run folder, never the driver's own files
            target.parent.mkdir(parents=True, exist_ok=True)
            if kind == "append":
                with open(target, "ab") as stream:
                    stream.write(data)
            else:
                fileio.write_atomically(target, lambda stream, data=data: stream.write(data))


def control_files(run_dir: PathLike) -> Dict[str, str]:
    """The control files present in ``run_dir`` and their text."""
    found = {}
    for name in CONTROL_FILES:
        try:
            found[name] = (Path(run_dir) / name).read_text()
        except OSError:
            continue
    return found


def _mirror_controls(run_dir: Path, wanted: Mapping[str, str]) -> None:
    for name in CONTROL_FILES:
        path = run_dir / name
        if name in wanted:
            if not path.exists() or path.read_text() != wanted[name]:
                fileio.write_atomically(path, lambda stream, text=wanted[name]: stream.write(text.encode()))
        elif path.exists():
            path.unlink(missing_ok=True)


def stream_run(config: Dict[str, Any], controls: Callable[[], Mapping[str, str]] = dict,
               threads: Optional[int] = None, poll: float = POLL_SECONDS) -> Iterator[Dict[str, Any]]:
    """Train ``config`` in a scratch run folder here and yield its changes (see the module docstring); the
    last event is ``{"kind": "ended", "state", "reason", append, replace}``. The scratch folder is removed."""
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    scratch = Path(tempfile.mkdtemp(prefix="deepclust-remote-"))
    thread = None
    folder = None
    try:
        config = {key: value for key, value in config.items() if key != "created"}
        folder = store.create_run(scratch, config).folder
        _mirror_controls(folder.path, controls())
        yield {"kind": "started", "pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}
        crash: Dict[str, str] = {}

        def train() -> None:
            try:
                store.execute_run(folder.path)
            except BaseException as exc:  # execute_run records training errors itself; this is anything else
                crash["reason"] = states.one_line(exc)

        thread = threading.Thread(target=train, name="deepclust-remote-run", daemon=True)
        thread.start()
        mirror = FolderMirror(folder.path)
        while thread.is_alive():
            thread.join(poll)
            _mirror_controls(folder.path, controls())
            change = mirror.changes()
            progress = states.read_status(folder.path).get("progress")
            if change["append"] or change["replace"]:
                yield {"kind": "files", "progress": progress, **change}
        status = states.read_status(folder.path)
        state, reason = status.get("state"), status.get("reason")
        if crash or state not in states.ENDED_STATES:
            state, reason = "failed", crash.get("reason") or f"the remote run ended as {state!r}"
        yield {"kind": "ended", "state": state, "reason": reason, "time": time.time(), **mirror.changes()}
    finally:
        if thread is not None and thread.is_alive():  # cancelled: let the training thread end before cleaning up
            (folder.path / "STOP").write_text("cancelled")
            thread.join(STOP_PATIENCE)
        shutil.rmtree(scratch, ignore_errors=True)
