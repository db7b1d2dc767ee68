"""Throughput benchmark: VaDE and DGG training against a bare PyTorch loop over the same MLP shapes
(the practical limit of the machine), plus the kNN-graph time. Used by ``python -m deepclust_core bench``.
"""
from __future__ import annotations

import os
import platform
import time
from typing import Dict, List

import numpy as np
import torch

from .callbacks import Callback
from .graph import knn
from .methods.base import resolve_device
from .nn import Autoencoder

HIDDEN = (500, 500, 2000)
LATENT = 10
BATCH = 100


class _EpochTimer(Callback):
    """Wall-clock time of each training epoch (the first one is warm-up and is dropped)."""

    def __init__(self):
        self.stamps: List[float] = []

    def on_epoch_end(self, estimator, info):
        if info.phase == "train":
            if estimator.device_.type == "cuda":
                torch.cuda.synchronize()
            self.stamps.append(time.perf_counter())

    def samples_per_second(self, n_samples: int) -> float:
        gaps = np.diff(self.stamps)
        return float(n_samples / np.median(gaps)) if len(gaps) else float("nan")


def mnist_shaped(n: int, seed: int = 0, eight_bit: bool = False) -> np.ndarray:
    """Random data in [0, 1] with MNIST's shape and sparsity (the timing does not depend on content).
    ``eight_bit``: values on MNIST's 256 grey levels k/255, as real images are (the kNN integer path)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 784), dtype=np.float32)
    x[x < 0.8] = 0.0
    if eight_bit:
        x = np.round(x * 255.0).astype(np.float32) / 255.0
    return x


def method_throughput(name: str, x: np.ndarray, device: str, epochs: int, **params) -> float:
    from .methods import create_method

    timer = _EpochTimer()
    if name == "dgg":
        params.setdefault("classifier_pretrain_epochs", 1)
        params.setdefault("keep_epoch", "last")  # the training loop alone, as measured before the automatic defaults
    if name in ("vade", "dgg"):
        params.setdefault("init", "gmm")
    model = create_method(name, n_clusters=10, hidden_dims=HIDDEN, latent_dim=LATENT, batch_size=BATCH,
                          epochs=epochs, pretrain_epochs=0, gmm_restarts=1, cache_pretrained=False, device=device,
                          **params)
    model.fit(x, callbacks=[timer])
    return timer.samples_per_second(len(x))


def bare_loop_throughput(x: np.ndarray, device: str, epochs: int) -> float:
    """Forward/backward/Adam step of the same encoder+decoder shapes, nothing else."""
    dev = resolve_device(device)
    model = Autoencoder(x.shape[1], HIDDEN, LATENT).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = torch.as_tensor(x, device=dev)
    stamps = []
    for _ in range(epochs):
        for start in range(0, len(data), BATCH):
            batch = data[start:start + BATCH]
            mu, logvar = model.encode(batch)
            loss = (model.decode(mu + logvar) - batch).pow(2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
    return float(len(data) / np.median(np.diff(stamps)))


def knn_seconds(n: int, k: int, device: str, eight_bit: bool = True) -> float:
    dev = resolve_device(device)
    x = torch.as_tensor(mnist_shaped(n, seed=1, eight_bit=eight_bit), device=dev)
    start = time.perf_counter()
    knn(x, k)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def machine() -> Dict:
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run(quick: bool = False, device: str = "auto") -> Dict:
    n = 2000 if quick else 10000
    epochs = 3 if quick else 4
    x = mnist_shaped(n)
    bare = bare_loop_throughput(x, device, epochs)
    results = {"device": str(resolve_device(device)), "machine": machine(), "n_samples": n,
               "bare_loop_samples_per_s": bare}
    results["vade_samples_per_s"] = method_throughput("vade", x, device, epochs)
    results["dgg_m1_samples_per_s"] = method_throughput("dgg", x, device, epochs, n_neighbors=20,
                                                        neighbors_per_step=1)
    exact_n = n // 5  # the exact sum over N_s = 20 neighbours costs 21×: time it on fewer anchors
    results["dgg_exact_ns20_samples_per_s"] = method_throughput("dgg", x[:exact_n], device, epochs,
                                                                n_neighbors=20, neighbors_per_step=20)
    for key in ("vade", "dgg_m1", "dgg_exact_ns20"):
        results[f"{key}_vs_bare"] = results[f"{key}_samples_per_s"] / bare
    knn_n = 5000 if quick else 70000
    results["knn_n"] = knn_n
    results["knn_seconds"] = knn_seconds(knn_n, 20, device)  # 8-bit images, like MNIST
    results["knn_float_features_seconds"] = knn_seconds(knn_n, 20, device, eight_bit=False)
    return results
