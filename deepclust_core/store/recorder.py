"""Recording a fit into its run folder: per-epoch metrics, progress and latent snapshots while it trains,
labels and the other artifacts at the end.

The estimator-to-store contract
-------------------------------
Any registered method can be recorded; what it exposes decides what the run folder holds. Required (every
:class:`~deepclust_core.methods.base.ClusteringMethod` has them): ``fit(X, y, callbacks=...)`` and
``labels_``. Optional, each used when present:

==============================  =====================================================================
attribute / method              recorded as
==============================  =====================================================================
``history_``                    the last ``train`` epoch's mixture diagnostics in result.json
``warnings_``                   result.json ``warnings`` (e.g. a collapse: which clusters went empty)
``stopped_early_``              state "stopped" instead of "finished"
``collapsed_``                  result.json ``collapsed``
``init_labels_``                labels.npz ``init`` (where the clusters started)
``init_scores_``                result.json ``init_scores`` (the start's ACC/NMI/ARI)
``model_start_scores_``         result.json ``model_start_scores`` (the model's own assignments at start)
``graph_cross_fraction_``       result.json ``graph_cross_fraction`` (share of graph edges across classes)
``graph_seconds_``              result.json ``graph_seconds``
``pretrain_cached_``            result.json ``pretrain_cached``
``n_clusters_used_``            result.json ``clusters_used``
``resolved_params_``            result.json ``resolved_params`` (what each "auto" parameter became)
``kept_epoch_``                 result.json ``kept_epoch`` (DGG: the epoch whose model was kept)
``has_latent`` + ``transform``  a final latent snapshot (snapshots/epoch_XXXX.npz)
``n_iter_``                     that snapshot's epoch number
``gmm_parameters()`` +          gmm.npz and the ``gmm_*`` arrays of every snapshot (means, variances,
``prior_``                      weights of a Gaussian-mixture prior)
``traversal(k, d, steps,        traversals.npz (paper Fig. 2), with ``n_features_in_``
scale)``
``graph_``                      graph.npz (indices, weights) for 2-D data
``cluster_samples(n)``          samples.npz: its dict of arrays (generated samples per cluster, and
                                for a latent tree every facet's samples, dimensions and partition)
==============================  =====================================================================

Per epoch, the method calls ``callback.on_epoch_end(estimator, EpochInfo)``; ``EpochInfo.latent()`` gives
(latent means, predicted labels) on demand, so snapshots cost nothing on the epochs that do not take one.
"""
from __future__ import annotations

import json
import math
import time
from typing import Any, Dict, Optional

import numpy as np

from .. import fileio
from ..callbacks import Callback, EpochInfo
from ..metrics import MIXTURE_DIAGNOSTICS
from . import states
from .layout import RunFolder
from .live import live_arrays

MAX_SNAPSHOT_POINTS = 10_000
MAX_SNAPSHOTS = 50
TRAVERSAL_STEPS = 15
TRAVERSAL_SCALE = 4.0
MAX_TRAVERSAL_VALUES = 20_000_000  # floats kept in traversals.npz (80 MB uncompressed at most)
SUBSAMPLE_SEED = 0
SAMPLES_PER_CLUSTER = 10  # generated samples per cluster in samples.npz
PAUSE_POLL_SECONDS = 0.1  # how often a paused worker looks at its control files
# (fitted attribute, result.json key) copied when the estimator has it and it is truthy / present.
_SCORE_ATTRIBUTES = (("init_scores_", "init_scores"), ("model_start_scores_", "model_start_scores"))
_PLAIN_ATTRIBUTES = (("graph_cross_fraction_", "graph_cross_fraction"), ("graph_seconds_", "graph_seconds"),
                     ("pretrain_cached_", "pretrain_cached"), ("n_clusters_used_", "clusters_used"),
                     ("resolved_params_", "resolved_params"), ("kept_epoch_", "kept_epoch"))


def snapshot_index(n_samples: int, max_points: int = MAX_SNAPSHOT_POINTS) -> np.ndarray:
    """The fixed subsample every snapshot of a run uses (all points when there are few)."""
    if n_samples <= max_points:
        return np.arange(n_samples)
    rng = np.random.default_rng(SUBSAMPLE_SEED)
    return np.sort(rng.choice(n_samples, size=max_points, replace=False))


