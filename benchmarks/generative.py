"""CatGAN, InfoGAN and LTVAE on MNIST against each paper's own figure (a stated subset and schedule).

    python -m benchmarks.generative --methods infogan,catgan,ltvae --n-samples 10000 --seeds 0
    python -m benchmarks.generative --methods ltvae --n-samples 10000 --seeds 0 --set epochs=20

Each row: ACC/NMI/ARI, time, clusters used, the last epoch's discriminator / generator losses (GANs) or the
start's scores (LTVAE); the paper's figure is recorded beside them. Results go to
benchmarks/results/generative-<tag>.json.
"""
from __future__ import annotations

import argparse
import tempfile
import time

from .common import RESULT_KEYS, curve_of, overrides, record, seeds_arg, summarise, train

# The papers' own unsupervised MNIST figures (all 70,000 images, their architectures and schedules).
PAPER = {
    "catgan": {"acc": 1 - 0.0427, "source": "Springenberg 2016 (ICLR), Table 1: unsupervised MNIST, 4.27 % error"},
    "infogan": {"acc": 0.95, "source": "Chen et al. 2016 (NeurIPS), Sec. 7.1: c1 classifies MNIST with 5 % error"},
    "ltvae": {"acc": 0.863, "source": "Li et al. 2019 (ICLR), clustering-accuracy table: LTVAE 86.30 on MNIST"},
}
# Paper-style settings that differ from the estimators' defaults, scaled to a subset that fits 2 CPU cores: fewer
# updates. The GANs' networks are the automatic ones: InfoGAN's convolutional pair on images for InfoGAN, the
# 1000-500 MLPs for CatGAN ("--set network=mlp" / "conv" for the other choice; docs/RESULTS.md §10).
RECIPE = {
    "catgan": {"n_clusters": 10, "hidden_dims": (1000, 500), "noise_dim": 128, "epochs": 25},
    "infogan": {"n_clusters": 10, "hidden_dims": (1000, 500), "noise_dim": 62, "epochs": 25},
    "ltvae": {"n_facets": 2, "epochs": 20},
}
CURVE = ("epoch", "acc", "nmi", "d_loss", "g_loss", "clusters_used", "fake_clusters_used", "loss")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="infogan,catgan,ltvae")
    parser.add_argument("--n-samples", type=int, default=10000, help="Class-stratified subset (0 = all 70,000).")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--tag", default=None)
    parser.add_argument("--runs-dir", default=None)
    args = parser.parse_args()
    started = time.time()
    options = {"n_samples": args.n_samples} if args.n_samples else {}
    methods = args.methods.split(",")
    rows = []
    with tempfile.TemporaryDirectory(prefix="deepclust-generative-") as scratch:
        for seed in seeds_arg(args.seeds):
            for method in methods:
                params = {**RECIPE.get(method, {}), **overrides(args.set, method), "random_state": seed}
                result = train("mnist", method, options, params, runs_dir=args.runs_dir or scratch)
                row = {"method": method, "seed": seed, **{k: result.get(k) for k in RESULT_KEYS},
                       "clusters_used": result.get("clusters_used"), "warnings": result.get("warnings"),
                       "params": {k: result["params"][k] for k in sorted(result["params"])},
                       "curve": curve_of(result, CURVE)}
                rows.append(row)
                print({k: v for k, v in row.items() if k not in ("params", "curve")}, flush=True)
    summary = {m: {"acc": summarise(r["acc"] for r in rows if r["method"] == m),
                   "nmi": summarise(r["nmi"] for r in rows if r["method"] == m),
                   "seconds": summarise(r["seconds"] for r in rows if r["method"] == m),
                   "paper": PAPER.get(m)} for m in methods}
    record("generative", {"tag": args.tag, "dataset_options": options, "overrides": args.set, "runs": rows,
                          "summary": summary}, started)


if __name__ == "__main__":
    main()
