"""The N_s sweep on moons (paper Table 2 shaped) through each executor: wall time, per-run cost and overhead.

    python -m benchmarks.sweep --executor local --workers 1 --set epochs=40 --tag local1
    python -m benchmarks.sweep --executor local --workers 2 --set epochs=40 --tag local2
    python -m benchmarks.sweep --executor ray --cpus 2 --set epochs=40 --tag ray2      # starts Ray on 127.0.0.1
    python -m benchmarks.sweep --executor ray --address HOST:PORT --tag cluster          # an existing cluster

Each starts from an empty pretrained-autoencoder cache (so each seed pretrains once, as a fresh machine would)
in a temporary runs folder. Overheads, from the run folders' status times:

- ``overhead_per_run``: (wall × parallel slots − Σ run seconds) / runs, everything that is not training;
- local: ``spawn_to_start`` (the worker process and its imports, scheduled → started);
- Ray: ``dispatch`` (submission, or the end of the previous run on the same Ray worker process, → the task
  starts), ``start_to_first_epoch`` (the task starts → the driver has written the first epoch line here:
  data, model, pretrained cache, the relay), and their sum, ``submission_to_first_epoch`` of a run that did
  not wait for a free CPU.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from .common import overrides, record, seeds_arg, summarise


def _ray_overheads(runs) -> dict:
    dispatch, first = [], []
    by_worker = {}
    for run in sorted(runs, key=lambda r: r.status.get("remote_started") or 0):
        status = run.status
        if not status.get("remote_started"):
            continue
        pid = (status.get("remote_host"), status.get("remote_pid"))
        free = max(status["submitted"], by_worker.get(pid, 0.0))
        dispatch.append(status["remote_started"] - free)
        if status.get("first_epoch"):
            first.append(status["first_epoch"] - status["remote_started"])
        by_worker[pid] = status.get("finished") or 0.0
    sums = [a + b for a, b in zip(dispatch, first)]
    return {"dispatch": summarise(dispatch), "start_to_first_epoch": summarise(first),
            "submission_to_first_epoch": summarise(sums),
            "ray_worker_processes": len(by_worker)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="moons")
    parser.add_argument("--method", default="dgg")
    parser.add_argument("--n-neighbors", default="0,1,3,10,20,30")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--n-samples", type=int, default=None)
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--workers", type=int, default=1, help="local: runs at once")
    parser.add_argument("--cpus", type=int, default=2, help="ray: CPUs of the local cluster started here")
    parser.add_argument("--address", default=None, help="ray: an existing cluster instead of a local one")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--tag", default=None)
    args = parser.parse_args()
    started = time.time()
    scratch = Path(tempfile.mkdtemp(prefix="deepclust-sweep-bench-"))
    os.environ["DEEPCLUST_CACHE"] = str(scratch / "cache")  # every seed pretrains once, in every measurement
    from deepclust_core import store
    from deepclust_core.jobs import LocalQueue
    from deepclust_core.sweep import Sweep, run_sweep

    figures = {"tag": args.tag, "executor": args.executor, "overrides": args.set}
    if args.executor == "ray":
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # a local cluster binds to 127.0.0.1
        import ray

        from deepclust_core.executors.raycluster import RayExecutor

        t0 = time.time()
        if args.address:
            ray.init(address=args.address, log_to_driver=False, logging_level="ERROR")
            address = args.address
        else:
            ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
            address = ray.get_runtime_context().gcs_address
        figures["cluster_start_seconds"] = time.time() - t0
        figures["cluster_cpus"] = ray.cluster_resources().get("CPU")
        executor, parallel = RayExecutor(address), int(ray.cluster_resources().get("CPU", 1))
    else:
        executor, parallel = LocalQueue(args.workers), args.workers
    params = overrides(args.set, args.method)
    options = {"n_samples": args.n_samples} if args.n_samples else {}
    sweep = Sweep(args.dataset, args.method, grid={"n_neighbors": seeds_arg(args.n_neighbors)},
                  seeds=seeds_arg(args.seeds), dataset_options=options, params=params)
    t0 = time.time()
    result = run_sweep(sweep, scratch / "runs", executor=executor)
    wall = time.time() - t0
    runs = [store.load_run(scratch / "runs" / row["run_id"]) for row in result.rows]
    seconds = [row["seconds"] or 0.0 for row in result.rows]
    figures.update({"executor_description": result.executor, "parallel": parallel, "sweep_wall_seconds": wall,
                    "runs": result.rows, "table": result.table, "run_seconds": summarise(seconds),
                    "overhead_per_run": (wall * parallel - sum(seconds)) / len(seconds)})
    if args.executor == "ray":
        figures.update(_ray_overheads(runs))
        ray.shutdown()
    else:
        figures["spawn_to_start"] = summarise(r.status["started"] - r.status["scheduled"] for r in runs
                                              if r.status.get("started") and r.status.get("scheduled"))
    record("sweep", figures, started)


if __name__ == "__main__":
    main()