class RunRecorder(Callback):
    """Writes a run's metrics, progress and snapshots while it trains, and honours its STOP file."""

    def __init__(self, run_dir, n_samples: int, true_labels: Optional[np.ndarray],
                 inputs: Optional[np.ndarray] = None):
        self.folder = RunFolder(run_dir)
        self.inputs = inputs  # the data, for the live views' extras (store.live)
        self.snapshot_index = snapshot_index(n_samples)
        self.true_labels = None if true_labels is None else true_labels[self.snapshot_index]
        self.started = time.perf_counter()
        self.stop_requested = False
        self.folder.snapshots_dir.mkdir(exist_ok=True)

    def on_epoch_end(self, estimator, info: EpochInfo) -> None:
        elapsed = time.perf_counter() - self.started
        record = {"phase": info.phase, "epoch": info.epoch, "n_epochs": info.n_epochs, "time": round(elapsed, 3),
                  **info.metrics}
        with open(self.folder.metrics, "a") as stream:
            stream.write(json.dumps(fileio.jsonable(record)) + "\n")
        self.stop_requested = self.stop_requested or self.folder.stop_file.exists()
        states.set_progress(self.folder.path, info.phase, info.epoch, info.n_epochs)
        if info.phase == "train" and self._wants_snapshot(info):
            latent = info.latent()
            if latent is not None:
                self.write_snapshot(estimator, info.epoch, latent[0], latent[1],
                                    final=info.epoch == info.n_epochs or self.stop_requested)
        self.hold_while_paused()

    def hold_while_paused(self) -> None:
        """Between two epochs: while the PAUSE file exists the worker waits here (state "paused", model and
        optimiser kept in memory); a STEP file lets exactly one more epoch run (it is consumed here, and the
        next epoch's end pauses again); removing PAUSE resumes; STOP ends the wait and the run."""
        folder = self.folder
        if not folder.pause_file.exists() or self.stop_requested:
            return
        states.set_paused(folder.path, True)
        while folder.pause_file.exists():
            if folder.stop_file.exists():
                self.stop_requested = True
                break
            if folder.step_file.exists():
                folder.step_file.unlink(missing_ok=True)
                break
            time.sleep(PAUSE_POLL_SECONDS)
        states.set_paused(folder.path, False)

    def _wants_snapshot(self, info: EpochInfo) -> bool:
        every = max(1, math.ceil(info.n_epochs / MAX_SNAPSHOTS))
        return (info.epoch in (1, info.n_epochs) or info.epoch % every == 0 or self.stop_requested
                or self.folder.pause_file.exists())  # a paused run shows the epoch it stopped at

    def write_snapshot(self, estimator, epoch: int, latent: np.ndarray, predicted: Optional[np.ndarray],
                       final: bool = False) -> None:
        arrays = {"epoch": np.int64(epoch), "index": self.snapshot_index.astype(np.int64),
                  "latent": np.asarray(latent, dtype=np.float32)[self.snapshot_index]}
        if predicted is not None:
            arrays["predicted"] = np.asarray(predicted, dtype=np.int64)[self.snapshot_index]
        if self.true_labels is not None:
            arrays["true"] = self.true_labels
        gmm = gmm_parameters(estimator)
        if gmm is not None:
            arrays.update({f"gmm_{key}": value for key, value in gmm.items()})
        arrays.update(live_arrays(self.folder, estimator, self.inputs, self.snapshot_index, arrays["latent"], final))
        fileio.save_npz(self.folder.snapshot(epoch), **arrays)

    def should_stop(self, estimator) -> bool:
        return self.stop_requested


def gmm_parameters(estimator) -> Optional[Dict[str, np.ndarray]]:
    """The mixture prior's means / variances / weights, or None (no prior, or not initialised yet)."""
    if not hasattr(estimator, "gmm_parameters") or not hasattr(estimator, "prior_"):
        return None
    try:
        return {key: np.asarray(value, dtype=np.float32) for key, value in estimator.gmm_parameters().items()}
    except Exception:  # a half-initialised model (stopped during pretraining) has no prior yet
        return None


