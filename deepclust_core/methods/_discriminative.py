"""Shared parts of the survey's discriminative methods (RIM, IMSAT, DAC) and of DEPICT and DEN.

- ``DiscriminativeClusterer``: a network p(y|x) trained from scratch on a per-batch loss; the same training
  loop, callbacks, divergence and collapse checks as ``DeepClusterer`` (which these methods do not use: they
  have no autoencoder to pretrain). Subclasses supply ``_build``, ``_batch_loss`` and ``_latent``.
- Networks: an MLP with batch norm (IMSAT's), a small convolutional net for square images, and the closed-form
  multilogit model whose argmax is a k-means partition (the start of RIM and DEPICT's clustering head).
- Information terms: marginal entropy H(Y) and conditional entropy H(Y|X) of a batch of soft assignments.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.cluster import KMeans
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn import functional as F

from .. import nn as dnn
from ..callbacks import Callback
from ..errors import InputError, TrainingError
from ..metrics import evaluate
from ..params import param
from ..validation import check_labels
from .base import BaseClusterer, _CallbackList

EPS = 1e-8


# -- information terms ----------------------------------------------------------------------------
def marginal_entropy(p: torch.Tensor) -> torch.Tensor:
    """H(Y) of the batch's mean assignment p̄ = (1/B) Σ_i p(y|x_i): large when clusters are balanced."""
    mean = p.mean(0)
    return -(mean * torch.log(mean + EPS)).sum()


def conditional_entropy(p: torch.Tensor) -> torch.Tensor:
    """H(Y|X) = (1/B) Σ_i H(p(y|x_i)): small when each assignment is confident."""
    return -(p * torch.log(p + EPS)).sum(1).mean()


# -- networks -------------------------------------------------------------------------------------
def bn_mlp(dims: Sequence[int]) -> nn.Sequential:
    """Linear → BatchNorm → ReLU per hidden layer, a plain linear output (IMSAT's network)."""
    layers: List[nn.Module] = []
    for d_in, d_out in zip(dims[:-2], dims[1:-1]):
        layers += [nn.Linear(d_in, d_out), nn.BatchNorm1d(d_out), nn.ReLU()]
    layers.append(nn.Linear(dims[-2], dims[-1]))
    return nn.Sequential(*layers)


