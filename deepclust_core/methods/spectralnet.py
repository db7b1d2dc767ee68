"""SpectralNet (Shaham et al. 2018) and its RSM variant ("Robust deep spectral clustering"): learn a
map y = F(x) minimising Σ_ij W_ij ||y_i - y_j||² under an orthogonality constraint, then k-means on
y (docs/METHODS.md §4).

- Affinity W, per minibatch: the ``n_neighbors`` nearest neighbours of each sample within the batch
  (``deepclust_core.graph.knn``), Gaussian weights exp(-d²/(2σ²)) with σ the batch median of the
  distance to the ``scale_neighbor``-th neighbour (SpectralNet's ``scale_nbr``), symmetrised.
  Distances are taken in ``feature_space``: the raw input, or the latent means of the shared
  pretrained autoencoder (the paper's "code space"; the map then runs on those codes too).
- ``variant="spectralnet"``: the last layer (tanh, as in the authors' code) is followed by an
  orthonormalisation layer Y = Ỹ·L^(-T), L the Cholesky factor of ỸᵀỸ/B, so YᵀY/B = I.
  Deviation, measured: the paper alternates an orthogonalisation step with a gradient step in which
  the layer is frozen. On the 10-D MNIST autoencoder codes that let the net shrink Ỹ between steps
  until a few outlying samples carried all the variance (loss → 0, ACC 0.11, 5 distinct
  embeddings). By default (``ortho_gradient=True``) the gradient flows through the Cholesky
  orthonormalisation of the batch, which makes the loss invariant to the scale of Ỹ (same data:
  ACC 0.70); ``ortho_gradient=False`` restores the paper's alternation.
- ``laplacian="normalized"`` (auto on more than 50 features) scales y_i by 1/√d_i (d_i = Σ_j W_ij) inside the loss, so a
  weakly connected sample cannot take an extreme value for free; ``"unnormalized"`` is the
  paper's Σ_ij W_ij ||y_i - y_j||² (MNIST codes, 10 epochs, 256-256 map: ACC 0.71 against 0.64).
- ``variant="rsm"``: no orthonormalisation layer; the penalty ``ortho_penalty``·||YᵀY/B - I||²_F
  holds the constraint, and each batch draws its kernel bandwidth at random, σ·exp(u),
  u ~ U(-ln j, ln j), j = ``bandwidth_jitter``, so no single scale decides the graph.

The loss reported is (1/B)·Σ_ij W_ij ||y_i - y_j||² (normalised as above; plus the penalty for RSM). After training,
the orthonormalisation is computed once on the whole training set and k-means
(``kmeans_restarts``) on Y gives the labels; ``transform`` returns Y, ``predict`` the nearest
k-means centre, ``predict_proba`` its one-hot encoding.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from .. import graph as dgraph
from .. import nn as dnn
from ..errors import InputError
from ..params import AUTO, param
from .base import AutoDeepClusterer, register_method
from .dcn import squared_distances
from .dec import kmeans_on


class SpectralMap(nn.Module):
    """MLP features -> K outputs, optionally followed by SpectralNet's orthonormalisation layer."""

    def __init__(self, input_dim: int, hidden: Tuple[int, ...], output_dim: int, orthonormal: bool):
        super().__init__()
        self.orthonormal = orthonormal
        self.body = dnn.mlp([input_dim, *hidden, output_dim])
        self.register_buffer("ortho", torch.eye(output_dim))

    def raw(self, h: torch.Tensor) -> torch.Tensor:
        out = self.body(h)
        return torch.tanh(out) if self.orthonormal else out

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out = self.raw(h)
        return out @ self.ortho if self.orthonormal else out

    @torch.no_grad()
    def orthonormalize(self, h: torch.Tensor) -> None:
        """Set the layer so that YᵀY/B = I on these samples."""
        self.ortho.copy_(orthonormalizing_matrix(self.raw(h)))


