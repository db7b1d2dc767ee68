"""The run store: one folder per training run, the disk being the single source of truth.

    run = create_run("runs", {"dataset": "moons", "dataset_options": {"n_samples": 400},
                              "method": "dgg", "params": {"epochs": 3}})
    result = execute_run(run.path)        # what a worker process (deepclust_core.jobs) does
    load_run(run.path).state              # "finished"

One job per module:

- :mod:`.layout`: the folder layout, the only code that names files in a run folder (:class:`RunFolder`);
- :mod:`.states`: the states and their transitions, the only writer of ``status.json``; process liveness;
- :mod:`.records`: reading a run into a typed :class:`Run` record, and its per-epoch files (never writes);
- :mod:`.manage`: creating, stopping, deleting runs, pruning uploads;
- :mod:`.recorder`: the callback that writes metrics, snapshots and artifacts, and the estimator-to-store
  contract (what a method exposes and where it is recorded);
- :mod:`.execute`: config -> data -> estimator -> fit, in this process.

Processes (workers, the queue) are :mod:`deepclust_core.jobs`' business, not the store's.
"""
from .execute import apply_file_clusters, execute_run, run_in_process
from .layout import ARTIFACTS, UPLOADS_FOLDER, RunFolder, is_run_id, uploads_dir
from .manage import (UPLOAD_KEEP_SECONDS, create_run, default_runs_dir, delete_run, new_run_id, prune_uploads,
                     request_stop, resolve_run_dir, storage_problem)
from .recorder import MAX_SNAPSHOT_POINTS, RunRecorder, snapshot_index
from .records import (Run, artifact_damaged, list_runs, list_snapshots, load_artifact, load_embedding, load_run, read_metrics,
                      load_snapshot, save_embedding)
from .states import ACTIVE_STATES, ENDED_STATES, STATES, pid_alive, reconcile_run
from .layout import run_dirs as _run_dirs


def reconcile(runs_dir) -> list:
    """Record the runs whose worker died (state running, worker gone) as failed; return their ids. A run whose
    status cannot be written (a full or read-only folder) is left as it is: readers already report it as
    failed (:func:`~.states.effective_state`), and the next reconcile records it."""
    recorded = []
    for path in _run_dirs(runs_dir):
        try:
            if reconcile_run(path):
                recorded.append(path.name)
        except OSError:
            continue
    return recorded


__all__ = ["ACTIVE_STATES", "apply_file_clusters", "artifact_damaged", "ARTIFACTS", "ENDED_STATES", "MAX_SNAPSHOT_POINTS", "STATES", "UPLOADS_FOLDER",
           "UPLOAD_KEEP_SECONDS", "Run", "RunFolder", "RunRecorder", "create_run", "default_runs_dir", "delete_run",
           "execute_run", "is_run_id", "list_runs", "list_snapshots", "load_artifact", "load_embedding",
           "load_run", "load_snapshot", "new_run_id", "pid_alive", "prune_uploads", "read_metrics", "reconcile",
           "reconcile_run", "request_stop", "storage_problem", "run_in_process", "resolve_run_dir", "save_embedding", "snapshot_index", "uploads_dir"]
