"""ClustPy's VaDE seconds per clustering epoch beside ours, same data (MNIST, 10,000 images), same batch
(100) and layer sizes (784-500-500-2000-10), same machine.

ClustPy is not a dependency: install it in a separate environment and point this at it, e.g.

    python -m venv /tmp/cpvenv && /tmp/cpvenv/bin/pip install torch==2.13.0 clustpy
    python -m benchmarks.clustpy_vade --python /tmp/cpvenv/bin/python --mnist PATH/mnist.npz

Both sides run "1 epoch" and "5 epochs" fits; (t5 - t1) / 4 is the time of one clustering epoch,
free of set-up, pretraining and the initial GMM.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time

import numpy as np

from deepclust_core.bench import HIDDEN, LATENT, BATCH

from .common import record

CLUSTPY_SNIPPET = """
import json, sys, time
import numpy as np, torch
from clustpy.deep import VaDE
x = np.load(sys.argv[1])
def run(epochs):
    t = time.perf_counter()
    VaDE(n_clusters=10, batch_size=int(sys.argv[2]), pretrain_epochs=1, clustering_epochs=epochs, random_state=0,
         device="cpu").fit(x)
    return time.perf_counter() - t
one, five = run(1), run(5)
print(json.dumps({"seconds_per_epoch": (five - one) / 4, "torch": torch.__version__}))
"""


def ours_seconds_per_epoch(x: np.ndarray) -> float:
    from deepclust_core import create_method

    def run(epochs: int) -> float:
        start = time.perf_counter()
        create_method("vade", n_clusters=10, hidden_dims=HIDDEN, latent_dim=LATENT, batch_size=BATCH,
                      epochs=epochs, pretrain_epochs=1, cache_pretrained=False, device="cpu",
                      random_state=0).fit(x)
        return time.perf_counter() - start

    one = run(1)
    return (run(5) - one) / 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="A Python interpreter with clustpy installed.")
    parser.add_argument("--mnist", required=True, help="mnist.npz (keys x, y).")
    parser.add_argument("--n-samples", type=int, default=10000)
    args = parser.parse_args()
    started = time.time()
    with np.load(args.mnist) as data:
        x = (data["x"][:args.n_samples].reshape(args.n_samples, -1) / 255.0).astype(np.float32)
    with tempfile.NamedTemporaryFile(suffix=".npy") as handle:
        np.save(handle.name, x)
        out = subprocess.run([args.python, "-c", CLUSTPY_SNIPPET, handle.name, str(BATCH)], check=True,
                             capture_output=True, text=True).stdout
    theirs = json.loads(out.strip().splitlines()[-1])
    ours = ours_seconds_per_epoch(x)
    record("clustpy_vade", {"n_samples": args.n_samples, "batch": BATCH, "ours_seconds_per_epoch": ours,
                            "clustpy_seconds_per_epoch": theirs["seconds_per_epoch"],
                            "clustpy_torch": theirs["torch"], "ours_over_clustpy": ours / theirs["seconds_per_epoch"]},
           started)


if __name__ == "__main__":
    main()
