"""Command line: ``python -m deepclust_core {train,methods,datasets,compare,bench}``.

Every method hyperparameter is an option (``--n-neighbors``, ``--lambda``/``--lam``, ...), built
from the registered methods' typed configs, so a new method's parameters appear here unchanged.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from typing import Dict, List, Optional

from .errors import DeepClustError, InputError

# Dataset options that have their own CLI flags; they go to load_dataset, not to the method.
DATASET_FLAGS = {"n_samples": int, "gap": float, "noise": float, "data_path": str, "data_seed": int,
                 "label_column": str}


def _method_param_names() -> Dict[str, object]:
    from .methods import get_method_class, list_methods

    specs = {}
    for name in list_methods():
        for spec in get_method_class(name).param_specs():
            specs.setdefault(spec.name, spec)
    return specs


def _add_train_parser(sub) -> None:
    parser = sub.add_parser("train", help="Fit one method on one dataset and report ACC/NMI/ARI.")
    parser.add_argument("--dataset", required=True, help="Dataset name (see `datasets`).")
    parser.add_argument("--method", required=True, help="Method name (see `methods`).")
    parser.add_argument("--seed", type=int, default=0, help="Method seed (random_state).")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    parser.add_argument("--runs-dir", default=None, help="Also write the run directory under this folder.")
    parser.add_argument("--verbose", action="store_true", help="Print a line per epoch to stderr.")
    parser.add_argument("--no-recipe", action="store_true", help="Ignore the dataset's recommended parameters.")
    group = parser.add_argument_group("dataset options")
    group.add_argument("--n-samples", type=int, default=None, help="Number of samples (moons: total; mnist: subset).")
    group.add_argument("--gap", type=float, default=None, help="moons: gap between the moons.")
    group.add_argument("--noise", type=float, default=None, help="moons: Gaussian noise.")
    group.add_argument("--data-path", default=None, help="File to read (dataset 'file', or mnist/reuters10k).")
    group.add_argument("--data-seed", type=int, default=None, help="Seed of the data generator / subset.")
    group.add_argument("--label-column", default=None, help="CSV label column (dataset 'file').")
    methods = parser.add_argument_group("method hyperparameters (defaults: the dataset's recipe, then the method's)")
    for name, spec in _method_param_names().items():
        if name == "random_state":
            continue
        flags = ["--" + name.replace("_", "-")]
        if name == "lam":
            flags.insert(0, "--lambda")
        methods.add_argument(*flags, dest=name, default=None, metavar=spec.base_type.__name__.upper(),
                             help=spec.help.replace("%", "%%"))  # argparse formats help with %


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m deepclust_core", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train_parser(sub)
    sub.add_parser("methods", help="List the registered methods.").add_argument("--json", action="store_true")
    sub.add_parser("datasets", help="List the registered datasets.").add_argument("--json", action="store_true")
    compare = sub.add_parser("compare", help="Run several methods over seeds; print a Markdown table.")
    compare.add_argument("--dataset", required=True)
    compare.add_argument("--methods", required=True, help="Comma-separated method names.")
    compare.add_argument("--seeds", default="0", help="Comma-separated seeds.")
    compare.add_argument("--n-samples", type=int, default=None)
    compare.add_argument("--csv", default=None, help="Also write the rows as CSV here.")
    compare.add_argument("--json", action="store_true")
    bench = sub.add_parser("bench", help="Throughput of VaDE/DGG against a bare PyTorch loop; kNN time.")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--quick", action="store_true", help="Small sizes (smoke test).")
    bench.add_argument("--device", default="auto")
    return parser


def train_config(args: argparse.Namespace) -> Dict:
    """The run configuration (dataset, options, method, params) from parsed train arguments."""
    from .methods import get_method_class
    from .params import coerce_value
    from .recipes import recipe

    cls = get_method_class(args.method)
    specs = {spec.name: spec for spec in cls.param_specs()}
    params = {} if args.no_recipe else recipe(args.dataset, args.method)
    for name in _method_param_names():
        raw = getattr(args, name, None)
        if raw is None or name == "random_state":
            continue
        if name not in specs:
            raise InputError(f"Method {args.method!r} has no parameter {name!r} "
                             f"(--{name.replace('_', '-')}).")
        params[name] = coerce_value(specs[name], raw)
    params["random_state"] = args.seed
    options = {}
    for flag, key in (("n_samples", "n_samples"), ("gap", "gap"), ("noise", "noise"), ("data_path", "path"),
                      ("data_seed", "random_state"), ("label_column", "label_column")):
        value = getattr(args, flag)
        if value is not None:
            options[key] = value
    return {"dataset": args.dataset, "dataset_options": options, "method": args.method, "params": params}


def _check_before_writing(config: Dict) -> None:
    """Reject bad data/hyperparameter combinations (N_s >= n_samples, ...) before any run folder exists."""
    from .datasets import load_dataset
    from .methods import create_method

    data = load_dataset(config["dataset"], **config["dataset_options"])  # cached in-process
    create_method(config["method"], **config["params"]).check_input(data.x, data.y)


def cmd_train(args: argparse.Namespace) -> int:
    from . import runs

    config = train_config(args)
    _check_before_writing(config)
    if args.verbose:
        config["verbose"] = True
    with tempfile.TemporaryDirectory(prefix="deepclust-") as scratch, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # collapse etc. are reported in result["warnings"]
        run_dir = runs.create_run(args.runs_dir or scratch, config)
        result = runs.execute_run(run_dir)
    if args.runs_dir:
        result["run_dir"] = str(run_dir)
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

    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    rows = compare.compare(args.dataset, methods, seeds, n_samples=args.n_samples,
                           progress=lambda line: print(line, file=sys.stderr, flush=True))
    if args.csv:
        compare.write_csv(rows, args.csv)
    print(json.dumps(rows, default=str) if args.json else compare.format_markdown(rows))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from . import bench

    result = bench.run(quick=args.quick, device=args.device)
    print(json.dumps(result, indent=None if args.json else 2, default=str))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return cmd_train(args)
        if args.command in ("methods", "datasets"):
            return cmd_list(args.command, args.json)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "bench":
            return cmd_bench(args)
    except DeepClustError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 2