class ConvNet(nn.Module):
    """Flat square images → features: 3×3 conv blocks (BatchNorm, ReLU, 2×2 max-pool while the side allows),
    then a linear layer. ``forward`` takes flat rows and reshapes them."""

    def __init__(self, side: int, channels: int, widths: Sequence[int], out_dim: int):
        super().__init__()
        self.side, self.channels = side, channels
        layers: List[nn.Module] = []
        size, previous = side, channels
        for width in widths:
            layers += [nn.Conv2d(previous, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
            if size >= 4:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            previous = width
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(previous * size * size, out_dim)

    def images(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if self.channels == 1:
            return x.view(n, 1, self.side, self.side)
        return x.view(n, self.side, self.side, self.channels).permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.images(x)))


def choose_network(kind: str, n_features: int) -> Optional[Tuple[int, int]]:
    """(side, channels) when a convolutional net is used, None for the MLP. ``kind``: auto (square images of at
    least 8×8), conv (any square image) or mlp."""
    shape = dnn.image_side(n_features)
    if kind == "conv" and shape is None:
        raise InputError(f"network='conv' needs square grey (side²) or RGB (3·side²) images; rows of {n_features} "
                         f"features are not; use 'mlp' or 'auto'.")
    if kind == "auto":
        return dnn.auto_image_side(n_features)
    return shape if kind == "conv" else None


def nearest_centre_logits(centres: np.ndarray, x: np.ndarray, sharpness: float = 2.0) -> Tuple[np.ndarray, np.ndarray]:
    """(W, b) of a multilogit model softmax(β(x·c_k − ½‖c_k‖²)) whose argmax is the nearest centre.

    k-means cells are linear (Voronoi), so this is exactly the k-means partition. β is a rule on the data: the
    median gap between the nearest and the second-nearest centre's logits equals ``sharpness``.
    """
    squared = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
    two = np.sort(squared, axis=1)[:, :2]
    gap = float(np.median(two[:, 1] - two[:, 0])) / 2.0
    beta = sharpness / max(gap, 1e-12)
    return beta * centres, -0.5 * beta * (centres ** 2).sum(1)


def kmeans_start(features: np.ndarray, n_clusters: int, seed: int, restarts: int = 10) -> KMeans:
    return KMeans(n_clusters=n_clusters, n_init=restarts, random_state=seed).fit(features.astype(np.float64))


def kth_neighbour_distance(x: torch.Tensor, k: int) -> torch.Tensor:
    """Euclidean distance of each sample to its k-th nearest neighbour (IMSAT's per-sample radius)."""
    from ..graph import knn

    k = max(1, min(k, x.shape[0] - 1))
    distances, _ = knn(x, k)
    return distances[:, -1]


# -- the estimator base -----------------------------------------------------------------------------
@dataclass(eq=False, repr=False)
class DiscriminativeClusterer(TransformerMixin, BaseClusterer):
    """A network p(y|x) trained on a per-batch objective; label = argmax_y p(y|x)."""

    epochs: int = param(50, "Training epochs.", low=1, high=100000)
    batch_size: int = param(250, "Minibatch size (at most the number of samples).", low=2)
    lr: float = param(0.002, "Adam learning rate.", low=0.0, low_inclusive=False, log=True)
    weight_decay: float = param(0.0, "Adam weight decay.", low=0.0, advanced=True)
    device: str = param("auto", "auto = CUDA, then MPS, then CPU.", choices=("auto", "cpu", "cuda", "mps"))

    has_latent = True

    # hooks -------------------------------------------------------------------------------------
    def _build(self, x_np: np.ndarray, x: torch.Tensor, labels) -> None:
        """Create the networks (self.network_ and anything else) and any fixed per-sample quantities."""
        raise NotImplementedError

    def _batch_loss(self, x: torch.Tensor, index: torch.Tensor) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    def _on_epoch_start(self, epoch: int) -> None:
        pass

    def _start_batch(self, x: torch.Tensor, index: torch.Tensor) -> None:
        """Before the steps on one minibatch (e.g. targets computed once for all of them)."""

    def _steps_per_batch(self) -> int:
        """Gradient steps taken on each minibatch (one, unless a method repeats them)."""
        return 1

    def _modules(self) -> List[nn.Module]:
        return [self.network_]

    def _optimizer(self, params: List[torch.Tensor]) -> torch.optim.Optimizer:
        """The optimizer of every step (Adam, unless a method offers its paper's)."""
        return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.network_(x)

    def _latent(self, x: torch.Tensor) -> torch.Tensor:
        """What ``transform`` returns (default: the soft assignments p(y|x))."""
        return torch.softmax(self._logits(x), 1)

    # public API --------------------------------------------------------------------------------
    def fit(self, X, y=None, callbacks: Optional[Sequence[Callback]] = None):
        x_np, labels = self.check_input(X, y)
        with self._auto_resolved(x_np, record=True):  # "auto" parameters hold their values during the fit
            return self._fit_resolved(x_np, labels, callbacks)

    def _fit_resolved(self, x_np: np.ndarray, labels, callbacks):
        callbacks, self.generator_, started = self._start_fit(x_np, callbacks)
        x = torch.as_tensor(x_np, device=self.device_)
        callbacks.fit_start(self, {"n_samples": x.shape[0], "device": str(self.device_)})
        self._build(x_np, x, labels)
        for module in self._modules():
            module.to(self.device_)
        start = self._predict_tensor(x)
        self.model_start_labels_ = start
        self.model_start_scores_ = evaluate(labels, start) if labels is not None else None
        return self._train_and_finish(x, labels, callbacks, started)

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "labels_")
        return self._chunked(lambda rows: torch.softmax(self._logits(rows), 1), self._to_device(X)).cpu().numpy()

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "labels_")
        return self._chunked(self._latent, self._to_device(X)).cpu().numpy()

    def scores(self, y) -> Dict[str, float]:
        """ACC, NMI and ARI of the fitted labels against ground truth."""
        check_is_fitted(self, "labels_")
        return evaluate(check_labels(y, len(self.labels_)), self.labels_)

    # machinery ---------------------------------------------------------------------------------
    def _set_train_mode(self, training: bool) -> None:
        for module in self._modules():
            module.train(training)

    @torch.no_grad()
    def _chunked(self, function, x: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        self._set_train_mode(False)
        return torch.cat([function(x[i:i + chunk]) for i in range(0, x.shape[0], chunk)])

    def _predict_tensor(self, x: torch.Tensor) -> np.ndarray:
        return self._chunked(self._logits, x).argmax(1).cpu().numpy()

    def _effective_batch(self, n: int) -> int:
        return max(2, min(self.batch_size, n))

    def _train(self, x: torch.Tensor, labels, callbacks: _CallbackList) -> None:
        params = [p for module in self._modules() for p in module.parameters() if p.requires_grad]
        optimizer = self._optimizer(params)
        n, batch, steps = x.shape[0], self._effective_batch(x.shape[0]), self._steps_per_batch()
        self.n_iter_ = 0
        for epoch in range(1, self.epochs + 1):
            self._on_epoch_start(epoch)
            self._set_train_mode(True)
            order = torch.randperm(n, generator=self.generator_, device=self.device_)
            sums: Dict[str, torch.Tensor] = {}
            # Batch norm needs two samples: a last batch of one is folded into the previous one.
            starts = [s for s in range(0, n, batch) if n - s >= 2 or s == 0]
            for i, begin in enumerate(starts):
                end = starts[i + 1] if i + 1 < len(starts) else n
                index = order[begin:end]
                self._start_batch(x, index)
                for _ in range(steps):
                    terms = self._batch_loss(x, index)
                    optimizer.zero_grad(set_to_none=True)
                    terms["loss"].backward()
                    optimizer.step()
                    for key, value in terms.items():
                        sums[key] = sums.get(key, 0.0) + value.detach() * index.shape[0]
            self.n_iter_ = epoch
            metrics = {key: float(value) / (n * steps) for key, value in sums.items()}
            if not all(math.isfinite(v) for v in metrics.values()):
                bad = ", ".join(f"{k}={v}" for k, v in metrics.items() if not math.isfinite(v))
                raise TrainingError(f"Training diverged at epoch {epoch}: {bad}. Try a lower lr.")
            predicted = self._predict_tensor(x)
            if labels is not None:
                metrics.update(evaluate(labels, predicted))
            metrics["clusters_used"] = int(np.unique(predicted).size)
            metrics.update(self._epoch_diagnostics())

            def latent(predicted=predicted):
                return self._chunked(self._latent, x).cpu().numpy(), predicted

            if self._record(self.history_, "train", epoch, self.epochs, metrics, callbacks, latent):
                self.stopped_early_ = True
                break
            if self._schedule_done(epoch):
                break

    def _epoch_diagnostics(self) -> Dict[str, float]:
        return {}

    def _check_collapse(self, labels: np.ndarray) -> None:
        used = int(np.unique(labels).size)
        self.n_clusters_used_ = used
        self.collapsed_ = used < self.n_clusters
        if self.collapsed_:
            message = f"{type(self).__name__} used only {used} of {self.n_clusters} clusters (collapse)."
            self.warnings_.append(message)
            warnings.warn(message, RuntimeWarning, stacklevel=3)


def softmax_kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """KL(p ‖ q) per row between the softmaxes of two logit matrices."""
    log_p = F.log_softmax(p_logits, 1)
    return (log_p.exp() * (log_p - F.log_softmax(q_logits, 1))).sum(1)
