"""Sweeps: a grid of one method's hyperparameters × seeds on one dataset, each point one run, summarised as the
paper's Table 2 (mean ± sample std over seeds per value).

    from deepclust_core.sweep import Sweep, run_sweep, format_table
    sweep = Sweep("moons", "dgg", grid={"n_neighbors": [0, 1, 3, 10, 20, 30]}, seeds=[0, 1, 2])
    result = run_sweep(sweep, "runs")                    # local queue; run_sweep(..., address="HOST:PORT") for Ray
    print(format_table(result.table))

Every run's parameters come from :func:`deepclust_core.config.resolve_params` (the dataset's recipe, then
``params``, then the grid point, then ``random_state = seed``), every run is a run folder under ``runs_dir``,
trained by an executor (:mod:`deepclust_core.executors`) through :func:`run_configs`, the door ``compare`` uses
too. A sweep started again over the same runs folder skips
the runs that already finished (same canonical config), waits for those still training, and reruns the ones
that failed or were stopped. Scores are never used to pick a seed; failed runs are counted and left out of
the means.
"""
from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from . import fileio, store
from .config import method_specs, resolve_params, validate_config
from .errors import InputError
from .executors.base import Executor, OnEnd, schedule_lock, wait_for_runs
from .jobs import get_executor
from .metrics import mean_std
from .store import states
from .store.layout import PathLike

SCORES = ("acc", "nmi", "ari")
_NOT_IN_KEY = ("created", "label", "group", "verbose")


@dataclass
class Sweep:
    """``grid``: parameter name -> values (their product is swept); ``params``: fixed overrides."""

    dataset: str
    method: str
    grid: Dict[str, List[Any]]
    seeds: List[int]
    dataset_options: Dict[str, Any] = field(default_factory=dict)
    params: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.seeds = [int(seed) for seed in self.seeds]
        specs = method_specs(self.method)  # InputError for an unknown method
        unknown = [name for name in list(self.grid) + list(self.params) if name not in specs]
        if unknown:
            raise InputError(f"{self.method} has no parameter {', '.join(map(repr, unknown))}.")
        if not self.seeds or any(not values for values in self.grid.values()):
            raise InputError("A sweep needs at least one seed and at least one value per swept parameter.")

    @property
    def keys(self) -> List[str]:
        return list(self.grid)

    @property
    def group(self) -> str:
        """A stable group id (the same sweep gets the same id); an N_s sweep shows on the app's Ablation page."""
        digest = hashlib.sha1(json.dumps([self.dataset, self.dataset_options, self.method, self.grid, self.seeds,
                                          self.params], sort_keys=True, default=str).encode()).hexdigest()[:10]
        return f"{'ablation' if self.keys == ['n_neighbors'] else 'sweep'}-{digest}"

    def points(self) -> List[Dict[str, Any]]:
        return [dict(zip(self.keys, values)) for values in itertools.product(*self.grid.values())]

    def configs(self) -> List[Dict[str, Any]]:
        """One validated run config per (grid point, seed), seeds inside each point (each value gets a first
        number early)."""
        configs = []
        for point in self.points():
            params = resolve_params(self.dataset, self.method, {**self.params, **point})
            for seed in self.seeds:
                label = " ".join(f"{key}={value}" for key, value in point.items()) + f" seed={seed}"
                configs.append(validate_config({
                    "dataset": self.dataset, "dataset_options": dict(self.dataset_options), "method": self.method,
                    "params": {**params, "random_state": seed}, "group": self.group, "label": label.strip()}))
        return configs


def config_key(config: Mapping[str, Any]) -> str:
    """What makes two runs the same run: the canonical config without its label, group and time."""
    kept = {key: value for key, value in config.items() if key not in _NOT_IN_KEY}
    return json.dumps(fileio.jsonable(kept), sort_keys=True)


@dataclass
class SweepResult:
    rows: List[Dict[str, Any]]
    table: List[Dict[str, Any]]
    skipped: int  # runs found finished from an earlier start, not trained again
    executor: str


def row_of(run: store.Run, keys: Sequence[str]) -> Dict[str, Any]:
    params = run.config.get("params") or {}
    result = run.result or {}
    finished = run.state == "finished"
    row = {key: params.get(key) for key in keys}
    row.update({"seed": params.get("random_state"), "state": run.state, "run_id": run.id,
                "reason": None if finished else run.reason,
                "seconds": result.get("seconds") if finished else None})
    row.update({score: result.get(score) if finished else None for score in SCORES})
    return row


