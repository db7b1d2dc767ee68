"""Hooks to watch and stop training (PyTorch-Lightning style). The training loop knows only this
interface; the run store, progress bars and the app's stop button are callbacks."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional


@dataclass
class EpochInfo:
    """What a callback sees at the end of an epoch.

    ``metrics`` holds loss terms (and acc/nmi/ari when labels were given). ``latent()`` computes
    the latent means and predicted labels of the training data on demand (cached per epoch), so
    only callbacks that want a snapshot pay for it.
    """

    phase: str  # "pretrain", "train"
    epoch: int  # 1-based
    n_epochs: int
    metrics: Dict[str, float]
    _latent_fn: Optional[Callable[[], tuple]] = field(default=None, repr=False)
    _latent_cache: Optional[tuple] = field(default=None, repr=False)

    def latent(self):
        """(latent means (N, M), predicted labels (N,)) of the training data at this epoch."""
        if self._latent_cache is None and self._latent_fn is not None:
            self._latent_cache = self._latent_fn()
        return self._latent_cache


class Callback:
    """No-op base: override what you need."""

    def on_fit_start(self, estimator, info: Dict) -> None:
        pass

    def on_epoch_end(self, estimator, info: EpochInfo) -> None:
        pass

    def on_fit_end(self, estimator, info: Dict) -> None:
        pass

    def should_stop(self, estimator) -> bool:
        return False


class PrintProgress(Callback):
    """Prints one line per epoch to stderr (CLI --verbose)."""

    def __init__(self, every: int = 1, stream=None):
        import sys

        self.every = max(1, every)
        self.stream = stream or sys.stderr
        self._start = time.perf_counter()

    def on_epoch_end(self, estimator, info: EpochInfo) -> None:
        if info.epoch % self.every and info.epoch != info.n_epochs:
            return
        shown = " ".join(f"{k}={v:.4g}" for k, v in info.metrics.items() if isinstance(v, (int, float)))
        elapsed = time.perf_counter() - self._start
        print(f"[{info.phase} {info.epoch}/{info.n_epochs} {elapsed:.1f}s] {shown}", file=self.stream, flush=True)


class StopAfter(Callback):
    """Stops training after a given number of training epochs (tests, previews)."""

    def __init__(self, epochs: int):
        self.epochs = epochs
        self._seen = 0

    def on_epoch_end(self, estimator, info: EpochInfo) -> None:
        if info.phase == "train":
            self._seen += 1

    def should_stop(self, estimator) -> bool:
        return self._seen >= self.epochs

