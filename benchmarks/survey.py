"""The survey's discriminative and embedding methods (RIM, IMSAT, DAC, DEPICT, DEN) on MNIST, each from its paper's
recipe (the method's defaults plus the MNIST data recipe), with its start reported beside its end.

    python -m benchmarks.survey --methods rim --seeds 0,1,2                          # all 70,000 images
    python -m benchmarks.survey --methods imsat --n-samples 10000 --set epochs=15 --tag imsat10k
Any method hyperparameter can be overridden with --set name=value (repeatable; a method takes the names it has).
Each run's row keeps its per-epoch ACC/NMI and loss (``curve``), read from the run's metrics. SIGTERM (e.g. from
``timeout``) stops the current run at the end of its epoch: it is recorded as "stopped" with its scores then.
"""
from __future__ import annotations

import argparse
import os
import signal
import tempfile
import time
from pathlib import Path

from deepclust_core.store import states
from deepclust_core.store.layout import RunFolder

from .common import RESULT_KEYS, curve_of, overrides, record, seeds_arg, summarise, train

METHODS = ("rim", "imsat", "dac", "depict", "den")
# Published MNIST accuracies as the survey lists them (each checked against its paper: see docs/METHODS.md §8).
PUBLISHED = {"imsat": 0.984, "dac": 0.978, "depict": 0.965}


def start_of(result) -> dict:
    """The start's scores: k-means on the inputs or the pretrained code when the method starts there, else the
    randomly initialised network's own assignments."""
    return result.get("init_scores") or result.get("model_start_scores") or {}


def stop_gracefully_on_sigterm(runs_dir: str) -> dict:
    """On SIGTERM (e.g. from ``timeout``) ask this process's unfinished run under ``runs_dir`` to stop at the end
    of its epoch (its STOP file), so it ends "stopped" with the scores it had, and start no further run."""
    state = {"terminated": False}

    def handler(signum, frame):
        state["terminated"] = True
        for folder in Path(runs_dir).iterdir():  # only this process's runs: another benchmark may share the folder
            run = RunFolder(folder)
            if folder.is_dir() and not run.result.exists() and states.read_status(folder).get("pid") == os.getpid():
                run.stop_file.touch()

    signal.signal(signal.SIGTERM, handler)
    return state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=None, help="Class-stratified subset (default: all 70,000).")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--tag", default=None)
    parser.add_argument("--runs-dir", default=None, help="Keep each run here; default: a temporary folder.")
    args = parser.parse_args()
    started = time.time()
    options = {"n_samples": args.n_samples} if args.n_samples else {}
    methods = [m for m in args.methods.split(",") if m]
    rows = []
    with tempfile.TemporaryDirectory(prefix="deepclust-survey-") as scratch:
        signals = stop_gracefully_on_sigterm(args.runs_dir or scratch)
        for seed in seeds_arg(args.seeds):
            for method in methods:
                if signals["terminated"]:
                    break
                result = train("mnist", method, options, {**overrides(args.set, method), "random_state": seed},
                               runs_dir=args.runs_dir or scratch)
                start = start_of(result)
                row = {"method": method, "seed": seed, "start_acc": start.get("acc"), "start_nmi": start.get("nmi"),
                       **{k: result.get(k) for k in RESULT_KEYS}, "params": result.get("params")}
                row["curve"] = curve_of(result)
                rows.append(row)
                print({k: v for k, v in row.items() if k not in ("params", "curve")}, flush=True)
    summary = {m: {key: summarise(r[key] for r in rows if r["method"] == m)
                   for key in ("acc", "nmi", "start_acc", "start_nmi", "seconds")} for m in methods}
    for method in methods:
        summary[method]["published_acc"] = PUBLISHED.get(method)
    record("survey", {"tag": args.tag, "dataset_options": options, "overrides": args.set, "runs": rows,
                      "summary": summary}, started)


if __name__ == "__main__":
    main()