def traversals(estimator) -> Optional[Dict[str, np.ndarray]]:
    """Decoded traversals of every component along its widest latent dimensions (paper Fig. 2)."""
    gmm = gmm_parameters(estimator)
    if gmm is None or not hasattr(estimator, "traversal"):
        return None
    variances = gmm["variances"]
    n_components, latent_dim = variances.shape
    per_dimension = TRAVERSAL_STEPS * int(estimator.n_features_in_)
    n_dims = int(max(1, min(latent_dim, MAX_TRAVERSAL_VALUES // max(1, per_dimension * n_components))))
    dims = np.argsort(-variances, axis=1)[:, :n_dims]
    dims.sort(axis=1)
    paths = np.stack([np.stack([estimator.traversal(k, int(d), steps=TRAVERSAL_STEPS, scale=TRAVERSAL_SCALE)
                                for d in dims[k]]) for k in range(n_components)])
    return {"paths": paths.astype(np.float32), "dims": dims.astype(np.int64),
            "offsets": np.linspace(-1.0, 1.0, TRAVERSAL_STEPS) * TRAVERSAL_SCALE, "variances": variances}


def write_final_artifacts(recorder: RunRecorder, estimator, data) -> None:
    """labels.npz, gmm.npz, the final snapshot, traversals.npz, and for 2-D data inputs.npz and graph.npz."""
    folder = recorder.folder
    labels = {"labels": np.asarray(estimator.labels_, dtype=np.int64)}
    if data.y is not None:
        labels["true"] = data.y
    if getattr(estimator, "init_labels_", None) is not None:
        labels["init"] = np.asarray(estimator.init_labels_, dtype=np.int64)
    fileio.save_npz(folder.artifact("labels"), **labels)
    gmm = gmm_parameters(estimator)
    if gmm is not None:
        fileio.save_npz(folder.artifact("gmm"), **gmm)
    if getattr(estimator, "has_latent", False) and hasattr(estimator, "transform"):
        final_epoch = int(getattr(estimator, "n_iter_", 0) or 0)
        if not folder.snapshot(final_epoch).exists():
            recorder.write_snapshot(estimator, final_epoch, estimator.transform(data.x), estimator.labels_, final=True)
    paths = traversals(estimator)
    if paths is not None:
        fileio.save_npz(folder.artifact("traversals"), **paths)
    if hasattr(estimator, "cluster_samples"):
        fileio.save_npz(folder.artifact("samples"), **estimator.cluster_samples(SAMPLES_PER_CLUSTER))
    if data.x.shape[1] == 2:
        fileio.save_npz(folder.artifact("inputs"), x=data.x)
        graph = getattr(estimator, "graph_", None)
        if graph is not None:
            fileio.save_npz(folder.artifact("graph"), indices=graph.indices.cpu().numpy().astype(np.int32),
                            weights=graph.weights.cpu().numpy().astype(np.float32))


def result_record(config: Dict, data, estimator, state: str, seconds: float, final: Dict) -> Dict[str, Any]:
    """result.json of a run that trained: scores, time, warnings and what the estimator exposes."""
    result = {"state": state, "method": config["method"], "dataset": config["dataset"], "seconds": seconds,
              "n_samples": int(data.x.shape[0]), "warnings": list(getattr(estimator, "warnings_", []) or []),
              "stopped_early": bool(getattr(estimator, "stopped_early_", False)),
              "collapsed": bool(getattr(estimator, "collapsed_", False))}
    for key in ("acc", "nmi", "ari"):
        result[key] = final.get(key)
    for attribute, key in _SCORE_ATTRIBUTES:
        if getattr(estimator, attribute, None):
            result[key] = getattr(estimator, attribute)
    for attribute, key in _PLAIN_ATTRIBUTES:
        if hasattr(estimator, attribute):
            result[key] = getattr(estimator, attribute)
    history = getattr(estimator, "history_", None) or []
    last_epoch = next((r for r in reversed(history) if r.get("phase") == "train"), {})
    result.update({key: last_epoch[key] for key in MIXTURE_DIAGNOSTICS if key in last_epoch})
    if data.y is not None and np.unique(data.y).size < 2:
        result["warnings"].insert(0, "The data's labels hold a single class, so ACC/NMI/ARI against them say "
                                     "nothing about the clustering.")
    return result
