"""The CLI's ``sweep`` command: a grid of one method's hyperparameters × seeds, on this machine's queue or a Ray
cluster, printed as the paper's Table 2 as runs finish and written as CSV / JSON.

    python -m deepclust_core sweep --dataset moons --method dgg --n-neighbors 0,1,3,10,20,30 --seeds 0,1,2 \\
        [--address HOST:PORT] [--cpus-per-run N] [--gpus-per-run F] [--workers N] [--csv F] [--json-out F]

Every hyperparameter flag of the method takes a comma-separated list: flags with several values are swept
(their product), flags with one value are fixed (tuple-valued ones such as ``--hidden-dims 20,20`` are one
value). The runs go under ``--runs-dir`` (default ``$DEEPCLUST_RUNS``, else ``./runs``), so the app shows them
live and a sweep started again skips the runs that already finished.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Dict, List

_DATASET_FLAGS = (("n_samples", "n_samples", int), ("gap", "gap", float), ("noise", "noise", float),
                  ("data_path", "path", str), ("data_seed", "random_state", int))


def add_executor_flags(parser: argparse.ArgumentParser, workers_help: str, local: str) -> None:
    """Where a batch of runs trains (``sweep``, ``compare``): ``--address`` (Ray), ``--cpus-per-run``,
    ``--gpus-per-run`` and ``--workers`` (this machine's queue); ``local`` says what no address means."""
    parser.add_argument("--address", default=None, help="Ray cluster address (default $DEEPCLUST_RAY_ADDRESS or "
                        f"$RAY_ADDRESS; empty or 'local': {local}).")
    parser.add_argument("--cpus-per-run", type=float, default=None, help="Ray: CPUs per run (default 1).")
    parser.add_argument("--gpus-per-run", type=float, default=None, help="Ray: GPUs per run, a fraction shares one.")
    parser.add_argument("--workers", type=int, default=None, help=workers_help)


def add_sweep_parser(sub, method, add_method_flags: Callable) -> None:
    parser = sub.add_parser("sweep", help="Sweep hyperparameter values × seeds (local queue or Ray); Table 2.",
                            description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--seeds", default="0", help="Comma-separated seeds (default 0).")
    add_executor_flags(parser, "Local queue: runs at once (default $DEEPCLUST_MAX_JOBS, else 1).",
                       "this machine's queue")
    parser.add_argument("--runs-dir", default=None, help="Runs folder (default $DEEPCLUST_RUNS, else ./runs).")
    parser.add_argument("--csv", default=None, help="Write one line per run here.")
    parser.add_argument("--json-out", default=None, help="Write the table and the runs as JSON here.")
    parser.add_argument("--json", action="store_true", help="Print the result as JSON instead of the table.")
    group = parser.add_argument_group("dataset options")
    for flag, _, kind in _DATASET_FLAGS:
        group.add_argument("--" + flag.replace("_", "-"), type=kind, default=None)
    add_method_flags(parser, method)


def _grid(args: argparse.Namespace) -> tuple:
    """(swept values, fixed values) of the method flags given."""
    from .config import method_specs
    from .params import coerce_value

    grid: Dict[str, List[Any]] = {}
    fixed: Dict[str, Any] = {}
    for name, spec in method_specs(args.method).items():
        text = getattr(args, name, None)
        if name == "random_state" or text is None:
            continue
        parts = [text] if spec.base_type is tuple else [p for p in str(text).split(",") if p.strip()]
        values = [coerce_value(spec, part.strip()) for part in parts]
        if len(values) > 1:
            grid[name] = values
        elif values:
            fixed[name] = values[0]
    return grid, fixed


def cmd_sweep(args: argparse.Namespace) -> int:
    from . import settings
    from .jobs import get_executor
    from .sweep import Sweep, format_table, run_sweep, write_csv, write_json

    grid, fixed = _grid(args)
    options = {key: getattr(args, flag) for flag, key, _ in _DATASET_FLAGS if getattr(args, flag) is not None}
    seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    sweep = Sweep(args.dataset, args.method, grid, seeds, dataset_options=options, params=fixed)
    sweep.configs()  # every run's parameters checked before anything is written
    executor = get_executor(args.address, max_jobs=args.workers, cpus_per_run=args.cpus_per_run,
                            gpus_per_run=args.gpus_per_run)
    total = len(sweep.points()) * len(seeds)
    print(f"sweep {sweep.group}: {total} runs on {executor.describe()}", file=sys.stderr, flush=True)

    def on_result(row: Dict[str, Any], table: List[Dict[str, Any]]) -> None:
        point = " ".join(f"{key}={row[key]}" for key in sweep.keys)
        score = f"ACC {row['acc']:.4f} in {row['seconds']:.1f}s" if row["state"] == "finished" else row["reason"]
        print(f"{point} seed={row['seed']}: {row['state']} {score or ''}", file=sys.stderr, flush=True)
        if any(entry["runs"] == len(seeds) for entry in table if all(entry[k] == row[k] for k in sweep.keys)):
            print(format_table(table, sweep.keys), file=sys.stderr, flush=True)  # a value's seeds are all in

    result = run_sweep(sweep, args.runs_dir or settings.runs_dir(), executor=executor, on_result=on_result)
    if result.skipped:
        print(f"{result.skipped} runs had already finished and were not trained again.", file=sys.stderr)
    if args.csv:
        write_csv(result, sweep.keys, args.csv)
    if args.json_out:
        write_json(result, sweep, args.json_out)
    if args.json:
        print(json.dumps({"table": result.table, "runs": result.rows, "skipped": result.skipped}, default=str))
    else:
        print(format_table(result.table, sweep.keys))
    return 1 if any(row["state"] != "finished" for row in result.rows) else 0
