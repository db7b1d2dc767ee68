"""Run several methods over several seeds on one dataset and tabulate ACC / NMI / ARI.

    from deepclust_core.compare import compare, format_markdown, write_csv
    rows = compare("moons", ["kmeans", "dec", "dgg"], seeds=[0, 1, 2])
    print(format_markdown(rows))

Each method gets the dataset's recipe (``deepclust_core.recipes.recipe``), then the caller's
overrides (``params[method]``, and ``params["*"]`` for every method that has the parameter), then
``random_state = seed``. The data are loaded once and are the same for every run; only the
methods' seeds vary. Scores are never used to pick a seed: the table reports mean ± standard
deviation over all seeds (DESIGN.md §5). A run that fails with a user-facing error (divergence,
bad parameter) is kept as a row with its error message and left out of the means.
"""
from __future__ import annotations

import csv
import math
import time
import warnings
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np

from .datasets import load_dataset
from .errors import DeepClustError, InputError
from .methods import create_method, get_method_class
from .metrics import evaluate

COLUMNS = ("dataset", "n_samples", "method", "seed", "acc", "nmi", "ari", "seconds", "clusters_used",
           "pretrain_cached", "error")
SCORES = ("acc", "nmi", "ari")


def method_params(dataset: str, method: str, params: Optional[Mapping[str, Mapping]] = None) -> Dict:
    """The parameters ``compare`` gives ``method``: recipe, then ``params["*"]``, then ``params[method]``."""
    accepted = {spec.name for spec in get_method_class(method).param_specs()}
    merged = _recipe(dataset, method)
    params = params or {}
    merged.update({key: value for key, value in params.get("*", {}).items() if key in accepted})
    merged.update(params.get(method, {}))
    return merged


def _recipe(dataset: str, method: str) -> Dict:
    try:
        from .recipes import recipe
    except ImportError:  # recipes are optional: methods fall back to their own defaults
        return {}
    return dict(recipe(dataset, method))


def compare(dataset: str, methods: Sequence[str], seeds: Iterable[int], n_samples: Optional[int] = None,
            dataset_options: Optional[Mapping] = None, params: Optional[Mapping[str, Mapping]] = None,
            progress: Optional[Callable[[str], None]] = None) -> List[Dict]:
    """Fit every method with every seed on ``dataset``; one row (a dict, see COLUMNS) per run."""
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
    configs = {}
    for method in methods:
        configs[method] = method_params(dataset, method, params)
        configs[method].setdefault("n_clusters", data.n_clusters)
        create_method(method, **configs[method])  # a misspelt parameter fails before any training
    rows = []
    for method, config in configs.items():
        for seed in seeds:
            row = _run(data, method, {**config, "random_state": seed})
            rows.append(row)
            if progress is not None:
                progress(_describe(row))
    return rows


def _run(data, method: str, config: Dict) -> Dict:
    row = {"dataset": data.name, "n_samples": len(data), "method": method, "seed": config["random_state"],
           "acc": math.nan, "nmi": math.nan, "ari": math.nan, "seconds": math.nan, "clusters_used": None,
           "pretrain_cached": None, "error": ""}
    started = time.perf_counter()
    try:
        estimator = create_method(method, **config)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # collapse is reported in clusters_used
            estimator.fit(data.x)
    except DeepClustError as error:
        row["error"] = str(error)
        row["seconds"] = time.perf_counter() - started
        return row
    row["seconds"] = time.perf_counter() - started
    row.update(evaluate(data.y, estimator.labels_))
    row["clusters_used"] = int(np.unique(estimator.labels_).size)
    row["pretrain_cached"] = getattr(estimator, "pretrain_cached_", None)
    return row


def _describe(row: Dict) -> str:
    head = f"{row['method']} seed {row['seed']}"
    if row["error"]:
        return f"{head}: failed: {row['error']}"
    return (f"{head}: ACC {row['acc']:.4f} NMI {row['nmi']:.4f} ARI {row['ari']:.4f} "
            f"({row['seconds']:.1f}s, {row['clusters_used']} clusters used)")


def summarize(rows: Sequence[Dict]) -> List[Dict]:
    """Per (dataset, method), in first-seen order: runs, failures and mean/std of scores and seconds.

    The standard deviation is the sample one (ddof = 1); it is absent for a single run.
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
            values = np.array([row[key] for row in done], dtype=float)
            entry[key] = float(values.mean()) if values.size else math.nan
            entry[f"{key}_std"] = float(values.std(ddof=1)) if values.size > 1 else None
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