def orthonormalizing_matrix(raw: torch.Tensor) -> torch.Tensor:
    """M with (raw M)ᵀ(raw M)/B = I: M = L^(-T), L the Cholesky factor of rawᵀraw/B (differentiable).

    Computed in float64; a Gram matrix that is numerically singular gets a growing ridge.
    """
    wide = raw.double()
    gram = wide.T @ wide / wide.shape[0]
    identity = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    scale = gram.diagonal().mean().detach().clamp_min(1e-12)
    for ridge in (1e-10, 1e-8, 1e-6, 1e-4, 1e-2):
        lower, info = torch.linalg.cholesky_ex(gram + ridge * scale * identity)
        if int(info) == 0:
            break
    return torch.linalg.solve_triangular(lower, identity, upper=False).T.to(raw.dtype)


def batch_affinity(h: torch.Tensor, n_neighbors: int, scale_neighbor: int,
                   bandwidth_factor: float = 1.0) -> torch.Tensor:
    """Symmetrised Gaussian kNN affinity within a batch: (B, B)."""
    k = min(n_neighbors, h.shape[0] - 1)
    distances, indices = dgraph.knn(h, k)
    sigma = distances[:, min(scale_neighbor, k) - 1].median().clamp_min(1e-12) * bandwidth_factor
    weights = torch.exp(-distances.pow(2) / (2.0 * sigma.pow(2)))
    affinity = torch.zeros(h.shape[0], h.shape[0], device=h.device).scatter_(1, indices, weights)
    return 0.5 * (affinity + affinity.T)


