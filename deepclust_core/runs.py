"""The run store: one folder per training run, the disk being the single source of truth.

    run_dir = create_run("runs", {"dataset": "moons", "dataset_options": {"n_samples": 400},
                                  "method": "dgg", "params": {"epochs": 3}})
    result = execute_run(run_dir)          # what a worker process (deepclust_core.jobs) does

Layout of ``runs/<id>/`` (every file written atomically: tmp + ``os.replace``; metrics.jsonl is
append-only and readers skip a half-written last line):

    config.json         dataset, dataset_options, method, params (complete and typed), label, group
    status.json         state queued -> running -> finished | failed | stopped, pid, times, progress, reason
    data.json           what the views need to know of the data: kind, shapes, image_shape
    metrics.jsonl       one JSON object per epoch: phase, epoch, n_epochs, time, loss terms, acc/nmi/ari
    snapshots/epoch_XXXX.npz   latent means of a fixed subsample (<= 10k points) + predicted labels
    labels.npz          final labels (and true labels when known)
    result.json         acc, nmi, ari, seconds, warnings, method, dataset, ...
    gmm.npz             means / variances / weights of the learned GMM prior (VaDE, DGG)
    traversals.npz      decoded latent traversals (paper Fig. 2), precomputed at the end so no
                        model ever has to be unpickled to draw them
    graph.npz, inputs.npz      the neighbour graph and the data itself, for 2-D data (input plot)
    log.txt             worker output and full tracebacks
    STOP                present when a stop was requested
    cache/              derived views (t-SNE / UMAP embeddings) computed by the app

A reader never raises on a damaged folder: :func:`load_run` reports it as state "broken".
"""
from __future__ import annotations

import errno
import json
import math
import os
import re
import secrets
import shutil
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np

from .callbacks import Callback, EpochInfo
from .errors import DeepClustError, InputError, TrainingError
from .metrics import MIXTURE_DIAGNOSTICS

PathLike = Union[str, os.PathLike]

RUNS_ENV = "DEEPCLUST_RUNS"
STATES = ("queued", "running", "finished", "failed", "stopped", "broken")
ACTIVE_STATES = ("queued", "running")
UPLOADS_FOLDER = ".uploads"  # inside the runs folder; a dot name is never taken for a run
UPLOAD_KEEP_SECONDS = 24 * 3600.0  # an upload no run uses yet is kept this long (it may be about to be used)
MAX_SNAPSHOT_POINTS = 10_000
MAX_SNAPSHOTS = 50
TRAVERSAL_STEPS = 15
TRAVERSAL_SCALE = 4.0
MAX_TRAVERSAL_VALUES = 20_000_000  # floats kept in traversals.npz (80 MB uncompressed at most)
SUBSAMPLE_SEED = 0
STARTING_SECONDS = 30.0  # a run marked running whose worker pid is not recorded yet
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
_CONFIG_KEYS = {"dataset", "dataset_options", "method", "params", "label", "group", "verbose"}


def default_runs_dir() -> Path:
    """``$DEEPCLUST_RUNS``, else ``./runs``."""
    return Path(os.environ.get(RUNS_ENV) or "runs").expanduser()


# ------------------------------------------------------------------------------------------ small file I/O

def _jsonable(value: Any) -> Any:
    """Tuples to lists, NumPy scalars to Python, non-finite floats to None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _partial_name(path: Path) -> Path:
    """A temporary name next to ``path``, unique per writer (the app writes from one thread per session)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _write_atomically(path: Path, write) -> None:
    """``write(stream)`` into a temporary file, then ``os.replace``; on failure (e.g. disk full) the partial
    file is removed, so a folder never keeps half a file."""
    partial = _partial_name(path)
    try:
        with open(partial, "wb") as stream:
            write(stream)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically: a reader sees the old file or the new one, never half of one."""
    text = json.dumps(_jsonable(payload), indent=1, sort_keys=True).encode()
    _write_atomically(Path(path), lambda stream: stream.write(text))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write a compressed .npz atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, lambda stream: np.savez_compressed(stream, **arrays))


def load_npz(path: Path) -> Optional[Dict[str, np.ndarray]]:
    """All arrays of an .npz (never unpickling anything), or None when it is missing or damaged."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except Exception:  # missing, truncated, not a zip: the views treat it as absent
        return None


# ------------------------------------------------------------------------------------------- configuration

