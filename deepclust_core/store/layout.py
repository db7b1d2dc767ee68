"""The run folder's layout: the only code that names the files inside ``runs/<id>/``.

Every file is written atomically (a temporary file, then ``os.replace``); ``metrics.jsonl`` is append-only and
readers skip a half-written last line.

====================================  ====================================================================
file                                  what it holds
====================================  ====================================================================
``config.json``                       dataset, dataset_options, method, params (complete and typed), label, group
``status.json``                       state, pid, times, progress, reason (written by :mod:`.states` only)
``data.json``                         what the views need to know of the data: kind, shapes, image_shape
``metrics.jsonl``                     one JSON object per epoch: phase, epoch, n_epochs, time, loss terms, scores
``snapshots/epoch_XXXX.npz``          latent means of a fixed subsample (<= 10k points), predicted labels, GMM
``labels.npz``                        final labels (and the true ones when known, and the start's)
``result.json``                       acc, nmi, ari, seconds, warnings, method, dataset, diagnostics
``gmm.npz``                           means / variances / weights of a learned Gaussian-mixture prior
``traversals.npz``                    decoded latent traversals (paper Fig. 2), precomputed at the end
``graph.npz``, ``inputs.npz``         the neighbour graph and the data itself, for 2-D data
``samples.npz``                       generated samples per cluster (GANs) / per facet state (latent tree)
``log.txt``                           the worker's output and full tracebacks
``STOP``                              present when a stop was requested
``PAUSE``, ``STEP``                   pause between epochs while PAUSE exists; STEP: train one more epoch
``cache/<method>_epoch_XXXX.npz``     derived views (t-SNE / UMAP embeddings) computed by the app
====================================  ====================================================================
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Union

PathLike = Union[str, os.PathLike]

ARTIFACTS = ("labels", "gmm", "traversals", "graph", "inputs", "samples")
UPLOADS_FOLDER = ".uploads"  # inside the runs folder; a dot name is never taken for a run
LOCK_NAME = ".schedule.lock"  # inside the runs folder: the queue's lock
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
_SNAPSHOT = re.compile(r"^epoch_(\d+)\.npz$")


@dataclass(frozen=True)
class RunFolder:
    """Paths of one run folder's files (nothing is read or written here)."""

    path: Path

    def __init__(self, path: PathLike):
        object.__setattr__(self, "path", Path(path))

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def runs_dir(self) -> Path:
        return self.path.parent

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def status(self) -> Path:
        return self.path / "status.json"

    @property
    def data(self) -> Path:
        return self.path / "data.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def result(self) -> Path:
        return self.path / "result.json"

    @property
    def log(self) -> Path:
        return self.path / "log.txt"

    @property
    def stop_file(self) -> Path:
        return self.path / "STOP"

    @property
    def pause_file(self) -> Path:
        return self.path / "PAUSE"

    @property
    def step_file(self) -> Path:
        return self.path / "STEP"

    @property
    def snapshots_dir(self) -> Path:
        return self.path / "snapshots"

    @property
    def cache_dir(self) -> Path:
        return self.path / "cache"

    def snapshot(self, epoch: int) -> Path:
        return self.snapshots_dir / f"epoch_{int(epoch):04d}.npz"

    def snapshot_epochs(self) -> List[int]:
        """Epochs that have a snapshot file, ascending."""
        try:
            names = [p.name for p in self.snapshots_dir.iterdir()]
        except OSError:
            return []
        return sorted(int(m.group(1)) for m in map(_SNAPSHOT.match, names) if m)

    def artifact(self, name: str) -> Path:
        if name not in ARTIFACTS:
            raise ValueError(f"Unknown run artifact {name!r}; known: {', '.join(ARTIFACTS)}.")
        return self.path / f"{name}.npz"

    def embedding_cache(self, method: str, epoch: int) -> Path:
        if not re.fullmatch(r"[a-z0-9]+", method):
            raise ValueError(f"Invalid embedding method {method!r}.")
        return self.cache_dir / f"{method}_epoch_{int(epoch):04d}.npz"


def uploads_dir(runs_dir: PathLike) -> Path:
    """Where the app keeps uploaded data files, inside the runs folder."""
    return Path(runs_dir) / UPLOADS_FOLDER


def lock_file(runs_dir: PathLike) -> Path:
    return Path(runs_dir) / LOCK_NAME


def run_dirs(runs_dir: PathLike) -> List[Path]:
    """The run folders: real directories with a run id's name (a symlink could lead out of the runs folder)."""
    try:
        return [p for p in Path(runs_dir).iterdir() if RUN_ID.match(p.name) and p.is_dir() and not p.is_symlink()]
    except OSError:
        return []


def is_run_id(text: object) -> bool:
    return isinstance(text, str) and RUN_ID.match(text) is not None


def resolve_run_dir(runs_dir: PathLike, run_id: str) -> Optional[Path]:
    """``runs_dir/run_id`` when ``run_id`` is a plain run id (no path tricks), else None."""
    if not is_run_id(run_id):
        return None
    root = Path(runs_dir).resolve()
    run_dir = (root / run_id).resolve()
    return run_dir if run_dir.parent == root else None
