"""DEN: Deep Embedding Network for clustering (Huang, Huang, Wang, Wang, ICPR 2014). See docs/METHODS.md §8.

An autoencoder is pretrained for reconstruction (the shared, cached one), then fine-tuned on

    L = L_rec + α L_loc + β L_sparse,
    L_loc    = Σ_j w_ij ‖z_i − z_j‖²          over x_i's nearest neighbours j in the input space, heat-kernel
                                               weights w_ij (the locality-preserving constraint, as in
                                               Laplacian eigenmaps: neighbours stay neighbours in the code),
    L_sparse = Σ_g ‖z_i^(g)‖₂                  the code's units split into K groups (group lasso), so that each
                                               sample tends to use the units of one group (one cluster),

and the clusters are k-means on the fine-tuned code z (``kmeans_restarts`` restarts). L_rec is the per-sample
reconstruction loss of pretraining (Bernoulli cross-entropy summed over features for data in [0, 1], squared
error otherwise). Per step, one neighbour per anchor is drawn by weight (an unbiased estimate of the weighted sum,
one extra encoder pass). The start is k-means on the pretrained code; per epoch a one-restart k-means on the
current code gives the labels that are scored.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np
import torch

from .. import graph as dgraph
from ..errors import InputError
from ..metrics import evaluate
from ..params import AUTO, param
from ._discriminative import kmeans_start
from .base import AutoDeepClusterer, register_method
from .dec import reconstruction_error


def group_norms(z: torch.Tensor, n_groups: int) -> torch.Tensor:
    """Σ_g ‖z^(g)‖₂ per sample, the code's units split into ``n_groups`` contiguous groups: (B,)."""
    return torch.stack([part.norm(dim=1) for part in torch.tensor_split(z, n_groups, dim=1)], 1).sum(1)


@register_method("den")
@dataclass(eq=False, repr=False)
class DEN(AutoDeepClusterer):
    """Deep Embedding Network: autoencoder + locality-preserving + group-sparsity losses, then k-means."""

    epochs: int = param(50, "Fine-tuning epochs after pretraining.", low=1, high=100000)
    batch_size: int = param(256, "Minibatch size.", low=1)
    lr: float = param(AUTO, "Adam learning rate of the fine-tuning; auto: a tenth of the pretraining rate (the "
                            "paper's 1e-4 after 1e-3 on MNIST).", low=0.0, low_inclusive=False, log=True)
    lr_decay: float = param(1.0, "Learning-rate factor every lr_decay_every epochs (1 = constant).", low=0.0,
                            high=1.0, advanced=True)
    locality_weight: float = param(1.0, "α: weight of the locality-preserving loss Σ_j w_ij ‖z_i − z_j‖².",
                                   low=0.0)
    sparsity_weight: float = param(1.0, "β: weight of the group-sparsity loss Σ_g ‖z^(g)‖₂ (K groups of code "
                                        "units).", low=0.0)
    n_neighbors: int = param(10, "Input-space neighbours of each sample in the locality loss (capped at N − 1).",
                             low=1, high=1000)
    kmeans_restarts: int = param(20, "k-means restarts on the final code (and on the pretrained code).", low=1,
                                 advanced=True)

    def _check_method_params(self, x: np.ndarray) -> None:
        super()._check_method_params(x)
        if self.latent_dim < self.n_clusters:
            raise InputError(f"DEN splits the code into K = {self.n_clusters} groups, so latent_dim must be at least "
                             f"n_clusters; got latent_dim = {self.latent_dim}.")

    def _initialize(self, x_np, x, labels) -> None:
        graph = dgraph.build_graph(x, min(self.n_neighbors, x.shape[0] - 1), kernel="gaussian", bandwidth="kth")
        self.graph_ = graph.to(self.device_)
        self._fit_centres(x, self.kmeans_restarts)
        self.init_labels_ = self.code_labels_
        self.init_scores_ = evaluate(labels, self.init_labels_) if labels is not None else None
        self.graph_cross_fraction_ = graph.cross_fraction(labels) if labels is not None else None

    def _fit_centres(self, x: torch.Tensor, restarts: int) -> None:
        km = kmeans_start(self._encode_means(x).cpu().numpy(), self.n_clusters, self.random_state, restarts)
        self.centers_ = torch.as_tensor(km.cluster_centers_, dtype=torch.float32, device=self.device_)
        self.code_labels_ = km.labels_

    def _trainable_parameters(self):
        model = self.autoencoder_
        return list(model.encoder.parameters()) + list(model.mu_head.parameters()) + list(model.decoder.parameters())

    def _batch_loss(self, x, index) -> Dict[str, torch.Tensor]:
        batch = x[index]
        z = self.autoencoder_.encode(batch)[0]
        recon = reconstruction_error(batch, self.autoencoder_.decode(z), self.likelihood_, reduction="sum").mean()
        pick = torch.multinomial(self.graph_.weights[index], 1, generator=self.generator_).squeeze(1)
        neighbours = self.graph_.indices[index].gather(1, pick.unsqueeze(1)).squeeze(1)
        locality = (z - self.autoencoder_.encode(x[neighbours])[0]).pow(2).sum(1).mean()
        sparsity = group_norms(z, self.n_clusters).mean()
        loss = recon + self.locality_weight * locality + self.sparsity_weight * sparsity
        return {"loss": loss, "recon": recon, "locality": locality, "sparsity": sparsity}

    def _epoch_assignments(self, x, labels):
        if labels is None:
            return None, {}
        self._fit_centres(x, 1)
        return self.code_labels_, {}

    def _train(self, x, labels, callbacks) -> None:
        super()._train(x, labels, callbacks)
        self._fit_centres(x, self.kmeans_restarts)

    @torch.no_grad()
    def _proba_tensor(self, x) -> torch.Tensor:
        """Soft nearest-centre assignment in the code (its argmax is the k-means label)."""
        squared = (self._encode_means(x).unsqueeze(1) - self.centers_.unsqueeze(0)).pow(2).sum(-1)
        return torch.softmax(-squared, 1)
