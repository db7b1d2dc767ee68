"""Run several methods over several seeds on one dataset and tabulate ACC / NMI / ARI.

    from deepclust_core.compare import compare, format_markdown, write_csv
    rows = compare("moons", ["kmeans", "dec", "dgg"], seeds=[0, 1, 2])
    print(format_markdown(rows))

Each method gets its parameters from :func:`deepclust_core.config.resolve_params`: the dataset's recipe, then
the caller's overrides (``params["*"]`` for every method that has the parameter, then ``params[method]``),
then ``random_state = seed``. Every run is a run folder (under ``runs_dir``, else a temporary folder that is
removed), on the same data; only the methods' seeds vary. The runs go through the executor seam the sweep uses
(:func:`deepclust_core.sweep.run_configs`): by default they train in this process one after another, as a
``train`` does; ``workers=N`` trains them on this machine's queue, N processes at once; ``address=`` (else
``$DEEPCLUST_RAY_ADDRESS`` / ``$RAY_ADDRESS``) on a Ray cluster, each run streamed back into its folder here.
The same seeds give the same labels whichever trains them. Scores are never used to pick a seed: the table
reports mean ± sample standard deviation over all seeds. A run that fails (divergence, bad parameter, a lost
worker) is kept as a row with its reason and left out of the means.
"""
from __future__ import annotations

import contextlib
import csv
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence

from . import store
from .config import resolve_params, validate_config
from .datasets import load_dataset
from .errors import InputError
from .executors.base import Executor, ray_address
from .jobs import get_executor
from .methods import get_method_class
from .metrics import mean_std
from .store import states
from .sweep import InProcess, run_configs

COLUMNS = ("dataset", "n_samples", "method", "seed", "acc", "nmi", "ari", "seconds", "clusters_used",
           "pretrain_cached", "error")
SCORES = ("acc", "nmi", "ari")


def method_params(dataset: str, method: str, params: Optional[Mapping[str, Mapping]] = None) -> Dict:
    """The parameters ``compare`` gives ``method``: recipe, then ``params["*"]``, then ``params[method]``."""
    accepted = {spec.name for spec in get_method_class(method).param_specs()}
    params = params or {}
    shared = {key: value for key, value in params.get("*", {}).items() if key in accepted}
    return resolve_params(dataset, method, {**shared, **params.get(method, {})})


def compare_executor(address: Optional[str] = None, workers: Optional[int] = None,
                     cpus_per_run: Optional[float] = None, gpus_per_run: Optional[float] = None) -> Executor:
    """Where ``compare``'s runs train: the Ray cluster at ``address`` (else ``$DEEPCLUST_RAY_ADDRESS`` /
    ``$RAY_ADDRESS``; empty or "local": this machine), ``cpus_per_run`` / ``gpus_per_run`` each; else this
    machine's queue, ``workers`` processes at once, when ``workers`` is given; else this process, one run after
    another (:class:`deepclust_core.sweep.InProcess`)."""
    if ray_address(address) is None and workers is None:
        return InProcess()
    return get_executor(address, max_jobs=workers, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run)


def compare(dataset: str, methods: Sequence[str], seeds: Iterable[int], n_samples: Optional[int] = None,
            dataset_options: Optional[Mapping] = None, params: Optional[Mapping[str, Mapping]] = None,
            progress: Optional[Callable[[str], None]] = None, runs_dir=None, address: Optional[str] = None,
            workers: Optional[int] = None, cpus_per_run: Optional[float] = None,
            gpus_per_run: Optional[float] = None, executor: Optional[Executor] = None) -> List[Dict]:
    """Fit every method with every seed on ``dataset``; one row (a dict, see COLUMNS) per run, in (method,
    seed) order; ``progress(line)`` as each run ends. Where they train: ``executor``, else
    :func:`compare_executor` (``address``, ``workers``, ``cpus_per_run``, ``gpus_per_run``)."""
    seeds = [int(seed) for seed in seeds]
    methods = list(methods)
    if not methods or not seeds:
        raise InputError("compare needs at least one method and one seed.")
    for method in methods:
        get_method_class(method)  # unknown names fail before any training
    options = dict(dataset_options or {})
    if n_samples is not None:
        options["n_samples"] = n_samples
    data = load_dataset(dataset, **options)
    if data.y is None:
        raise InputError(f"Dataset {dataset!r} has no labels: ACC/NMI/ARI cannot be computed.")
    configs = []
    for method in methods:
        params_of = method_params(dataset, method, params)
        params_of.setdefault("n_clusters", data.n_clusters)
        validate_config({"dataset": dataset, "dataset_options": options, "method": method,
                         "params": params_of})  # a bad parameter fails before any training
        configs += [{"dataset": dataset, "dataset_options": options, "method": method,
                     "params": {**params_of, "random_state": seed}, "label": f"{method} seed={seed}"}
                    for seed in seeds]
    executor = executor or compare_executor(address, workers, cpus_per_run, gpus_per_run)
    executor.check()  # an unreachable cluster: a clear error before anything is written

    def ended(run: store.Run) -> None:
        if progress is not None:
            progress(_describe(_row(data, run)))

    with contextlib.ExitStack() as stack:
        folder = runs_dir or stack.enter_context(tempfile.TemporaryDirectory(prefix="deepclust-compare-"))
        paths = run_configs(executor, folder, configs, ended)
        rows = [_row(data, store.load_run(path)) for path in paths]
        if not runs_dir:
            _let_workers_exit(paths)  # a local worker's last act writes the queue's lock file in the folder
    return rows


