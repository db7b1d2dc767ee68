"""DEC (Xie, Girshick, Farhadi 2016) and IDEC (Guo, Gao, Liu, Yin 2017). See docs/METHODS.md §4.

DEC: after pretraining the autoencoder, k-means on mu(X) (``kmeans_restarts`` restarts) gives the
cluster centres m_j; the encoder and the centres are then trained to minimise KL(P || Q), where

    q_ij ∝ (1 + ||z_i - m_j||² / α)^(-(α+1)/2)         (Student-t soft assignment)
    p_ij = (q_ij² / f_j) / Σ_j' (q_ij'² / f_j'),  f_j = Σ_i q_ij   (sharpened target)

The target P is computed on the FULL training data every ``update_interval`` minibatch iterations
(the first time before the first step) and held fixed in between, as in the paper and the authors'
code; a per-batch target would normalise f_j over 256 samples instead of N. Training stops early
when fewer than ``tol`` of the labels changed over the last max(update_interval, 140) iterations (the
authors' check, between targets 140 apart).

``update_interval`` defaults to "auto" (deepclust_core.defaults): the authors' 140 iterations are half an
epoch of MNIST at batch 256, so the interval is half an epoch, at most 140. On a few thousand points a fixed
140 meant 6-9 epochs between targets and a stop at the first check, so DEC ended where its k-means start
began; there the target now follows the encoder (gallery, RESULTS §8.3). Only the
encoder (and the centres) are trained: DEC discards the decoder.

IDEC keeps the decoder: L = L_r + γ·L_c with γ = 0.1, as in Guo et al. (γ weights the clustering
loss, the reconstruction loss has weight 1; with γ = 1 and L_r ≡ 0 it is DEC). L_r is the per-sample
reconstruction loss averaged over features (the scale of the authors' Keras "mse", for which γ = 0.1
was chosen), Bernoulli cross-entropy for data in [0, 1], squared error otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import numpy as np
import torch
from sklearn.cluster import KMeans
from torch.nn import functional as F

from .. import nn as dnn
from ..metrics import evaluate
from ..params import AUTO, param
from .base import AutoDeepClusterer, register_method


TOL_WINDOW = 140  # iterations over which ``tol`` is checked: the authors' target interval


def soft_assignment(z: torch.Tensor, centers: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Student-t kernel q_ij ∝ (1 + ||z_i - m_j||² / α)^(-(α+1)/2), rows normalised: (N, K)."""
    squared = (z.unsqueeze(1) - centers.unsqueeze(0)).pow(2).sum(-1)
    return torch.softmax(-0.5 * (alpha + 1.0) * torch.log1p(squared / alpha), dim=1)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """DEC's auxiliary target p_ij = (q_ij² / f_j) / Σ_j' (q_ij'² / f_j'), f_j = Σ_i q_ij.

    Meant for q over the whole data set: f_j is a cluster frequency.
    """
    weight = q.pow(2) / q.sum(0, keepdim=True).clamp_min(dnn.EPS)
    return weight / weight.sum(1, keepdim=True)


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(P || Q) per row: Σ_j p_ij log(p_ij / q_ij)."""
    return (p * (torch.log(p + dnn.EPS) - torch.log(q + dnn.EPS))).sum(1)


def reconstruction_error(x: torch.Tensor, decoded: torch.Tensor, likelihood: str,
                         reduction: str = "mean") -> torch.Tensor:
    """Per-sample reconstruction loss of a plain autoencoder, as in pretraining.

    Bernoulli cross-entropy on logits for data in [0, 1], squared error otherwise; summed
    (``reduction="sum"``, the pretraining scale) or averaged (``"mean"``) over features.
    """
    if likelihood == "bernoulli":
        per_feature = F.binary_cross_entropy_with_logits(decoded, x, reduction="none")
    else:
        per_feature = (decoded - x).pow(2)
    return per_feature.sum(1) if reduction == "sum" else per_feature.mean(1)


def kmeans_on(latent: torch.Tensor, n_clusters: int, restarts: int, seed: int) -> KMeans:
    """k-means (sklearn, float64) on a latent matrix."""
    return KMeans(n_clusters=n_clusters, n_init=restarts, random_state=seed).fit(
        latent.detach().cpu().numpy().astype(np.float64))


def encoder_parameters(autoencoder: dnn.Autoencoder) -> List[torch.nn.Parameter]:
    """The parameters that produce mu(x) (the variance head is unused by these methods)."""
    return list(autoencoder.encoder.parameters()) + list(autoencoder.mu_head.parameters())


@register_method("dec")
@dataclass(eq=False, repr=False)
class DEC(AutoDeepClusterer):
    """Deep Embedded Clustering: KL(P || Q) between a sharpened target and Student-t assignments."""

    epochs: int = param(100, "Training epochs after pretraining (at most; see tol).", low=1, high=100000)
    batch_size: int = param(256, "Minibatch size (paper: 256).", low=1)
    lr: float = param(0.001, "Adam learning rate.", low=0.0, low_inclusive=False, log=True)
    lr_decay: float = param(1.0, "Learning-rate factor applied every lr_decay_every epochs (1 = constant, "
                                 "as in the paper).", low=0.0, high=1.0, advanced=True)
    alpha: float = param(1.0, "α: degrees of freedom of the Student-t kernel (paper: 1).", low=0.0,
                         low_inclusive=False)
    update_interval: int = param(AUTO, "Minibatch iterations between recomputations of the target P on the "
                                       "full data; auto: half an epoch, at most the authors' 140 (which is half "
                                       "an epoch of MNIST at batch 256).", low=1)
    tol: float = param(0.001, "Stop when fewer than this fraction of labels changed over the last "
                              "max(update_interval, 140) iterations (paper: 0.1% between targets 140 apart; "
                              "0 = never).", low=0.0, high=1.0)
    kmeans_restarts: int = param(20, "k-means restarts initialising the centres on mu(X) (paper: 20).", low=1,
                                 advanced=True)

    uses_decoder = False

    # -- initialisation ----------------------------------------------------------------------
    def _initialize(self, x_np, x, labels) -> None:
        mu = self._encode_means(x)
        km = kmeans_on(mu, self.n_clusters, self.kmeans_restarts, self.random_state)
        self.init_labels_ = km.labels_
        self.init_scores_ = evaluate(labels, self.init_labels_) if labels is not None else None
        self.centers_ = torch.nn.Parameter(torch.as_tensor(km.cluster_centers_, dtype=torch.float32,
                                                           device=self.device_))
        self.target_ = None
        self.label_changes_: List[float] = []
        self.converged_ = False
        self._iteration = 0
        self._updates = 0
        self._target_labels = None

    def _trainable_parameters(self):
        modules = encoder_parameters(self.autoencoder_)
        if self.uses_decoder:
            modules += list(self.autoencoder_.decoder.parameters())
        return modules + [self.centers_]

    # -- training ----------------------------------------------------------------------------
    @torch.no_grad()
    def _update_target(self, x: torch.Tensor) -> None:
        """Recompute P from Q on the full training data; track how many labels changed."""
        q = soft_assignment(self._encode_with(self.autoencoder_, x), self.centers_, self.alpha)
        self.target_ = target_distribution(q)
        assigned = q.argmax(1)
        self._updates += 1
        # Compare with the labels of a check at least TOL_WINDOW iterations back (the authors' interval): with a
        # target every few steps, two consecutive targets differ by nothing long before the labels settle.
        if self._target_labels is None or self._updates * self.update_interval >= TOL_WINDOW:
            if self._target_labels is not None:
                changed = float((assigned != self._target_labels).float().mean())
                self.label_changes_.append(changed)
                if changed < self.tol:
                    self.converged_ = True
            self._target_labels, self._updates = assigned, 0

    def _step_target(self, x) -> None:
        """Refresh the target P on the full data every ``update_interval`` minibatches (never per batch)."""
        if self._iteration % self.update_interval == 0:
            self._update_target(x)
        self._iteration += 1

    def _batch_loss(self, x, index) -> Dict[str, torch.Tensor]:
        self._step_target(x)
        batch = x[index]
        z = self.autoencoder_.encode(batch)[0]
        q = soft_assignment(z, self.centers_, self.alpha)
        kl = kl_divergence(self.target_[index], q).mean()
        if not self.uses_decoder:
            return {"loss": kl, "kl": kl}
        recon = reconstruction_error(batch, self.autoencoder_.decode(z), self.likelihood_).mean()
        return {"loss": recon + self.gamma * kl, "recon": recon, "kl": kl}

    def _schedule_done(self, epoch: int) -> bool:
        """The labels settled (``tol``): a finished fit, not a stop."""
        return self.converged_

    @torch.no_grad()
    def _proba_tensor(self, x) -> torch.Tensor:
        return soft_assignment(self._encode_means(x), self.centers_, self.alpha)

    def cluster_centers(self) -> np.ndarray:
        """The learned centres m_j in the latent space: (K, M)."""
        return self.centers_.detach().cpu().numpy()


@register_method("idec")
@dataclass(eq=False, repr=False)
class IDEC(DEC):
    """Improved DEC: DEC's clustering loss plus the autoencoder's reconstruction loss."""

    gamma: float = param(0.1, "γ: weight of the clustering (KL) loss; reconstruction has weight 1 "
                              "(paper: 0.1).", low=0.0)

    uses_decoder = True