def dataset_specs(dataset: str):
    """The dataset's options as ParamSpecs, so URL/CLI strings are coerced like method params."""
    from .datasets import dataset_options
    from .params import ParamSpec

    specs = {}
    for option in dataset_options(dataset):
        kind = option["type"]
        specs[option["name"]] = ParamSpec(name=option["name"], type=Optional[kind] if option.get("optional") else kind,
                                          default=option["default"], help=option.get("help", ""))
    return specs


def _reject_unknown(given: Dict[str, Any], known, what: str, listing: str) -> None:
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise InputError(f"Unknown {what}: {', '.join(unknown)}. {listing}: {', '.join(known) or 'none'}.")


def coerce_dataset_options(dataset: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """Dataset options converted to their declared types; unknown names or bad values raise InputError."""
    from .params import coerce_value

    specs = dataset_specs(dataset)
    _reject_unknown(options, specs, f"option(s) for dataset {dataset!r}", "Valid options")
    coerced = {}
    for name, value in options.items():
        spec = specs[name]
        if spec.optional and (value is None or (isinstance(value, str) and not value.strip())):
            coerced[name] = None
        else:
            coerced[name] = coerce_value(spec, value)
    return coerced


def coerce_params(method: str, params: Dict[str, Any]) -> Dict[str, Any]:
    """Method params converted to their declared types and checked against their bounds."""
    from .methods import get_method_class
    from .params import check_value, coerce_value

    specs = {spec.name: spec for spec in get_method_class(method).param_specs()}
    _reject_unknown(params, sorted(specs), f"parameter(s) for method {method!r}", "Known")
    coerced = {}
    for name, value in params.items():
        coerced[name] = coerce_value(specs[name], value)
        check_value(specs[name], coerced[name])
    return coerced


def validate_config(config: Dict[str, Any]) -> Dict[str, Any]:
    """The config in canonical form (typed values, every method parameter explicit), or InputError.

    Dataset-dependent checks (e.g. N_s < n_samples) need the data and happen at fit time.
    """
    from .datasets import list_datasets
    from .methods import create_method, get_method_class
    from .params import validate_params

    if not isinstance(config, dict):
        raise InputError("A run config must be a dict with dataset, method and params.")
    unknown = sorted(set(config) - _CONFIG_KEYS)
    if unknown:
        raise InputError(f"Unknown config key(s): {', '.join(unknown)}. Known: {', '.join(sorted(_CONFIG_KEYS))}.")
    for key in ("dataset", "method"):
        if not isinstance(config.get(key), str) or not config[key].strip():
            raise InputError(f"The run config needs a {key} name.")
    dataset = config["dataset"].strip().lower()
    if dataset not in list_datasets():
        raise InputError(f"Unknown dataset {config['dataset']!r}. Known datasets: {', '.join(list_datasets())}.")
    options = config.get("dataset_options") or {}
    params = config.get("params") or {}
    if not isinstance(options, dict) or not isinstance(params, dict):
        raise InputError("dataset_options and params must be dicts.")
    method = config["method"].strip().lower()
    cls = get_method_class(method)  # InputError for an unknown name
    options = coerce_dataset_options(dataset, options)
    params = coerce_params(method, params)
    estimator = create_method(method, **params)
    validate_params(estimator)  # the dry construction: every value, including defaults, is checked
    full_params = {spec.name: getattr(estimator, spec.name) for spec in cls.param_specs()}
    canonical = {"dataset": dataset, "dataset_options": options, "method": method, "params": full_params}
    for key in ("label", "group"):
        if config.get(key) not in (None, ""):
            canonical[key] = str(config[key])
    if config.get("verbose"):
        canonical["verbose"] = True
    return canonical


def load_config(run_dir: PathLike) -> Dict[str, Any]:
    """config.json with params coerced back to their types (JSON turns tuples into lists)."""
    config = read_json(Path(run_dir) / "config.json")
    config["params"] = coerce_params(config["method"], config.get("params") or {})
    config["dataset_options"] = coerce_dataset_options(config["dataset"], config.get("dataset_options") or {})
    return config


# ------------------------------------------------------------------------------------------------ creation

def new_run_id() -> str:
    """Timestamp (sortable) plus a short random suffix; only [0-9a-z-]."""
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return f"{stamp}-{int(now * 1000) % 1000:03d}-{secrets.token_hex(3)}"


def create_run(runs_dir: PathLike, config: Dict[str, Any]) -> Path:
    """Validate ``config`` and create ``runs_dir/<id>/`` with config.json and status "queued".

    Raises InputError before writing anything when the config is invalid.
    """
    canonical = validate_config(config)
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    while True:
        run_dir = runs_dir / new_run_id()
        try:
            run_dir.mkdir()
            break
        except FileExistsError:
            continue
    now = time.time()
    try:
        write_json(run_dir / "config.json", {**canonical, "created": now})
        write_json(run_dir / "status.json", {"state": "queued", "created": now, "updated": now})
    except OSError as exc:  # e.g. disk full: leave no half-created run behind
        shutil.rmtree(run_dir, ignore_errors=True)
        raise DeepClustError(f"Cannot create a run in {runs_dir}: {_one_line(exc)}") from None
    return run_dir


# ------------------------------------------------------------------------------------------------- status

def read_status(run_dir: PathLike) -> Dict[str, Any]:
    return read_json(Path(run_dir) / "status.json")


def update_status(run_dir: PathLike, **changes: Any) -> Dict[str, Any]:
    """Merge ``changes`` into status.json (atomically) and return the new status."""
    path = Path(run_dir) / "status.json"
    try:
        status = read_json(path)
    except (OSError, ValueError):
        status = {}
    status.update(changes)
    status["updated"] = time.time()
    write_json(path, status)
    return status


def _one_line(exc: BaseException) -> str:
    """A clear one-line reason: the message of our own errors, 'Type: message' for anything else."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, DeepClustError):
        return text
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full ({text})"
    return f"{type(exc).__name__}: {text}"


def _append_log(run_dir: Path, text: str) -> None:
    try:
        with open(run_dir / "log.txt", "a") as log:
            log.write(text if text.endswith("\n") else text + "\n")
    except OSError:
        pass


def process_start_time(pid: int) -> Optional[int]:
    """Start time of a process in clock ticks since boot (Linux /proc), to tell a reused pid apart."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def pid_alive(pid: Optional[int], start_time: Optional[int] = None) -> bool:
    """Whether ``pid`` is a live (not zombie) process, and the same one when ``start_time`` is known."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False
    except (OSError, IndexError):
        return True  # no /proc (macOS): trust os.kill
    return start_time is None or process_start_time(pid) in (None, start_time)


# ------------------------------------------------------------------------------------------------ training

class RunRecorder(Callback):
    """Writes a run's metrics, progress, snapshots and honours its STOP file."""

    def __init__(self, run_dir: Path, snapshot_index: np.ndarray, true_labels: Optional[np.ndarray]):
        self.run_dir = run_dir
        self.snapshot_index = snapshot_index
        self.true_labels = None if true_labels is None else true_labels[snapshot_index]
        self.started = time.perf_counter()
        self.stop_requested = False
        (run_dir / "snapshots").mkdir(exist_ok=True)

    def _stop_file_present(self) -> bool:
        return (self.run_dir / "STOP").exists()

    def on_epoch_end(self, estimator, info: EpochInfo) -> None:
        elapsed = time.perf_counter() - self.started
        record = {"phase": info.phase, "epoch": info.epoch, "n_epochs": info.n_epochs, "time": round(elapsed, 3),
                  **info.metrics}
        with open(self.run_dir / "metrics.jsonl", "a") as stream:
            stream.write(json.dumps(_jsonable(record)) + "\n")
        self.stop_requested = self.stop_requested or self._stop_file_present()
        update_status(self.run_dir, progress={"phase": info.phase, "epoch": info.epoch, "n_epochs": info.n_epochs})
        if info.phase == "train" and self._wants_snapshot(info):
            latent = info.latent()
            if latent is not None:
                self.write_snapshot(estimator, info.epoch, latent[0], latent[1])

    def _wants_snapshot(self, info: EpochInfo) -> bool:
        every = max(1, math.ceil(info.n_epochs / MAX_SNAPSHOTS))
        return info.epoch in (1, info.n_epochs) or info.epoch % every == 0 or self.stop_requested

    def write_snapshot(self, estimator, epoch: int, latent: np.ndarray, predicted: Optional[np.ndarray]) -> None:
        arrays = {"epoch": np.int64(epoch), "index": self.snapshot_index.astype(np.int64),
                  "latent": np.asarray(latent, dtype=np.float32)[self.snapshot_index]}
        if predicted is not None:
            arrays["predicted"] = np.asarray(predicted, dtype=np.int64)[self.snapshot_index]
        if self.true_labels is not None:
            arrays["true"] = self.true_labels
        gmm = _gmm_parameters(estimator)
        if gmm is not None:
            arrays.update({f"gmm_{key}": value for key, value in gmm.items()})
        save_npz(self.run_dir / "snapshots" / f"epoch_{epoch:04d}.npz", **arrays)

    def should_stop(self, estimator) -> bool:
        return self.stop_requested


def _gmm_parameters(estimator) -> Optional[Dict[str, np.ndarray]]:
    if not hasattr(estimator, "gmm_parameters") or not hasattr(estimator, "prior_"):
        return None
    try:
        return {key: np.asarray(value, dtype=np.float32) for key, value in estimator.gmm_parameters().items()}
    except Exception:  # a half-initialised model (stopped during pretraining) has no prior yet
        return None


def snapshot_index(n_samples: int, max_points: int = MAX_SNAPSHOT_POINTS) -> np.ndarray:
    """The fixed subsample every snapshot of a run uses (all points when there are few)."""
    if n_samples <= max_points:
        return np.arange(n_samples)
    rng = np.random.default_rng(SUBSAMPLE_SEED)
    return np.sort(rng.choice(n_samples, size=max_points, replace=False))


def _traversals(estimator) -> Optional[Dict[str, np.ndarray]]:
    """Decoded traversals of every component along its widest latent dimensions (paper Fig. 2)."""
    gmm = _gmm_parameters(estimator)
    if gmm is None or not hasattr(estimator, "traversal"):
        return None
    variances = gmm["variances"]
    n_components, latent_dim = variances.shape
    n_features = int(estimator.n_features_in_)
    per_dimension = TRAVERSAL_STEPS * n_features
    n_dims = int(max(1, min(latent_dim, MAX_TRAVERSAL_VALUES // max(1, per_dimension * n_components))))
    dims = np.argsort(-variances, axis=1)[:, :n_dims]
    dims.sort(axis=1)
    paths = np.stack([np.stack([estimator.traversal(k, int(d), steps=TRAVERSAL_STEPS, scale=TRAVERSAL_SCALE)
                                for d in dims[k]]) for k in range(n_components)])
    return {"paths": paths.astype(np.float32), "dims": dims.astype(np.int64),
            "offsets": np.linspace(-1.0, 1.0, TRAVERSAL_STEPS) * TRAVERSAL_SCALE, "variances": variances}


def _write_final_artifacts(run_dir: Path, estimator, data, recorder: RunRecorder) -> None:
    labels = {"labels": np.asarray(estimator.labels_, dtype=np.int64)}
    if data.y is not None:
        labels["true"] = data.y
    if getattr(estimator, "init_labels_", None) is not None:
        labels["init"] = np.asarray(estimator.init_labels_, dtype=np.int64)
    save_npz(run_dir / "labels.npz", **labels)
    gmm = _gmm_parameters(estimator)
    if gmm is not None:
        save_npz(run_dir / "gmm.npz", **gmm)
    if getattr(estimator, "has_latent", False) and hasattr(estimator, "transform"):
        final_epoch = int(getattr(estimator, "n_iter_", 0) or 0)
        snapshot = run_dir / "snapshots" / f"epoch_{final_epoch:04d}.npz"
        if not snapshot.exists():
            recorder.write_snapshot(estimator, final_epoch, estimator.transform(data.x), estimator.labels_)
    traversals = _traversals(estimator)
    if traversals is not None:
        save_npz(run_dir / "traversals.npz", **traversals)
    if data.x.shape[1] == 2:
        save_npz(run_dir / "inputs.npz", x=data.x)
        graph = getattr(estimator, "graph_", None)
        if graph is not None:
            save_npz(run_dir / "graph.npz", indices=graph.indices.cpu().numpy().astype(np.int32),
                     weights=graph.weights.cpu().numpy().astype(np.float32))


def _result(config: Dict, data, estimator, state: str, seconds: float, final: Dict) -> Dict[str, Any]:
    result = {"state": state, "method": config["method"], "dataset": config["dataset"], "seconds": seconds,
              "n_samples": int(data.x.shape[0]), "warnings": list(getattr(estimator, "warnings_", []) or []),
              "stopped_early": bool(getattr(estimator, "stopped_early_", False)),
              "collapsed": bool(getattr(estimator, "collapsed_", False))}
    for key in ("acc", "nmi", "ari"):
        result[key] = final.get(key)
    for attribute, key in (("init_scores_", "init_scores"), ("model_start_scores_", "model_start_scores")):
        if getattr(estimator, attribute, None):
            result[key] = getattr(estimator, attribute)
    for attribute, key in (("graph_cross_fraction_", "graph_cross_fraction"), ("graph_seconds_", "graph_seconds"),
                           ("pretrain_cached_", "pretrain_cached"),
                           ("n_clusters_used_", "clusters_used")):
        if hasattr(estimator, attribute):
            result[key] = getattr(estimator, attribute)
    last_epoch = next((r for r in reversed(getattr(estimator, "history_", None) or []) if r.get("phase") == "train"),
                      {})
    result.update({key: last_epoch[key] for key in MIXTURE_DIAGNOSTICS if key in last_epoch})
    return result


def execute_run(run_dir: PathLike) -> Dict[str, Any]:
    """Train the run in this process and record everything under ``run_dir``; return result.json's dict.

    Never raises for a training problem: bad data, divergence (TrainingError) or any other error ends
    as state "failed" with a one-line reason (full traceback in log.txt); a STOP file or an interrupt
    (Ctrl-C, SIGTERM turned into KeyboardInterrupt by the worker) ends as "stopped" with partial results.
    """
    from .datasets import load_dataset
    from .methods import create_method

    run_dir = Path(run_dir)
    started = time.time()
    try:
        status = read_status(run_dir)
        config = load_config(run_dir)
    except (OSError, ValueError, KeyError, DeepClustError) as exc:
        raise InputError(f"{run_dir} is not a readable run folder: {_one_line(exc)}") from None
    if status.get("state") not in ACTIVE_STATES:
        raise InputError(f"Run {run_dir.name} is {status.get('state')!r}; only queued runs can be executed.")
    if (run_dir / "STOP").exists():
        update_status(run_dir, state="stopped", finished=started, reason="stopped before it started")
        return {"state": "stopped", "reason": "stopped before it started"}
    update_status(run_dir, state="running", pid=os.getpid(), pid_start=process_start_time(os.getpid()),
                  started=started, reason=None)
    data = estimator = None
    try:
        data = load_dataset(config["dataset"], **config["dataset_options"])
        write_json(run_dir / "data.json", {"kind": data.kind, "name": data.name, "n_samples": int(data.x.shape[0]),
                                           "n_features": int(data.x.shape[1]), "n_clusters": int(data.n_clusters),
                                           "image_shape": data.image_shape, "has_labels": data.y is not None,
                                           "description": data.description})
        estimator = create_method(config["method"], **config["params"])
        recorder = RunRecorder(run_dir, snapshot_index(len(data.x)), data.y)
        callbacks: List[Callback] = [recorder]
        final: Dict[str, Any] = {}

        class _Final(Callback):
            def on_fit_end(self, est, info):
                final.update(info)

        callbacks.append(_Final())
        if config.get("verbose"):
            from .callbacks import PrintProgress

            callbacks.append(PrintProgress())
        with warnings.catch_warnings(record=True) as caught:  # kept in log.txt (and result.json's warnings)
            warnings.simplefilter("always")
            estimator.fit(data.x, data.y, callbacks=callbacks)
        for warning in caught:
            _append_log(run_dir, f"warning: {warning.category.__name__}: {warning.message}")
        state = "stopped" if recorder.stop_requested or getattr(estimator, "stopped_early_", False) else "finished"
        _write_final_artifacts(run_dir, estimator, data, recorder)
        result = _result(config, data, estimator, state, time.time() - started, final)
        if data.y is not None and np.unique(data.y).size < 2:
            result["warnings"].insert(0, "The data's labels hold a single class, so ACC/NMI/ARI against them say "
                                         "nothing about the clustering.")
        write_json(run_dir / "result.json", result)
        update_status(run_dir, state=state, finished=time.time(),
                      reason="stopped on request" if state == "stopped" else None)
        return result
    except KeyboardInterrupt:
        reason = "interrupted (stop requested)"
        _append_log(run_dir, f"Run interrupted: {reason}")
        return _end_early(run_dir, "stopped", reason, started, config)
    except Exception as exc:  # every failure becomes a recorded state, never a crashed worker
        _append_log(run_dir, traceback.format_exc())
        if (run_dir / "STOP").exists():
            return _end_early(run_dir, "stopped", f"stopped on request ({_one_line(exc)})", started, config)
        reason = _one_line(exc)
        if isinstance(exc, TrainingError):
            reason = f"training diverged: {reason}" if "diverg" not in reason.lower() else reason
        return _end_early(run_dir, "failed", reason, started, config)


def _end_early(run_dir: Path, state: str, reason: str, started: float, config: Dict) -> Dict[str, Any]:
    result = {"state": state, "reason": reason, "method": config["method"], "dataset": config["dataset"],
              "seconds": time.time() - started, "acc": None, "nmi": None, "ari": None, "warnings": []}
    try:
        write_json(run_dir / "result.json", result)
    except OSError:
        pass  # deleted under us, or the disk is full: the state below matters more
    try:
        update_status(run_dir, state=state, reason=reason, finished=time.time())
    except OSError:
        pass  # nothing left to record into; reconcile() marks the run failed once this worker exits
    return result


# -------------------------------------------------------------------------------------------------- reading

def _run_dirs(runs_dir: Path) -> List[Path]:
    """The run folders: real directories with a run id's name (a symlink could lead out of the runs folder)."""
    try:
        return [p for p in Path(runs_dir).iterdir() if _RUN_ID.match(p.name) and p.is_dir() and not p.is_symlink()]
    except OSError:
        return []


def load_run(run_dir: PathLike) -> Dict[str, Any]:
    """A summary of one run: id, path, state, reason, config, status, result, data. Never raises.

    A folder whose config or status is missing or unreadable is reported as state "broken".
    """
    run_dir = Path(run_dir)
    run: Dict[str, Any] = {"id": run_dir.name, "path": str(run_dir), "state": "broken", "reason": None,
                           "config": {}, "status": {}, "result": None, "data": None, "created": None}
    try:
        config = read_json(run_dir / "config.json")
        if not isinstance(config, dict) or "dataset" not in config or "method" not in config:
            raise ValueError("config.json lacks dataset or method")
    except FileNotFoundError:
        run["reason"] = "config.json is missing (not a run folder, or it was half deleted)"
        return run
    except (OSError, ValueError) as exc:
        run["reason"] = f"config.json is unreadable: {_one_line(exc)}"
        return run
    run["config"] = config
    created = config.get("created")
    run["created"] = created if isinstance(created, (int, float)) and math.isfinite(created) else None
    try:
        status = read_json(run_dir / "status.json")
        if not isinstance(status, dict) or status.get("state") not in STATES:
            raise ValueError(f"unknown state {status.get('state') if isinstance(status, dict) else status!r}")
    except FileNotFoundError:
        run["reason"] = "status.json is missing"
        return run
    except (OSError, ValueError) as exc:
        run["reason"] = f"status.json is unreadable: {_one_line(exc)}"
        return run
    if not isinstance(status.get("progress"), (dict, type(None))):
        status["progress"] = None  # a hand-edited or damaged field must not break the views
    run["status"] = status
    run["state"] = status["state"]
    run["reason"] = None if status.get("reason") is None else str(status["reason"])
    for name, key in (("result.json", "result"), ("data.json", "data")):
        try:
            value = read_json(run_dir / name)
            run[key] = value if isinstance(value, dict) else None
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            run["reason"] = run["reason"] or f"{name} is unreadable: {_one_line(exc)}"
    return run


def list_runs(runs_dir: PathLike) -> List[Dict[str, Any]]:
    """Summaries of every run under ``runs_dir`` (see :func:`load_run`), newest first."""
    runs = [load_run(path) for path in _run_dirs(Path(runs_dir))]
    runs.sort(key=lambda run: (run["created"] or 0, run["id"]), reverse=True)
    return runs


def read_metrics(run_dir: PathLike) -> List[Dict[str, Any]]:
    """Every epoch record of metrics.jsonl; a half-written or damaged line is skipped."""
    records = []
    try:
        with open(Path(run_dir) / "metrics.jsonl", errors="replace") as stream:  # damaged bytes: a skipped line
            for line in stream:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    records.append(record)
    except OSError:
        pass
    return records


def list_snapshots(run_dir: PathLike) -> List[int]:
    """Epochs that have a snapshot, ascending."""
    epochs = []
    for path in (Path(run_dir) / "snapshots").glob("epoch_*.npz"):
        try:
            epochs.append(int(path.stem.split("_")[1]))
        except (IndexError, ValueError):
            continue
    return sorted(epochs)


def load_snapshot(run_dir: PathLike, epoch: int) -> Optional[Dict[str, np.ndarray]]:
    """A snapshot's arrays (latent, index, predicted, true, gmm_*), or None when missing or damaged."""
    arrays = load_npz(Path(run_dir) / "snapshots" / f"epoch_{int(epoch):04d}.npz")
    if arrays is None or "latent" not in arrays or arrays["latent"].ndim != 2:
        return None
    return arrays


def load_artifact(run_dir: PathLike, name: str) -> Optional[Dict[str, np.ndarray]]:
    """labels / gmm / traversals / graph / inputs arrays of a run, or None."""
    if name not in ("labels", "gmm", "traversals", "graph", "inputs"):
        raise InputError(f"Unknown run artifact {name!r}.")
    return load_npz(Path(run_dir) / f"{name}.npz")


# ---------------------------------------------------------------------------------------- stop, delete, fix

def request_stop(run_dir: PathLike) -> None:
    """Ask a run to stop: the worker checks the STOP file after every epoch."""
    run_dir = Path(run_dir)
    if not (run_dir / "status.json").exists():
        raise InputError(f"{run_dir} is not a run folder.")
    (run_dir / "STOP").write_text(str(time.time()))


def resolve_run_dir(runs_dir: PathLike, run_id: str) -> Path:
    """``runs_dir/run_id`` after checking that the id is a plain run id (no path tricks)."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise InputError(f"Invalid run id {run_id!r}.")
    root = Path(runs_dir).resolve()
    run_dir = (root / run_id).resolve()
    if run_dir.parent != root:
        raise InputError(f"Invalid run id {run_id!r}.")
    return run_dir


def delete_run(runs_dir: PathLike, run_id: str) -> None:
    """Delete one run folder; a running run must be stopped first."""
    run_dir = resolve_run_dir(runs_dir, run_id)
    if not run_dir.is_dir():
        raise InputError(f"No run {run_id!r} in {runs_dir}.")
    run = load_run(run_dir)
    status = run["status"]
    if run["state"] == "running" and pid_alive(status.get("pid"), status.get("pid_start")):
        raise InputError(f"Run {run_id} is running; stop it before deleting it.")
    shutil.rmtree(run_dir)


def prune_uploads(runs_dir: PathLike, keep_seconds: float = UPLOAD_KEEP_SECONDS) -> List[str]:
    """Delete uploaded data files that no run uses any more and that are older than `keep_seconds`;
    return their names. A file a run's config points at is never removed, whatever its age, so a queued or
    finished run can always be re-read or repeated; a fresh upload is kept while its user sets up a run."""
    runs_dir = Path(runs_dir)
    uploads = runs_dir / UPLOADS_FOLDER
    if not uploads.is_dir():
        return []
    used = set()
    for run_dir in _run_dirs(runs_dir):
        try:
            path = (read_json(run_dir / "config.json").get("dataset_options") or {}).get("path")
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


def reconcile_run(run_dir: PathLike) -> bool:
    """Mark one run failed if it is "running" but its worker is gone; True when it was."""
    run = load_run(run_dir)
    status = run["status"]
    if run["state"] != "running":
        return False
    starting = status.get("pid") is None and time.time() - (status.get("scheduled") or 0) < STARTING_SECONDS
    if starting or pid_alive(status.get("pid"), status.get("pid_start")):
        return False
    if load_run(run_dir)["state"] != "running":
        return False  # the worker recorded its end and exited between the two reads: not a crash
    update_status(run_dir, state="failed", reason="worker process died", finished=time.time())
    return True


def reconcile(runs_dir: PathLike) -> List[str]:
    """Mark runs whose worker died (state running, pid gone) as failed; return their ids."""
    return [run_dir.name for run_dir in _run_dirs(Path(runs_dir)) if reconcile_run(run_dir)]


__all__ = ["create_run", "execute_run", "list_runs", "load_run", "read_metrics", "request_stop", "delete_run",
           "reconcile", "reconcile_run", "prune_uploads", "validate_config", "load_config", "list_snapshots", "load_snapshot", "load_artifact",
           "default_runs_dir", "RunRecorder", "resolve_run_dir", "pid_alive", "dataset_specs", "coerce_params",
           "coerce_dataset_options"]

