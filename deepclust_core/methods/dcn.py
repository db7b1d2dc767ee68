"""DCN (Yang, Fu, Sidiropoulos, Hong 2017) and DKM (Fard, Thonet, Gaussier 2020): an autoencoder
plus a k-means loss in its latent space (docs/METHODS.md §4).

DCN: L = L_r + (λ/2)·||z_i - m_{s_i}||² with hard assignments s_i and centres m_k that are not
trained by gradient but updated alternately, per minibatch, as in the paper's Algorithm 1:
s_i = argmin_k ||z_i - m_k||, then for each sample m_k <- m_k - (1/c_k)(m_k - z_i) with the
per-cluster count c_k incremented first (a running mean; c_k starts at ``initial_count``, 100 in
the authors' code, so early batches do not throw the k-means centres around). One difference of
order, for simplicity: the assignments and centres are refreshed with the current network just
before its gradient step on the batch rather than just after it.

DKM: L = L_r + λ·Σ_k ||z_i - r_k||² G_k(z_i; α), G = softmax_k(-α ||z_i - r_k||²), a
differentiable k-means loss; the representatives r_k are trained by gradient with the network, and
α is annealed from ``alpha_start`` with the paper's schedule α_n = 2^(1/ln(n)²)·α_(n-1) (one step
every ``epochs_per_alpha`` epochs). Labels are argmin_k ||z - r_k|| (argmax G).

``center_refresh="epoch"`` (the automatic choice when the latent is wider than the data,
deepclust_core/defaults.py) departs from both papers: at each epoch's start the centres (DCN) or
representatives (DKM) are re-made as the means of the current latent's nearest-centre groups (DCN's
counts go back to ``initial_count``). DCN's running mean otherwise averages codes from an encoder that
has since moved, DKM's representatives follow by small Adam steps, and a latent that the reconstruction
term does not hold follows the k-means term onto those stale centres (measured on the gallery's skewed
blobs: docs/RESULTS.md §8.5).

Both start from the shared pretrained autoencoder with k-means (``kmeans_restarts``) on mu(X).
L_r is the per-sample reconstruction loss summed over features, the pretraining scale (Bernoulli
cross-entropy for data in [0, 1], squared error otherwise), averaged over the batch, as in the
reference implementations (whose λ values thus carry over up to the data's scale).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict

import numpy as np
import torch

from ..metrics import evaluate
from ..params import AUTO, param
from .base import AutoDeepClusterer, register_method
from .dec import encoder_parameters, kmeans_on, reconstruction_error


def squared_distances(z: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """||z_i - m_k||² for every sample and centre: (N, K)."""
    return (z.unsqueeze(1) - centers.unsqueeze(0)).pow(2).sum(-1)


def dkm_alpha(step: int, alpha_start: float) -> float:
    """α after ``step`` annealing steps (step 0 = alpha_start): α_n = 2^(1/ln(n)²)·α_(n-1), n >= 2."""
    alpha = alpha_start
    for n in range(2, step + 2):
        alpha *= 2.0 ** (1.0 / math.log(n) ** 2)
    return alpha


@dataclass(eq=False, repr=False)
class _KMeansAutoencoder(AutoDeepClusterer):
    """Shared parts: k-means initialisation on mu(X), full autoencoder training, nearest-centre labels."""

    auto_rule_family = "kmeans_autoencoder"  # their own "auto" learning rate (deepclust_core.defaults)

    epochs: int = param(50, "Training epochs after pretraining.", low=1, high=100000)
    batch_size: int = param(256, "Minibatch size.", low=1)
    lr: float = param(AUTO, "Adam learning rate of the clustering phase; auto: 0.0001 when the latent is wider "
                            "than the data (the reconstruction term hardly holds it), else the papers' 0.001.",
                      low=0.0, low_inclusive=False, log=True)
    lr_decay: float = param(1.0, "Learning-rate factor applied every lr_decay_every epochs (1 = constant).",
                            low=0.0, high=1.0, advanced=True)
    kmeans_weight: float = param(1.0, "λ: weight of the k-means loss against the reconstruction loss.", low=0.0)
    kmeans_restarts: int = param(10, "k-means restarts initialising the centres on mu(X).", low=1, advanced=True)
    center_refresh: str = param("auto", "Centres re-made as the means of the current latent's nearest-centre groups "
                                        "at each epoch's start ('epoch') or left to the paper's updates ('none'); "
                                        "auto: 'epoch' when the latent is wider than the data.",
                                choices=("auto", "epoch", "none"), advanced=True)

    def _initialize(self, x_np, x, labels) -> None:
        km = kmeans_on(self._encode_means(x), self.n_clusters, self.kmeans_restarts, self.random_state)
        self.init_labels_ = km.labels_
        self.init_scores_ = evaluate(labels, self.init_labels_) if labels is not None else None
        self.centers_ = torch.as_tensor(km.cluster_centers_, dtype=torch.float32, device=self.device_)

    def _trainable_parameters(self):
        return encoder_parameters(self.autoencoder_) + list(self.autoencoder_.decoder.parameters())

    @torch.no_grad()
    def _refresh_centers(self, x) -> None:
        """centers <- means of the current latent's nearest-centre groups (an empty group keeps its centre)."""
        z = self._encode_means(x)  # eval mode: the codes the labels are read from
        self._set_train_mode(True)
        assigned = squared_distances(z, self.centers_).argmin(1)
        counts = torch.bincount(assigned, minlength=self.n_clusters).float()
        sums = torch.zeros_like(self.centers_).index_add_(0, assigned, z)
        used = counts > 0
        self.centers_.data[used] = sums[used] / counts[used].unsqueeze(1)

    def _on_epoch_start(self, x, epoch: int) -> None:
        if self.center_refresh == "epoch":
            self._refresh_centers(x)

    def _reconstruction(self, batch: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return reconstruction_error(batch, self.autoencoder_.decode(z), self.likelihood_, reduction="sum").mean()

    def cluster_centers(self) -> np.ndarray:
        """The k-means centres (DCN) or representatives (DKM) in the latent space: (K, M)."""
        return self.centers_.detach().cpu().numpy()


@register_method("dcn")
@dataclass(eq=False, repr=False)
class DCN(_KMeansAutoencoder):
    """Deep Clustering Network: autoencoder + hard k-means loss with alternating centre updates."""

    kmeans_weight: float = param(1.0, "λ: the k-means loss is (λ/2)·||z - m_s||² against the reconstruction "
                                      "loss.", low=0.0)
    initial_count: int = param(100, "Initial per-cluster count c_k of the running-mean centre update "
                                    "(authors' code: 100).", low=1, advanced=True)

    def _initialize(self, x_np, x, labels) -> None:
        super()._initialize(x_np, x, labels)
        self.counts_ = torch.full((self.n_clusters,), float(self.initial_count), device=self.device_)

    def _on_epoch_start(self, x, epoch: int) -> None:
        super()._on_epoch_start(x, epoch)
        if self.center_refresh == "epoch":
            self.counts_.fill_(float(self.initial_count))

    @torch.no_grad()
    def _update_centers(self, z: torch.Tensor) -> torch.Tensor:
        """Assign each sample to its nearest centre, then move the centres (running means)."""
        assigned = squared_distances(z, self.centers_).argmin(1)
        batch_counts = torch.bincount(assigned, minlength=self.n_clusters).float()
        sums = torch.zeros_like(self.centers_).index_add_(0, assigned, z)
        self.counts_ += batch_counts
        # Sequential updates m <- m - (z - m)/c with c incremented per sample equal this running mean.
        self.centers_ += (sums - batch_counts.unsqueeze(1) * self.centers_) / self.counts_.unsqueeze(1)
        return assigned

    def _batch_loss(self, x, index) -> Dict[str, torch.Tensor]:
        batch = x[index]
        z = self.autoencoder_.encode(batch)[0]
        assigned = self._update_centers(z.detach())
        kmeans = 0.5 * (z - self.centers_[assigned]).pow(2).sum(1).mean()
        recon = self._reconstruction(batch, z)
        return {"loss": recon + self.kmeans_weight * kmeans, "recon": recon, "kmeans": kmeans}

    @torch.no_grad()
    def _proba_tensor(self, x) -> torch.Tensor:
        """One-hot nearest-centre assignments (DCN's clustering is hard)."""
        nearest = squared_distances(self._encode_means(x), self.centers_).argmin(1)
        return torch.nn.functional.one_hot(nearest, self.n_clusters).float()


@register_method("dkm")
@dataclass(eq=False, repr=False)
class DKM(_KMeansAutoencoder):
    """Deep k-Means: autoencoder + differentiable soft k-means loss with an annealed inverse temperature α."""

    alpha_start: float = param(0.1, "α at the first epoch (paper: 0.1).", low=0.0, low_inclusive=False, log=True)
    epochs_per_alpha: int = param(1, "Epochs between annealing steps α_n = 2^(1/ln(n)²)·α_(n-1).", low=1)

    def _initialize(self, x_np, x, labels) -> None:
        super()._initialize(x_np, x, labels)
        self.centers_ = torch.nn.Parameter(self.centers_)
        self.alpha_ = self.alpha_start

    def _trainable_parameters(self):
        return super()._trainable_parameters() + [self.centers_]

    def _on_epoch_start(self, x, epoch: int) -> None:
        super()._on_epoch_start(x, epoch)
        self.alpha_ = dkm_alpha((epoch - 1) // self.epochs_per_alpha, self.alpha_start)

    def _batch_loss(self, x, index) -> Dict[str, torch.Tensor]:
        batch = x[index]
        z = self.autoencoder_.encode(batch)[0]
        distances = squared_distances(z, self.centers_)
        weights = torch.softmax(-self.alpha_ * distances, dim=1)
        kmeans = (weights * distances).sum(1).mean()
        recon = self._reconstruction(batch, z)
        # alpha is constant over the epoch: reported next to the loss terms, not optimised.
        return {"loss": recon + self.kmeans_weight * kmeans, "recon": recon, "kmeans": kmeans,
                "alpha": torch.tensor(self.alpha_, device=z.device)}

    @torch.no_grad()
    def _proba_tensor(self, x) -> torch.Tensor:
        return torch.softmax(-self.alpha_ * squared_distances(self._encode_means(x), self.centers_), dim=1)
