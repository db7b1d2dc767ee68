"""DGG vs VaDE on moons (paper Fig. 1): same data, same pretrained autoencoder, same seed.

    python -m benchmarks.moons --seeds 0,1,2 [--gap 0.0] [--noise 0.05]
"""
from __future__ import annotations

import argparse
import time

from .common import record, seeds_arg, summarise, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--gap", type=float, default=None)
    parser.add_argument("--noise", type=float, default=None)
    parser.add_argument("--tag", default=None, help="Suffix of the results file name.")
    args = parser.parse_args()
    started = time.time()
    options = {k: v for k, v in {"gap": args.gap, "noise": args.noise}.items() if v is not None}
    rows = []
    for seed in seeds_arg(args.seeds):
        for method in ("vade", "dgg"):
            result = train("moons", method, options, {"random_state": seed})
            rows.append({"method": method, "seed": seed, **{k: result.get(k) for k in
                         ("acc", "nmi", "ari", "seconds", "state", "init_scores", "graph_cross_fraction",
                          "pretrain_cached")}})
    summary = {m: {"acc": summarise(r["acc"] for r in rows if r["method"] == m),
                   "seconds": summarise(r["seconds"] for r in rows if r["method"] == m)} for m in ("vade", "dgg")}
    gain = summary["dgg"]["acc"]["mean"] - summary["vade"]["acc"]["mean"]
    record("moons", {"tag": args.tag, "dataset_options": options, "runs": rows, "summary": summary,
                     "dgg_minus_vade_acc": gain}, started)


if __name__ == "__main__":
    main()
