"""AE+GMM: a GaussianMixture on the latent means of the pretrained autoencoder (docs/METHODS.md §4).

The baseline the VaDE and DGG papers report as "AE+GMM". There is no training after pretraining:
the autoencoder is the shared, cached one (same data, architecture, seed and schedule as VaDE and
DGG), and with the default diagonal covariance and ``gmm_restarts`` its labels are exactly VaDE's
starting point with the paper's start (``VaDE(init="gmm").init_labels_``). The mixture fit is reported to the callbacks as one
"train" epoch (loss = minus the mean log-likelihood of mu(X)), with its latent snapshot.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.mixture import GaussianMixture

from ..metrics import evaluate
from ..params import param
from .base import AutoDeepClusterer, register_method


@register_method("aegmm")
@dataclass(eq=False, repr=False)
class AEGMM(AutoDeepClusterer):
    """Pretrained autoencoder, then a GaussianMixture on mu(X)."""

    epochs: int = param(0, "Not used: AE+GMM does no training after pretraining.", low=0, advanced=True)
    covariance_type: str = param("diag", "Covariance of each mixture component (diag = VaDE's initialisation).",
                                 choices=("diag", "full", "tied", "spherical"))

    def _initialize(self, x_np, x, labels) -> None:
        mu = self._encode_means(x).cpu().numpy().astype(np.float64)
        self.gmm_ = GaussianMixture(n_components=self.n_clusters, covariance_type=self.covariance_type,
                                    n_init=self.gmm_restarts, random_state=self.random_state, reg_covar=1e-6)
        self.gmm_.fit(mu)
        self.log_likelihood_ = float(self.gmm_.score(mu))

    def _train(self, x, labels, callbacks) -> None:
        self.n_iter_ = 0
        metrics = {"loss": -self.log_likelihood_}
        predicted = self._predict_tensor(x)
        if labels is not None:
            metrics.update(evaluate(labels, predicted))
            metrics["clusters_used"] = int(np.unique(predicted).size)

        def latent():
            return self._encode_means(x).cpu().numpy(), predicted

        if self._record(self.history_, "train", 1, 1, metrics, callbacks, latent):
            self.stopped_early_ = True

    def _trainable_parameters(self):
        return []

    @torch.no_grad()
    def _proba_tensor(self, x) -> torch.Tensor:
        mu = self._encode_means(x).cpu().numpy().astype(np.float64)
        return torch.as_tensor(self.gmm_.predict_proba(mu), dtype=torch.float32)