@register_method("spectralnet")
@dataclass(eq=False, repr=False)
class SpectralNet(AutoDeepClusterer):
    """Deep spectral embedding of a kNN graph, then k-means."""

    variant: str = param("spectralnet", "Orthogonality by an orthonormalisation layer (SpectralNet) or by a "
                                        "penalty with random kernel bandwidths (RSM).",
                         choices=("spectralnet", "rsm"))
    feature_space: str = param("input", "What the map and the kNN affinity see: the raw input, or the latent "
                                        "means of the pretrained autoencoder (paper: code space for MNIST).",
                               choices=("input", "latent"))
    laplacian: str = param(AUTO, "Loss Σ W_ij ||y_i/√d_i - y_j/√d_j||² (normalized, d_i = Σ_j W_ij) or "
                                 "Σ W_ij ||y_i - y_j||² (unnormalized, the paper's); auto: unnormalized for up to 50 "
                                 "features, normalized beyond.", choices=("auto", "normalized", "unnormalized"))
    n_neighbors: int = param(10, "Neighbours per sample (within each batch) in the affinity W.", low=1,
                             high=1000)
    scale_neighbor: int = param(2, "Kernel bandwidth σ = batch median of the distance to this neighbour "
                                   "(paper: 2).", low=1, high=1000)
    embedding_dim: Optional[int] = param(None, "Output dimension of the map (empty = n_clusters).", low=1,
                                         high=1024)
    map_hidden: Tuple[int, ...] = param(AUTO, "Hidden layers of the map; auto: the paper's 1024-1024-512 for more "
                                              "than 50 features, 64-64 for fewer.", low=1)
    ortho_gradient: bool = param(True, "SpectralNet: back-propagate through the orthonormalisation of each batch "
                                       "(False = the paper's alternation, layer frozen in the gradient step).",
                                 advanced=True)
    ortho_penalty: float = param(1.0, "RSM: weight of ||YᵀY/B - I||².", low=0.0)
    bandwidth_jitter: float = param(2.0, "RSM: each batch scales σ by a log-uniform factor in [1/j, j].",
                                    low=1.0)
    kmeans_restarts: int = param(10, "k-means restarts on the embedding.", low=1, advanced=True)
    epochs: int = param(100, "Training epochs of the map.", low=1, high=100000)
    batch_size: int = param(1024, "Minibatch size: the affinity is built within each batch (paper: 1024).",
                            low=2)
    lr: float = param(0.001, "Adam learning rate.", low=0.0, low_inclusive=False, log=True)

    # -- checks ------------------------------------------------------------------------------
    def _check_method_params(self, x: np.ndarray) -> None:
        super()._check_method_params(x)
        smallest = min(self.batch_size, x.shape[0])
        if self.n_neighbors >= smallest:
            raise InputError(f"n_neighbors ({self.n_neighbors}) must be smaller than the batch size and the "
                             f"number of samples ({smallest}).")
        if self.variant == "spectralnet" and smallest < 2 * self._output_dim:
            raise InputError(f"batch_size ({self.batch_size}) must be at least twice the embedding dimension "
                             f"({self._output_dim}) for the orthonormalisation layer.")

    @property
    def _output_dim(self) -> int:
        return self.embedding_dim or self.n_clusters

    # -- the autoencoder only serves the latent feature space ----------------------------------
    def _pretrain(self, x_np, x, labels, callbacks):
        if self.feature_space == "latent":
            return super()._pretrain(x_np, x, labels, callbacks)
        self.pretrain_cached_ = False
        return None

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        if self.feature_space == "latent":
            return self._encode_with(self.autoencoder_, x)
        return x

    # -- training ----------------------------------------------------------------------------
    def _initialize(self, x_np, x, labels) -> None:
        torch.manual_seed(self.random_state)  # same weights whether or not the autoencoder came from the cache
        self.train_features_ = self._features(x)
        self.map_ = SpectralMap(self.train_features_.shape[1], self.map_hidden, self._output_dim,
                                orthonormal=self.variant == "spectralnet").to(self.device_)
        self._stale = True

    def _modules(self) -> List[torch.nn.Module]:
        return [self.map_]

    def _trainable_parameters(self):
        return list(self.map_.parameters())

    def _batch_loss(self, x, index) -> Dict[str, torch.Tensor]:
        h = self.train_features_[index]
        n = h.shape[0]
        self._stale = True
        factor = 1.0
        if self.variant == "rsm":
            log_jitter = math.log(self.bandwidth_jitter)
            u = torch.rand((), generator=self.generator_, device=self.device_) * 2.0 - 1.0
            factor = float(torch.exp(u * log_jitter))
        with torch.no_grad():
            affinity = batch_affinity(h, self.n_neighbors, self.scale_neighbor, factor)
        if self.variant == "spectralnet" and self.ortho_gradient and n >= 2 * self._output_dim:
            raw = self.map_.raw(h)
            ortho = orthonormalizing_matrix(raw)
            self.map_.ortho.copy_(ortho.detach())
            y = raw @ ortho
        else:
            if self.variant == "spectralnet" and n >= 2 * self._output_dim:
                self.map_.orthonormalize(h)  # a remainder batch too small for it keeps the last layer
            y = self.map_(h)
        if self.laplacian == "normalized":
            y = y / affinity.sum(1, keepdim=True).clamp_min(1e-12).sqrt()
        spectral = (affinity * squared_distances(y, y)).sum() / n
        if self.variant == "spectralnet":
            return {"loss": spectral, "spectral": spectral}
        gram = y.T @ y / n
        ortho = (gram - torch.eye(gram.shape[0], device=y.device)).pow(2).sum()
        return {"loss": spectral + self.ortho_penalty * ortho, "spectral": spectral, "ortho": ortho}

    def _train(self, x, labels, callbacks) -> None:
        super()._train(x, labels, callbacks)
        self._refresh()
        del self.train_features_  # the fitted model keeps only the map and the centres

    @torch.no_grad()
    def _refresh(self) -> None:
        """Orthonormalise on all training samples, then k-means on the embedding."""
        if not self._stale:
            return
        was_training = self.map_.training
        self.map_.eval()
        if self.variant == "spectralnet":
            self.map_.orthonormalize(self.train_features_)
        embedding = self.map_(self.train_features_)
        self.map_.train(was_training)
        km = kmeans_on(embedding, self.n_clusters, self.kmeans_restarts, self.random_state)
        self.centers_ = torch.as_tensor(km.cluster_centers_, dtype=torch.float32, device=self.device_)
        self._stale = False

    # -- outputs -----------------------------------------------------------------------------
    @torch.no_grad()
    def _encode_means(self, x: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
        """The spectral embedding Y of x."""
        self._refresh()
        self.map_.eval()
        return torch.cat([self.map_(self._features(x[i:i + chunk])) for i in range(0, x.shape[0], chunk)])

    @torch.no_grad()
    def _proba_tensor(self, x) -> torch.Tensor:
        nearest = squared_distances(self._encode_means(x), self.centers_).argmin(1)
        return torch.nn.functional.one_hot(nearest, self.n_clusters).float()
