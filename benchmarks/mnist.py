"""DGG and VaDE on MNIST from the same pretrained autoencoder (paper Table 1), or an N_s ablation
(paper Table 2), or a comparison of graph spaces.

    python -m benchmarks.mnist --n-samples 10000 --seeds 0                       # DGG + VaDE
    python -m benchmarks.mnist --n-samples 10000 --ablation 0,1,3,10,20,30      # N_s sweep
    python -m benchmarks.mnist --n-samples 10000 --graph-spaces input,pca,latent,siamese
Any method hyperparameter can be overridden with --set name=value (repeatable).
"""
from __future__ import annotations

import argparse
import time

from .common import RESULT_KEYS, overrides, record, seeds_arg, summarise, train



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=None, help="Subset size (default: all 70,000).")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--methods", default="vade,dgg")
    parser.add_argument("--ablation", default=None, help="Comma-separated N_s values (DGG only).")
    parser.add_argument("--graph-spaces", default=None, help="Comma-separated graph spaces (DGG only).")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--tag", default=None)
    parser.add_argument("--runs-dir", default=None,
                        help="Keep each run here (watch its epochs as it trains); default: a temporary folder.")
    args = parser.parse_args()
    started = time.time()
    options = {"n_samples": args.n_samples} if args.n_samples else {}
    variants = []  # (label, method, extra params)
    if args.ablation:
        variants = [(f"N_s={k}", "dgg", {"n_neighbors": int(k)}) for k in args.ablation.split(",")]
    elif args.graph_spaces:
        variants = [(f"graph={s}", "dgg", {"graph_space": s}) for s in args.graph_spaces.split(",")]
    else:
        variants = [(m, m, {}) for m in args.methods.split(",")]
    rows = []
    for seed in seeds_arg(args.seeds):
        for label, method, extra in variants:
            params = {**overrides(args.set, method), **extra, "random_state": seed}
            result = train("mnist", method, options, params, runs_dir=args.runs_dir)
            row = {"variant": label, "method": method, "seed": seed, **{k: result.get(k) for k in RESULT_KEYS}}
            rows.append(row)
            print(row, flush=True)
    summary = {label: {"acc": summarise(r["acc"] for r in rows if r["variant"] == label),
                       "nmi": summarise(r["nmi"] for r in rows if r["variant"] == label),
                       "seconds": summarise(r["seconds"] for r in rows if r["variant"] == label)}
               for label, _, _ in variants}
    record("mnist", {"tag": args.tag, "dataset_options": options, "overrides": args.set, "runs": rows,
                     "summary": summary}, started)


if __name__ == "__main__":
    main()