def summarize(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> List[Dict[str, Any]]:
    """Per grid point (first-seen order): runs, finished, failed, mean ± sample std of ACC/NMI/ARI and the
    mean seconds of a run (:func:`deepclust_core.metrics.mean_std`)."""
    groups: Dict[Tuple, List[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[key] for key in keys), []).append(row)
    table = []
    for point, members in groups.items():
        entry = dict(zip(keys, point))
        entry.update({"runs": len(members), "finished": sum(r["state"] == "finished" for r in members),
                      "failed": sum(r["state"] in ("failed", "broken") for r in members)})
        for name in (*SCORES, "seconds"):
            stats = mean_std(r[name] for r in members if r["state"] == "finished")
            entry[name], entry[f"{name}_std"] = stats["mean"], stats["std"]
        table.append(entry)
    return table


def _cell(mean: Optional[float], std: Optional[float], digits: int = 3) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_table(table: Sequence[Mapping[str, Any]], keys: Optional[Sequence[str]] = None) -> str:
    """The Table 2 shaped Markdown table: one line per value, ACC/NMI/ARI mean ± sample std, runs, seconds."""
    if keys is None:
        keys = [k for k in (table[0] if table else {}) if k not in
                ("runs", "finished", "failed", *SCORES, "seconds", *(f"{s}_std" for s in (*SCORES, "seconds")))]
    header = [*keys, "ACC", "NMI", "ARI", "runs", "seconds/run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for entry in table:
        runs = f"{entry['finished']}/{entry['runs']}" + (f" ({entry['failed']} failed)" if entry["failed"] else "")
        cells = [str(entry[key]) for key in keys] + [_cell(entry[s], entry[f"{s}_std"]) for s in SCORES]
        cells += [runs, _cell(entry["seconds"], None, 1)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plan(sweep: Sweep, runs_dir: PathLike) -> Tuple[List[Path], List[Path], List[Dict[str, Any]]]:
    """(finished run folders to reuse, active ones to wait for, configs still to run) for ``sweep`` in
    ``runs_dir``; runs of dead workers are recorded as failed first, so they are run again."""
    store.reconcile(runs_dir)
    by_key: Dict[str, List[store.Run]] = {}
    for run in store.list_runs(runs_dir):
        if run.config.get("group") == sweep.group or run.state == "finished":
            by_key.setdefault(config_key(run.config), []).append(run)
    done, waiting, todo = [], [], []
    for config in sweep.configs():
        known = by_key.get(config_key(config), [])
        finished = [run for run in known if run.state == "finished"]
        active = [run for run in known if run.active]
        if finished:
            done.append(finished[0].path)
        elif active:
            waiting.append(active[0].path)
        else:
            todo.append(config)
    return done, waiting, todo


class InProcess(Executor):
    """Trains the runs in this process, one after another, as ``train`` does (``compare``'s default): no worker
    process, so no start-up cost in a timing and what the caller set up in this process applies. Each run is
    claimed under the queue's lock just before it trains, so the local queue never starts it too."""

    name = "in-process"

    def describe(self) -> str:
        return "this process (one run at a time)"

    def start(self, runs_dir: PathLike, run_dirs: Sequence[Path]) -> None:
        self.run(runs_dir, run_dirs)

    def run(self, runs_dir: PathLike, run_dirs: Sequence[Path], on_end: OnEnd = None) -> List[store.Run]:
        runs = []
        for path in (Path(path) for path in run_dirs):
            with schedule_lock(runs_dir):
                claimed = states.mark_scheduled(path)
                if claimed:
                    states.record_worker(path, os.getpid())
            if not claimed:  # stopped (or started elsewhere) before its turn: report it as it ends
                runs.extend(wait_for_runs([path], on_end))
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a run keeps its warnings in log.txt
                store.execute_run(path)
            runs.append(store.load_run(path))
            if on_end is not None:
                on_end(runs[-1])
        return runs


def run_configs(executor: Executor, runs_dir: PathLike, configs: Sequence[Mapping[str, Any]], on_end: OnEnd = None,
                waiting: Sequence[Path] = ()) -> List[Path]:
    """The one way a batch of runs (a sweep, a comparison) goes through the executor seam: a run folder per
    config under ``runs_dir`` (queued), trained on ``executor``, ``on_end(run)`` called as each ends (in the order
    they end; ``waiting``: folders of runs already training elsewhere, reported as they end, first). Returns the
    new folders in the order of ``configs``. The caller checks the executor (``executor.check()``) first."""
    new = [store.create_run(runs_dir, dict(config)).path for config in configs]
    if waiting:
        wait_for_runs(waiting, on_end)
    if new:
        executor.run(runs_dir, new, on_end)
    return new


def run_sweep(sweep: Sweep, runs_dir: PathLike, executor: Optional[Executor] = None, address: Optional[str] = None,
              on_result: Optional[Callable[[Dict[str, Any], List[Dict[str, Any]]], None]] = None) -> SweepResult:
    """Run every point × seed of ``sweep`` not finished yet on ``executor`` (default: the Ray cluster at
    ``address`` or the configured one, else the local queue), calling ``on_result(row, table so far)`` as each
    run ends; return every row (reused ones first) and the table."""
    executor = executor or get_executor(address)
    executor.check()  # an unreachable cluster: a clear error before anything is written
    done, waiting, todo = plan(sweep, runs_dir)
    rows = [row_of(store.load_run(path), sweep.keys) for path in done]

    def ended(run: store.Run) -> None:
        rows.append(row_of(run, sweep.keys))
        if on_result is not None:
            on_result(rows[-1], summarize(rows, sweep.keys))

    new = run_configs(executor, runs_dir, todo, ended, waiting)
    order = {config_key(config): index for index, config in enumerate(sweep.configs())}
    runs = sorted((store.load_run(path) for path in (*done, *waiting, *new)),
                  key=lambda run: order.get(config_key(run.config), len(order)))
    final = [row_of(run, sweep.keys) for run in runs]
    return SweepResult(rows=final, table=summarize(final, sweep.keys), skipped=len(done), executor=executor.describe())


COLUMNS = ("seed", "state", *SCORES, "seconds", "run_id", "reason")


def write_csv(result: SweepResult, keys: Sequence[str], path: PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*keys, *COLUMNS], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(result.rows)
    return path


def write_json(result: SweepResult, sweep: Sweep, path: PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fileio.write_json(path, {"dataset": sweep.dataset, "method": sweep.method, "grid": sweep.grid,
                             "seeds": sweep.seeds, "dataset_options": sweep.dataset_options, "params": sweep.params,
                             "executor": result.executor, "skipped": result.skipped, "table": result.table,
                             "runs": result.rows})
    return path
