"""ClustPy's deep clustering methods on the gallery, with ClustPy's own defaults, as rows of the gallery table.

ClustPy is not a dependency: install it in a separate environment and point this at it, e.g.

    python -m venv /tmp/cpvenv && /tmp/cpvenv/bin/pip install torch==2.13.0 torchvision==0.28.0 clustpy
    python -m benchmarks.clustpy_gallery --python /tmp/cpvenv/bin/python --methods DEC,IDEC --seeds 0
    python -m benchmarks.gallery --table          # merges results/gallery-clustpy.json into gallery.md

Each fit is ClustPy's estimator with only ``n_clusters`` (the data set's), ``random_state`` (the seed) and
``device="cpu"`` given; every other parameter is ClustPy's default (its 100 pretraining and 150 clustering
epochs, batch 256, the [d, 500, 500, 2000, 10] autoencoder, ...). The data are exactly those of
``python -m benchmarks.gallery``: each data set with its default options (fixed points; the seed is the
method's). ACC, NMI and ARI are computed here with ``deepclust_core.metrics`` from the labels ClustPy returns;
``seconds`` is the time of ClustPy's ``fit`` alone (ours include the run store's bookkeeping).
``clusters_used`` counts the distinct labels; ``collapsed`` means fewer than ``n_clusters`` of them.

Rows are merged into ``results/gallery-clustpy.json`` (a (dataset, method, seed) that runs again replaces
its old row), so a long measurement can be split into several commands; ``commands`` lists them all.
Methods are named ``clustpy-<name>`` so they stand beside ours in the table.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

from deepclust_core.datasets import GALLERY, load_dataset
from deepclust_core.metrics import evaluate

from .common import RESULTS, record, seeds_arg
from .gallery import summary

METHODS = ("VaDE", "DEC", "IDEC", "DCN", "DKM", "DEN")
TARGET = RESULTS / "gallery-clustpy.json"

CLUSTPY_SNIPPET = """
import json, sys, time, traceback
import numpy as np, torch, clustpy
import clustpy.deep as deep
x = np.load(sys.argv[1])
n_clusters = int(sys.argv[2])
for method in sys.argv[3].split(","):
    for seed in [int(s) for s in sys.argv[4].split(",")]:
        row = {"method": method, "seed": seed, "clustpy": clustpy.__version__ if hasattr(clustpy, "__version__")
               else None, "torch": torch.__version__}
        started = time.perf_counter()
        try:
            model = getattr(deep, method)(n_clusters=n_clusters, random_state=seed, device="cpu").fit(x)
            row["labels"] = np.asarray(model.labels_).astype(int).tolist()
        except Exception as error:
            row["reason"] = f"{type(error).__name__}: {error}".splitlines()[0][:300]
        row["seconds"] = time.perf_counter() - started
        print(json.dumps(row), flush=True)
"""


def run_dataset(python: str, dataset: str, methods: List[str], seeds: List[int], timeout: float) -> List[Dict]:
    data = load_dataset(dataset)  # the gallery's data: default options, as benchmarks.gallery runs it
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.npy"
        np.save(path, np.ascontiguousarray(data.x, dtype=np.float32))
        try:
            done = subprocess.run([python, "-c", CLUSTPY_SNIPPET, str(path), str(data.n_clusters), ",".join(methods),
                                   ",".join(map(str, seeds))], capture_output=True, text=True, timeout=timeout)
            out, err = done.stdout, done.stderr
        except subprocess.TimeoutExpired as expired:
            out = expired.stdout.decode() if isinstance(expired.stdout, bytes) else (expired.stdout or "")
            err = f"timed out after {timeout:g} s"
    seen = set()
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        fit = json.loads(line)
        seen.add((fit["method"], fit["seed"]))
        row = {"dataset": dataset, "method": f"clustpy-{fit['method'].lower()}", "seed": fit["seed"],
               "seconds": fit["seconds"], "clustpy_version": fit.get("clustpy"), "clustpy_torch": fit.get("torch")}
        if "labels" in fit:
            labels = np.asarray(fit["labels"])
            used = int(len(np.unique(labels)))
            row.update(evaluate(data.y, labels), state="finished", clusters_used=used,
                       collapsed=used < data.n_clusters)
        else:
            row.update(acc=None, nmi=None, ari=None, state="failed", reason=fit["reason"])
        rows.append(row)
    for method in methods:  # a fit that never reported (crash, timeout) is a failed row, never a silent gap
        for seed in seeds:
            if (method, seed) not in seen:
                rows.append({"dataset": dataset, "method": f"clustpy-{method.lower()}", "seed": seed, "acc": None,
                             "nmi": None, "ari": None, "seconds": None, "state": "failed",
                             "reason": (err or "no output").strip().splitlines()[-1][:300] if (err or "").strip()
                             else "no output"})
    return rows


def merge(rows: List[Dict], started: float) -> None:
    """Replace the (dataset, method, seed) rows of results/gallery-clustpy.json by ``rows`` (under a lock)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(Path(tempfile.gettempdir()) / "deepclust-gallery-clustpy.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = json.loads(TARGET.read_text()) if TARGET.exists() else {}
        new = {(r["dataset"], r["method"], r["seed"]) for r in rows}
        kept = [r for r in old.get("runs", []) if (r["dataset"], r["method"], r["seed"]) not in new]
        order = {name: i for i, name in enumerate(GALLERY)}
        merged = sorted(kept + rows, key=lambda r: (order.get(r["dataset"], 99), r["method"], r["seed"]))
        command = " ".join([Path(sys.executable).name, "-m", "benchmarks.clustpy_gallery", *sys.argv[1:]])
        commands = old.get("commands", [])
        record("gallery", {"tag": "clustpy", "name": "clustpy_gallery", "command": command,
                           "commands": commands + ([command] if command not in commands else []),
                           "clustpy_defaults": "all ClustPy defaults except n_clusters, random_state, device='cpu'",
                           "runs": merged, "summary": summary(merged)}, started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="A Python interpreter with clustpy installed.")
    parser.add_argument("--methods", default=",".join(METHODS), help="ClustPy class names.")
    parser.add_argument("--datasets", default=",".join(GALLERY))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--timeout", type=float, default=3600, help="Seconds allowed per data set (all its fits).")
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    started = time.time()
    for dataset in [d for d in args.datasets.split(",") if d]:
        rows = run_dataset(args.python, dataset, methods, seeds_arg(args.seeds), args.timeout)
        for row in rows:
            print(json.dumps({k: row.get(k) for k in ("dataset", "method", "seed", "acc", "seconds", "state",
                                                      "reason")}), file=sys.stderr, flush=True)
        merge(rows, started)  # after each data set: a command stopped later keeps what finished


if __name__ == "__main__":
    main()
