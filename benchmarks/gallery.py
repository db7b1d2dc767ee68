"""Every method on every gallery data set with the automatic defaults (no recipe, no dataset-specific argument).

    python -m benchmarks.gallery --methods dgg,vade,kmeans,gmm --datasets circles,moons --seeds 0,1,2,3,4 --tag a
    python -m benchmarks.gallery --methods dgg --datasets circles --set keep_epoch=last --tag last   # an ablation
    python -m benchmarks.gallery --table          # merge results/gallery-*.json (not ablations) into gallery.md

Each run goes through the run store like `python -m deepclust_core train --dataset D --method M` with only
n_clusters (the data set's) and random_state (the seed) given: every other parameter is the method's default,
"auto" ones resolved from the data. The data set keeps its default options (fixed data; the seed is the
method's). DGG's rows carry its start (``init_scores``) beside its end, reported as the row "dgg start".
The table shows mean ± sample std of ACC over the seeds that ran, and the mean fit time in seconds.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Dict, List

from deepclust_core.config import resolve_params
from deepclust_core.datasets import GALLERY, load_dataset
from deepclust_core.metrics import mean_std

from .common import RESULTS, overrides, record, run_config, seeds_arg

KEEP = ("acc", "nmi", "ari", "seconds", "state", "reason", "collapsed", "clusters_used", "init_scores",
        "model_start_scores", "kept_epoch", "resolved_params", "warnings")


START_ROWS = ("dgg", "dcn", "dkm")  # methods whose start is its own row of the table


def run_one(dataset: str, method: str, seed: int, extra: Dict = None) -> Dict:
    data = load_dataset(dataset)
    params = resolve_params(dataset, method, {**(extra or {}), "n_clusters": data.n_clusters, "random_state": seed},
                            use_recipe=False)
    config = {"dataset": dataset, "dataset_options": {}, "method": method, "params": params}
    started = time.time()
    try:
        result = run_config(config)
    except Exception as error:  # a failed run is a row, never a silent gap
        result = {"state": "failed", "reason": f"{type(error).__name__}: {error}", "seconds": time.time() - started}
    return {"dataset": dataset, "method": method, "seed": seed, **{k: result.get(k) for k in KEEP}}


def summary(rows: List[Dict]) -> Dict:
    """{dataset: {row name: {acc: mean_std, seconds: mean_std, n: runs}}}, with "dgg start", "dcn start" and
    "dkm start" from those methods' starts (spectral clustering, k-means of the pretrained latent)."""
    out: Dict[str, Dict] = {}
    for row in rows:
        cells = out.setdefault(row["dataset"], {})
        names = [(row["method"], row.get("acc"))]
        if row["method"] in START_ROWS and row.get("init_scores"):
            names.append((f"{row['method']} start", row["init_scores"].get("acc")))
        for name, acc in names:
            cell = cells.setdefault(name, {"acc": [], "seconds": [], "collapsed": 0})
            cell["acc"].append(acc)
            cell["seconds"].append(row.get("seconds") if not name.endswith(" start") else None)
            cell["collapsed"] += int(bool(row.get("collapsed")) and name == row["method"])
    return {d: {m: {"acc": mean_std(c["acc"]), "seconds": mean_std(c["seconds"]), "runs": len(c["acc"]),
                    "collapsed": c["collapsed"]} for m, c in cells.items()} for d, cells in out.items()}


def markdown(table: Dict) -> str:
    datasets = [d for d in GALLERY if d in table]
    order = ["dgg", "dgg start", "vade", "kmeans", "gmm"]
    methods = order + sorted({m for cells in table.values() for m in cells} - set(order))
    lines = ["| method | " + " | ".join(datasets) + " |", "|---|" + "---|" * len(datasets)]
    for method in methods:
        if not any(method in table[d] for d in datasets):
            continue
        cells = []
        for d in datasets:
            cell = table[d].get(method)
            if not cell or cell["acc"]["mean"] is None:
                cells.append("–")
                continue
            acc = cell["acc"]
            text = f"{acc['mean']:.3f} ± {acc['std'] or 0:.3f}"
            if cell["seconds"]["mean"] is not None:
                text += f" ({cell['seconds']['mean']:.1f} s)"
            if cell["collapsed"]:
                text += f" [{cell['collapsed']} collapsed]"
            cells.append(text + f" n={cell['runs']}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def merge_table() -> None:
    rows = []
    for path in sorted(RESULTS.glob("gallery-*.json")):
        payload = json.loads(path.read_text())
        if payload.get("overrides") or "runs" not in payload:  # ablations and the summary are not the table
            continue
        if payload.get("superseded_by"):  # kept for the before/after in RESULTS, no longer the method's rows
            continue
        gone = set(payload.get("superseded_methods", []))  # a file whose rows for these methods were re-measured
        rows.extend(row for row in payload["runs"] if row.get("method") not in gone)
    table = summary(rows)
    text = markdown(table)
    (RESULTS / "gallery.md").write_text(
        "ACC mean ± sample std over the seeds that ran (n), mean fit seconds; automatic defaults, no recipe "
        "(`python -m benchmarks.gallery`).\n\n" + text)
    (RESULTS / "gallery-summary.json").write_text(json.dumps(table, indent=2))
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="dgg,vade,kmeans,gmm")
    parser.add_argument("--datasets", default=",".join(GALLERY))
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="Override a parameter for the methods that have it (an ablation; tag it).")
    parser.add_argument("--tag", default=None, help="Suffix of the results file name.")
    parser.add_argument("--table", action="store_true", help="Only merge results/gallery-*.json into a table.")
    args = parser.parse_args()
    if args.table:
        merge_table()
        return
    started = time.time()
    rows = [run_one(dataset, method, seed, overrides(args.set, method)) for dataset in args.datasets.split(",") if dataset
            for seed in seeds_arg(args.seeds) for method in args.methods.split(",") if method]
    record("gallery", {"tag": args.tag, "overrides": args.set, "runs": rows, "summary": summary(rows)}, started)
    print(markdown(summary(rows)))


if __name__ == "__main__":
    main()