def _row(data, run: store.Run) -> Dict:
    result = run.result or {}
    row = {"dataset": data.name, "n_samples": len(data), "method": run.config.get("method"),
           "seed": (run.config.get("params") or {}).get("random_state"), "acc": math.nan, "nmi": math.nan,
           "ari": math.nan, "seconds": result.get("seconds", math.nan), "clusters_used": None,
           "pretrain_cached": None, "error": ""}
    if run.state != "finished":
        row["error"] = result.get("reason") or run.reason or run.state or "failed"
        return row
    row.update({key: result[key] for key in SCORES})
    row["clusters_used"] = result.get("clusters_used")
    row["pretrain_cached"] = result.get("pretrain_cached")
    return row


def _let_workers_exit(paths: Sequence[Path], patience: float = 10.0) -> None:
    """Wait (up to ``patience`` seconds) until the processes that trained ``paths`` other than this one exit."""
    deadline = time.monotonic() + patience
    for path in paths:
        status = states.read_status(path)
        pid = status.get("pid")
        while (pid and pid != os.getpid() and time.monotonic() < deadline
               and states.pid_alive(pid, status.get("pid_start"))):
            time.sleep(0.05)


def _describe(row: Dict) -> str:
    head = f"{row['method']} seed {row['seed']}"
    if row["error"]:
        return f"{head}: failed: {row['error']}"
    return (f"{head}: ACC {row['acc']:.4f} NMI {row['nmi']:.4f} ARI {row['ari']:.4f} "
            f"({row['seconds']:.1f}s, {row['clusters_used']} clusters used)")


def summarize(rows: Sequence[Dict]) -> List[Dict]:
    """Per (dataset, method), in first-seen order: runs, failures and mean/std of scores and seconds.

    The standard deviation is the sample one (ddof = 1, :func:`deepclust_core.metrics.mean_std`); it is
    absent for a single run.
    """
    groups: Dict[tuple, List[Dict]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["method"]), []).append(row)
    summary = []
    for (dataset, method), group in groups.items():
        done = [row for row in group if not row["error"]]
        entry = {"dataset": dataset, "method": method, "runs": len(group), "failed": len(group) - len(done),
                 "n_samples": group[0]["n_samples"]}
        for key in (*SCORES, "seconds"):
            stats = mean_std(row[key] for row in done)
            entry[key] = math.nan if stats["mean"] is None else stats["mean"]
            entry[f"{key}_std"] = stats["std"]
        summary.append(entry)
    return summary


def _mean_std(mean: float, std: Optional[float], digits: int) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_markdown(rows: Sequence[Dict]) -> str:
    """A Markdown table: one line per method, ACC/NMI/ARI mean ± std over seeds, mean seconds."""
    summary = summarize(rows)
    several = len({entry["dataset"] for entry in summary}) > 1
    header = (["Dataset"] if several else []) + ["Method", "ACC", "NMI", "ARI", "Seconds", "Seeds"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for entry in summary:
        seeds = str(entry["runs"]) if not entry["failed"] else f"{entry['runs']} ({entry['failed']} failed)"
        cells = ([entry["dataset"]] if several else []) + [entry["method"]]
        cells += [_mean_std(entry[key], entry[f"{key}_std"], 3) for key in SCORES]
        cells += [_mean_std(entry["seconds"], None, 1), seeds]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(rows: Sequence[Dict], path) -> Path:
    """Write one line per run (columns: COLUMNS) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: row.get(key) for key in COLUMNS})
    return path
