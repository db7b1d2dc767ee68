"""Reading runs: a typed :class:`Run` record per folder, and the per-epoch files. A reader never raises on a
damaged folder (it reports state "broken" with the reason, naming the file) and never writes or starts
anything."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .. import fileio
from . import states
from .layout import ARTIFACTS, PathLike, RunFolder, run_dirs


@dataclass(frozen=True)
class Run:
    """One run as on disk when it was read."""

    id: str
    path: Path
    state: str = "broken"
    reason: Optional[str] = None
    config: Dict[str, Any] = field(default_factory=dict)
    status: Dict[str, Any] = field(default_factory=dict)
    result: Optional[Dict[str, Any]] = None
    data: Optional[Dict[str, Any]] = None
    created: Optional[float] = None

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.path)

    @property
    def runs_dir(self) -> Path:
        return self.path.parent

    @property
    def active(self) -> bool:
        return self.state in states.ACTIVE_STATES

    @property
    def progress(self) -> Dict[str, Any]:
        progress = self.status.get("progress")
        return progress if isinstance(progress, dict) else {}

    @property
    def method(self) -> str:
        return str(self.config.get("method", "?"))

    @property
    def dataset(self) -> str:
        return str(self.config.get("dataset", "?"))


def _read_dict(path: Path) -> Dict[str, Any]:
    value = fileio.read_json(path)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


# Fields the views format as numbers: a damaged file holding text there is reported, not drawn.
_NUMBERS = {"result": ("acc", "nmi", "ari", "seconds", "clusters_used", "graph_cross_fraction", "mixture_agreement"),
            "data": ("n_samples", "n_features", "n_clusters")}


class _Damaged(ValueError):
    """A readable JSON file with a wrong field; its message is the reason as is."""

    def __str__(self) -> str:
        return self.args[0]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_numbers(record: Dict[str, Any], keys) -> None:
    for key in keys:
        if record.get(key) is not None and not _is_number(record[key]):
            raise _Damaged(f"{key} is not a number")


def load_run(run_dir: PathLike) -> Run:
    """The run in ``run_dir``; a folder whose config or status is missing or unreadable is state "broken"."""
    folder = RunFolder(run_dir)
    base = {"id": folder.id, "path": folder.path}
    try:
        config = _read_dict(folder.config)
        if "dataset" not in config or "method" not in config:
            raise ValueError("it lacks dataset or method")
    except FileNotFoundError:
        return Run(**base, reason="config.json is missing (not a run folder, or it was half deleted)")
    except (OSError, ValueError) as exc:
        return Run(**base, reason=f"config.json is damaged: {states.one_line(exc)}")
    created = config.get("created")
    base.update(config=config, created=created if isinstance(created, (int, float)) and math.isfinite(created)
                else None)
    try:
        status = _read_dict(folder.status)
        if status.get("state") not in states.STATES:
            raise ValueError(f"unknown state {str(status.get('state'))[:40]!r}")
    except FileNotFoundError:
        return Run(**base, reason="status.json is missing")
    except (OSError, ValueError) as exc:
        return Run(**base, reason=f"status.json is damaged: {states.one_line(exc)}")
    if not isinstance(status.get("progress"), (dict, type(None))):
        status["progress"] = None  # a hand-edited or damaged field must not break the views
    state, reason = states.effective_state(folder.path, status)
    extra: Dict[str, Any] = {}
    for name, path in (("result", folder.result), ("data", folder.data)):
        try:
            extra[name] = _read_dict(path)
            _check_numbers(extra[name], _NUMBERS[name])
        except FileNotFoundError:
            extra.pop(name, None)
        except (OSError, ValueError) as exc:
            extra.pop(name, None)
            detail = str(exc) if isinstance(exc, _Damaged) else states.one_line(exc)
            reason = reason or f"{path.name} is damaged: {detail}"
    return Run(**base, state=state, reason=reason, status=status, **extra)


def list_runs(runs_dir: PathLike) -> List[Run]:
    """Every run under ``runs_dir``, newest first."""
    runs = [load_run(path) for path in run_dirs(runs_dir)]
    runs.sort(key=lambda run: (run.created or 0, run.id), reverse=True)
    return runs


def _is_epoch_record(record: Any) -> bool:
    """An object of numbers (or null) and a phase name: what the recorder writes; text where a number belongs
    is a damaged line."""
    return (isinstance(record, dict) and isinstance(record.get("phase", ""), str)
            and all(value is None or _is_number(value) or isinstance(value, bool)
                    for key, value in record.items() if key != "phase"))


def read_metrics(run_dir: PathLike) -> List[Dict[str, Any]]:
    """Every epoch record of metrics.jsonl; a half-written or damaged line (not JSON, text where a number
    belongs) is skipped."""
    records = []
    try:
        with open(RunFolder(run_dir).metrics, errors="replace") as stream:  # damaged bytes: a skipped line
            for line in stream:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if _is_epoch_record(record):
                    records.append(record)
    except OSError:
        pass
    return records


def list_snapshots(run_dir: PathLike) -> List[int]:
    """Epochs that have a snapshot, ascending."""
    return RunFolder(run_dir).snapshot_epochs()


def load_snapshot(run_dir: PathLike, epoch: int) -> Optional[Dict[str, np.ndarray]]:
    """A snapshot's arrays (latent, index, predicted, true, gmm_*), or None when missing or damaged."""
    arrays = fileio.load_npz(RunFolder(run_dir).snapshot(epoch))
    if arrays is None or "latent" not in arrays or arrays["latent"].ndim != 2:
        return None
    return arrays


def load_artifact(run_dir: PathLike, name: str) -> Optional[Dict[str, np.ndarray]]:
    """The arrays of one of ``layout.ARTIFACTS`` (labels, gmm, traversals, graph, inputs), or None."""
    from ..errors import InputError

    if name not in ARTIFACTS:
        raise InputError(f"Unknown run artifact {name!r}.")
    arrays = fileio.load_npz(RunFolder(run_dir).artifact(name))
    if arrays is None or not all(check(arrays.get(key)) for key, check in _ARTIFACT_ARRAYS.get(name, ())):
        return None
    return arrays


def _array_of(ndim: int, kinds: str):
    return lambda a: isinstance(a, np.ndarray) and a.ndim == ndim and a.dtype.kind in kinds and a.shape[0] > 0


# The arrays the views index with: a readable file whose arrays have another shape or type is damaged.
_ARTIFACT_ARRAYS = {"labels": (("labels", _array_of(1, "iu")),),
                    "graph": (("indices", _array_of(2, "iu")),),
                    "inputs": (("x", _array_of(2, "fiu")),)}


def artifact_damaged(run_dir: PathLike, name: str) -> bool:
    """Whether the run has the artifact's file but it cannot be used (truncated, wrong arrays)."""
    return RunFolder(run_dir).artifact(name).exists() and load_artifact(run_dir, name) is None


def load_embedding(run_dir: PathLike, method: str, epoch: int) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """A cached 2-D embedding (coords, index) of a snapshot, or None."""
    cached = fileio.load_npz(RunFolder(run_dir).embedding_cache(method, epoch))
    if cached is None or "coords" not in cached or "index" not in cached:
        return None
    return cached["coords"], cached["index"]


def save_embedding(run_dir: PathLike, method: str, epoch: int, coords: np.ndarray, index: np.ndarray) -> bool:
    """Cache an embedding in the run's cache/; False when the folder cannot be written (it is only a cache)."""
    try:
        fileio.save_npz(RunFolder(run_dir).embedding_cache(method, epoch), coords=coords, index=index)
    except OSError:
        return False
    return True
