"""Command line: ``python -m deepclust_core {train,methods,datasets,compare,sweep,bench}``.

Every hyperparameter of the chosen method is an option of ``train`` (``--n-neighbors``, ``--lambda``/``--lam``,
...), built from its typed config with its own help text (``train --method dgg --help``), so a new method's
parameters appear here unchanged.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import warnings
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from .errors import DeepClustError, InputError
from .settings import echo

# Dataset flags of `train`: (flag, dataset option it sets, type, help).
_DATASET_FLAGS = (("n_samples", "n_samples", int, "Number of samples (moons: total; mnist: subset)."),
                  ("gap", "gap", float, "moons: gap between the moons."),
                  ("noise", "noise", float, "moons: Gaussian noise."),
                  ("data_path", "path", str, "File to read (dataset 'file', or mnist/reuters10k)."),
                  ("data_seed", "random_state", int, "Seed of the data generator / subset."),
                  ("label_column", "label_column", str, "CSV label column (dataset 'file')."))


def _requested_method(argv: List[str]) -> Optional[str]:
    """The value of ``--method`` in ``argv`` (``--method X`` or ``--method=X``), before full parsing."""
    for index, token in enumerate(argv):
        if token == "--method" and index + 1 < len(argv):
            return argv[index + 1]
        if token.startswith("--method="):
            return token.split("=", 1)[1]
    return None


def _add_method_flags(parser: argparse.ArgumentParser, method: Optional[str]) -> None:
    """One option per hyperparameter of ``method``, with its own help text; without a (known) method, a note
    saying how to see them."""
    from .methods import get_method_class, list_methods

    if method is None or method.strip().lower() not in list_methods():
        parser.add_argument_group(
            "method hyperparameters",
            f"Give --method NAME (one of {', '.join(list_methods())}) to see and set its hyperparameters, "
            "e.g. `train --method dgg --help`.")
        return
    cls = get_method_class(method.strip().lower())
    group = parser.add_argument_group(
        f"{cls.__name__} hyperparameters (defaults: the dataset's recipe, then the method's)")
    for spec in cls.param_specs():
        if spec.name == "random_state":
            continue
        flags = ["--" + spec.name.replace("_", "-")]
        if spec.name == "lam":
            flags.insert(0, "--lambda")
        default = f" (default: {spec.default})" if spec.default not in (None, ()) else ""
        group.add_argument(*flags, dest=spec.name, default=None, metavar=spec.base_type.__name__.upper(),
                           help=(spec.help + default).replace("%", "%%"))  # argparse formats help with %


def _add_train_parser(sub, method: Optional[str]) -> None:
    parser = sub.add_parser("train", help="Fit one method on one dataset and report ACC/NMI/ARI.")
    parser.add_argument("--dataset", required=True, help="Dataset name (see `datasets`).")
    parser.add_argument("--method", required=True, help="Method name (see `methods`).")
    parser.add_argument("--seed", type=int, default=0, help="Method seed (random_state).")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    parser.add_argument("--runs-dir", default=None, help="Also write the run directory under this folder.")
    parser.add_argument("--verbose", action="store_true", help="Print a line per epoch to stderr.")
    parser.add_argument("--no-recipe", action="store_true", help="Ignore the dataset's recommended parameters.")
    group = parser.add_argument_group("dataset options")
    for flag, _, kind, help_text in _DATASET_FLAGS:
        group.add_argument("--" + flag.replace("_", "-"), type=kind, default=None, help=help_text)
    _add_method_flags(parser, method)


def build_parser(method: Optional[str] = None) -> argparse.ArgumentParser:
    """The CLI's parser; ``train`` gets the hyperparameter flags of ``method`` (each with its own help)."""
    parser = argparse.ArgumentParser(prog="python -m deepclust_core", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train_parser(sub, method)
    sub.add_parser("methods", help="List the registered methods.").add_argument("--json", action="store_true")
    sub.add_parser("datasets", help="List the registered datasets.").add_argument("--json", action="store_true")
    compare = sub.add_parser("compare", help="Run several methods over seeds; print a Markdown table.")
    compare.add_argument("--dataset", required=True)
    compare.add_argument("--methods", required=True, help="Comma-separated method names.")
    compare.add_argument("--seeds", default="0", help="Comma-separated seeds.")
    compare.add_argument("--n-samples", type=int, default=None)
    compare.add_argument("--csv", default=None, help="Also write the rows as CSV here.")
    compare.add_argument("--json", action="store_true")
    compare.add_argument("--runs-dir", default=None, help="Keep the run folders here (the app lists them); "
                         "default: a temporary folder, removed.")
    from .cli_sweep import add_executor_flags, add_sweep_parser

    add_executor_flags(compare, "Train on this machine's queue, N runs at once in their own processes "
                       "(default: one after another in this process).", "this machine")
    add_sweep_parser(sub, method, _add_method_flags)
    bench = sub.add_parser("bench", help="Throughput of VaDE/DGG against a bare PyTorch loop; kNN time.")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--quick", action="store_true", help="Small sizes (smoke test).")
    bench.add_argument("--device", default="auto")
    return parser


def train_config(args: argparse.Namespace) -> Dict:
    """The run configuration (dataset, options, method, params) from parsed train arguments: the dataset's
    recipe (unless --no-recipe), then the flags given."""
    from .config import method_specs, resolve_params

    given = {name: getattr(args, name) for name in method_specs(args.method)
             if name != "random_state" and getattr(args, name, None) is not None}
    params = resolve_params(args.dataset, args.method, given, use_recipe=not args.no_recipe)
    params["random_state"] = args.seed
    options = {key: getattr(args, flag) for flag, key, _, _ in _DATASET_FLAGS if getattr(args, flag) is not None}
    if str(args.dataset).strip().lower() == "file" and "n_clusters" in given:
        options["n_clusters"] = given["n_clusters"]  # a user file's K is a data option (see apply_file_clusters)
    return {"dataset": args.dataset, "dataset_options": options, "method": args.method, "params": params}


def _check_runs_dir(runs_dir: Optional[str]) -> None:
    """InputError before any training when ``--runs-dir`` cannot take a run (a file, read-only, /proc, full)."""
    from . import store

    if runs_dir is not None:
        problem = store.storage_problem(runs_dir)
        if problem:
            raise InputError(f"--runs-dir: {problem}.")


def _check_csv_path(path: str) -> None:
    """InputError before any training when the CSV cannot be written there (a folder, an unwritable place)."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise InputError(f"--csv {path} is a folder; give a file name.")
    existed = target.exists()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "a"):
            pass
    except OSError as exc:
        raise InputError(f"--csv {path} cannot be written: {exc.strerror or type(exc).__name__}.") from None
    if not existed:
        target.unlink(missing_ok=True)


def _seeds(text: str) -> List[int]:
    """Comma-separated whole numbers in [0, 2**32 - 1]; InputError naming the bad one."""
    from .params import SEED_MAX

    seeds = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        try:
            seed = int(part)
        except ValueError:
            raise InputError(f"--seeds must be comma-separated whole numbers; got {echo(part)}.") from None
        if not 0 <= seed <= SEED_MAX:
            raise InputError(f"--seeds: a seed must be between 0 and {SEED_MAX}; got {echo(part)}.")
        seeds.append(seed)
    if not seeds:
        raise InputError("--seeds needs at least one seed.")
    return seeds


def _check_before_writing(config: Dict) -> Dict:
    """The canonical config, after the checks that need the data (N_s >= n_samples, ...), before any run
    folder exists."""
    from .config import validate_config
    from .datasets import load_dataset
    from .methods import create_method

    config = validate_config(config)
    data = load_dataset(config["dataset"], **config["dataset_options"])  # cached in-process
    create_method(config["method"], **config["params"]).check_input(data.x, data.y)
    return config


@contextlib.contextmanager
def _signals_stop_the_run() -> Iterator[List[int]]:
    """SIGTERM and Ctrl-C (SIGINT) end the run as "stopped" (execute_run records a KeyboardInterrupt so);
    the list yielded holds the signal received, for the exit code 128 + signal."""
    received: List[int] = []

    def interrupt(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cmd_train(args: argparse.Namespace) -> int:
    from . import store

    _check_runs_dir(args.runs_dir)
    config = _check_before_writing(train_config(args))
    if args.verbose:
        config["verbose"] = True
    with warnings.catch_warnings(), _signals_stop_the_run() as received:
        warnings.simplefilter("ignore", RuntimeWarning)  # collapse etc. are reported in result["warnings"]
        result = store.run_in_process(config, args.runs_dir)
    state = result.get("state", "finished")
    if args.json:
        print(json.dumps(result, default=str))
    else:
        scores = " ".join(f"{k.upper()}={result[k]:.4f}" for k in ("acc", "nmi", "ari") if result.get(k) is not None)
        print(f"{args.method} on {args.dataset}: {scores} in {result.get('seconds', 0):.1f}s [{state}]")
        for warning in result.get("warnings", []):
            print(f"warning: {warning}", file=sys.stderr)
    if state == "failed":
        print(f"error: {result.get('reason')}", file=sys.stderr)
        return 1
    if received:  # the run was stopped by a signal: it did not finish
        print(f"stopped by signal {received[0]}: {result.get('reason')}", file=sys.stderr)
        return 128 + received[0]
    return 0


def cmd_list(kind: str, as_json: bool) -> int:
    if kind == "methods":
        from .methods import get_method_class, list_methods

        rows = [{"name": n, "class": get_method_class(n).__name__,
                 "summary": (get_method_class(n).__doc__ or "").strip().splitlines()[0]} for n in list_methods()]
    else:
        from .datasets import list_datasets

        rows = [{"name": n} for n in list_datasets()]
    if as_json:
        print(json.dumps(rows))
    else:
        for row in rows:
            print(f"{row['name']:<14}{row.get('summary', '')}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from . import compare

    seeds = _seeds(args.seeds)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.csv:
        _check_csv_path(args.csv)  # before any training, so a bad path costs nothing
    _check_runs_dir(args.runs_dir)
    executor = compare.compare_executor(args.address, args.workers, args.cpus_per_run, args.gpus_per_run)
    print(f"compare: {len(methods) * len(seeds)} runs on {executor.describe()}", file=sys.stderr, flush=True)
    rows = compare.compare(args.dataset, methods, seeds, n_samples=args.n_samples, runs_dir=args.runs_dir,
                           executor=executor, progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(json.dumps(rows, default=str) if args.json else compare.format_markdown(rows), flush=True)
    code = 0
    if args.csv:  # after the table: a problem here loses nothing that was printed
        try:
            compare.write_csv(rows, args.csv)
        except OSError as exc:
            print(f"error: could not write --csv {args.csv}: {exc.strerror or type(exc).__name__}", file=sys.stderr)
            code = 1
    failed = [row for row in rows if row.get("error")]
    if failed:
        print(f"error: {len(failed)} of {len(rows)} runs failed (see the error column)", file=sys.stderr)
        code = 1
    return code


def cmd_bench(args: argparse.Namespace) -> int:
    from . import bench

    result = bench.run(quick=args.quick, device=args.device)
    print(json.dumps(result, indent=None if args.json else 2, default=str))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    method = _requested_method(argv)
    if method is not None and argv[:1] in (["train"], ["sweep"]):
        from .methods import get_method_class

        try:
            get_method_class(method)  # an unknown method is named before its flags are called unknown
        except DeepClustError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    args = build_parser(method).parse_args(argv)
    try:
        if args.command == "train":
            return cmd_train(args)
        if args.command in ("methods", "datasets"):
            return cmd_list(args.command, args.json)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "bench":
            return cmd_bench(args)
        if args.command == "sweep":
            from .cli_sweep import cmd_sweep

            return cmd_sweep(args)
    except DeepClustError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 2
