"""DGG vs VaDE on moons (paper Fig. 1): same data, same pretrained autoencoder, same seed.

    python -m benchmarks.moons --seeds 0,1,2 [--gap 0.0] [--noise 0.05]
    python -m benchmarks.moons --methods dgg --set neighbors_per_step=40 --tag exact   # exact neighbour sum
Any method hyperparameter can be overridden with --set name=value (repeatable).
"""
from __future__ import annotations

import argparse
import time

from .common import RESULT_KEYS, overrides, record, seeds_arg, summarise, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--gap", type=float, default=None)
    parser.add_argument("--noise", type=float, default=None)
    parser.add_argument("--methods", default="vade,dgg")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--tag", default=None, help="Suffix of the results file name.")
    args = parser.parse_args()
    started = time.time()
    options = {k: v for k, v in {"gap": args.gap, "noise": args.noise}.items() if v is not None}
    methods = [m for m in args.methods.split(",") if m]
    rows = []
    for seed in seeds_arg(args.seeds):
        for method in methods:
            result = train("moons", method, options, {**overrides(args.set, method), "random_state": seed})
            rows.append({"method": method, "seed": seed, **{k: result.get(k) for k in RESULT_KEYS}})
    summary = {m: {"acc": summarise(r["acc"] for r in rows if r["method"] == m),
                   "seconds": summarise(r["seconds"] for r in rows if r["method"] == m)} for m in methods}
    figures = {"tag": args.tag, "dataset_options": options, "overrides": args.set, "runs": rows, "summary": summary}
    if {"vade", "dgg"} <= set(methods) and None not in (summary["dgg"]["acc"]["mean"], summary["vade"]["acc"]["mean"]):
        figures["dgg_minus_vade_acc"] = summary["dgg"]["acc"]["mean"] - summary["vade"]["acc"]["mean"]
    record("moons", figures, started)


if __name__ == "__main__":
    main()
