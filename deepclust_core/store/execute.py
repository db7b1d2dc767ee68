"""Executing a run in this process: config -> data -> estimator -> fit, everything recorded in its folder.
This is what a worker process (:mod:`deepclust_core.jobs`) and the CLI's ``train`` do."""
from __future__ import annotations

import os
import tempfile
import time
import traceback
import warnings
from typing import Any, Dict, List, Optional

from .. import fileio
from ..callbacks import Callback, PrintProgress
from ..config import load_config
from ..datasets import load_dataset
from ..errors import CacheWarning, DeepClustError, InputError, TrainingError
from ..methods import create_method, get_method_class
from . import states
from .layout import PathLike, RunFolder
from .recorder import RunRecorder, result_record, write_final_artifacts


class _FinalScores(Callback):
    """Keeps the scores the estimator reports at the end of its fit."""

    def __init__(self):
        self.scores: Dict[str, Any] = {}

    def on_fit_end(self, estimator, info):
        self.scores.update(info)


def append_log(run_dir: PathLike, text: str) -> None:
    try:
        with open(RunFolder(run_dir).log, "a") as log:
            log.write(text if text.endswith("\n") else text + "\n")
    except OSError:
        pass


def _data_record(data) -> Dict[str, Any]:
    return {"kind": data.kind, "name": data.name, "n_samples": int(data.x.shape[0]),
            "n_features": int(data.x.shape[1]), "n_clusters": int(data.n_clusters), "image_shape": data.image_shape,
            "has_labels": data.y is not None, "description": data.description}


def apply_file_clusters(config: Dict[str, Any], data) -> Dict[str, Any]:
    """The rule for a user's file: when the file sets a number of clusters (the "file" dataset's ``n_clusters``
    option, else its number of label classes) it is the method's ``n_clusters``; a file without either keeps
    the method's. Every door applies it once the data is loaded (``train``, the app, ``compare``, the worker),
    so a 3-class file never trains with a method's default K = 2. ``config`` is changed in place and returned."""
    params = config.get("params")
    sets_k = (config.get("dataset_options") or {}).get("n_clusters") is not None or data.y is not None
    if config.get("dataset") == "file" and sets_k and isinstance(params, dict) and \
            any(spec.name == "n_clusters" for spec in get_method_class(config["method"]).param_specs()):
        params["n_clusters"] = int(data.n_clusters)
    return config


def execute_run(run_dir: PathLike) -> Dict[str, Any]:
    """Train the run in this process and record everything under ``run_dir``; return result.json's dict.

    Never raises for a training problem: bad data, divergence (TrainingError) or any other error ends
    as state "failed" with a one-line reason (full traceback in log.txt); a STOP file or an interrupt
    (Ctrl-C, SIGTERM turned into KeyboardInterrupt by the worker) ends as "stopped" with partial results.
    Raises InputError when ``run_dir`` is not a queued (or scheduled) run.
    """
    folder = RunFolder(run_dir)
    started = time.time()
    try:
        status = states.read_status(folder.path)
        config = load_config(fileio.read_json(folder.config))
    except (OSError, ValueError, KeyError, TypeError, DeepClustError) as exc:
        raise InputError(f"{folder.path} is not a readable run folder: {states.one_line(exc)}") from None
    if status.get("state") not in states.ACTIVE_STATES:
        raise InputError(f"Run {folder.id} is {status.get('state')!r}; only queued runs can be executed.")
    if folder.stop_file.exists():
        states.mark_ended(folder.path, "stopped", "stopped before it started")
        return {"state": "stopped", "reason": "stopped before it started"}
    states.mark_started(folder.path, os.getpid(), started)
    try:
        data = load_dataset(config["dataset"], **config["dataset_options"])
        apply_file_clusters(config, data)  # the doors did it already; a run created through the API too
        fileio.write_json(folder.data, _data_record(data))
        estimator = create_method(config["method"], **config["params"])
        recorder, final = RunRecorder(folder.path, len(data.x), data.y, inputs=data.x), _FinalScores()
        callbacks: List[Callback] = [recorder, final] + ([PrintProgress()] if config.get("verbose") else [])
        with warnings.catch_warnings(record=True) as caught:  # kept in log.txt (and result.json's warnings)
            warnings.simplefilter("always")
            estimator.fit(data.x, data.y, callbacks=callbacks)
        for warning in caught:
            append_log(folder.path, f"warning: {warning.category.__name__}: {warning.message}")
        stopped = recorder.stop_requested or getattr(estimator, "stopped_early_", False)
        state = "stopped" if stopped else "finished"
        write_final_artifacts(recorder, estimator, data)
        result = result_record(config, data, estimator, state, time.time() - started, final.scores)
        result["warnings"] += [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
        fileio.write_json(folder.result, result)
        states.mark_ended(folder.path, state, "stopped on request" if stopped else None)
        return result
    except KeyboardInterrupt:
        reason = "interrupted (stop requested)"
        append_log(folder.path, f"Run interrupted: {reason}")
        return _end_early(folder, "stopped", reason, started, config)
    except Exception as exc:  # every failure becomes a recorded state, never a crashed worker
        append_log(folder.path, traceback.format_exc())
        if folder.stop_file.exists():
            return _end_early(folder, "stopped", f"stopped on request ({states.one_line(exc)})", started, config)
        reason = states.one_line(exc)
        if isinstance(exc, TrainingError) and "diverg" not in reason.lower():
            reason = f"training diverged: {reason}"
        return _end_early(folder, "failed", reason, started, config)


def _end_early(folder: RunFolder, state: str, reason: str, started: float, config: Dict) -> Dict[str, Any]:
    result = {"state": state, "reason": reason, "method": config["method"], "dataset": config["dataset"],
              "seconds": time.time() - started, "acc": None, "nmi": None, "ari": None, "warnings": []}
    try:
        fileio.write_json(folder.result, result)
    except OSError:
        pass  # deleted under us, or the disk is full: the state below matters more
    try:
        states.mark_ended(folder.path, state, reason)
    except OSError:
        pass  # nothing left to record into; the queue marks the run failed once this worker exits
    return result


def run_in_process(config: Dict[str, Any], runs_dir: Optional[PathLike] = None) -> Dict[str, Any]:
    """Create a run from ``config`` and train it in this process (what ``train``, ``compare`` and the
    benchmarks do); the run folder goes under ``runs_dir``, or a temporary folder that is removed. Returns
    result.json's dict, with ``run_dir`` when the folder is kept."""
    from .manage import create_run

    with tempfile.TemporaryDirectory(prefix="deepclust-") as scratch:
        run = create_run(runs_dir or scratch, config)
        result = execute_run(run.path)
    if runs_dir:
        result["run_dir"] = str(run.path)
    return result
