"""Training throughput of VaDE and DGG (m = 1 and m = N_s) against a bare PyTorch loop over the same
MLP shapes, and the kNN-graph time for 70,000 × 784.   python -m benchmarks.throughput [--quick]"""
from __future__ import annotations

import argparse
import time

from deepclust_core.bench import run

from .common import record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--tag", default=None)
    args = parser.parse_args()
    started = time.time()
    record("throughput", {"tag": args.tag, **run(quick=args.quick, device=args.device)}, started)


if __name__ == "__main__":
    main()
