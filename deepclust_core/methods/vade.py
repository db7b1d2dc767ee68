"""VaDE (Jiang et al. 2017): a VAE whose prior is a Gaussian mixture. See docs/METHODS.md §2."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import numpy as np
import torch
from sklearn.mixture import GaussianMixture

from .. import graph as dgraph
from .. import nn as dnn
from .. import fileio
from ..metrics import evaluate
from .base import AutoDeepClusterer, register_method
from ..params import param


def cluster_moments(features: np.ndarray, labels: np.ndarray, n_clusters: int):
    """Weights, means and diagonal variances of each cluster; an empty cluster gets the data's mean and
    variance and a tiny weight, so every component exists and can still win points."""
    counts = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    means = np.tile(features.mean(0), (n_clusters, 1))
    variances = np.tile(features.var(0) + 1e-6, (n_clusters, 1))
    for k in np.flatnonzero(counts):
        members = features[labels == k]
        means[k] = members.mean(0)
        variances[k] = members.var(0) + 1e-6
    return np.maximum(counts, 1e-3) / len(labels), means, variances


@register_method("vade")
@dataclass(eq=False, repr=False)
class VaDE(AutoDeepClusterer):
    """Variational Deep Embedding.

    After pretraining the autoencoder, a diagonal GaussianMixture (``gmm_restarts`` restarts) on
    mu(X) initialises the prior; then the ELBO is maximised jointly. Labels are argmax q(c|x) at
    z = mu(x). ``init="spectral"`` starts instead from spectral clustering of the kNN graph of mu(X), and
    ``init="umap"`` from N2D's clustering (a Gaussian mixture on a UMAP embedding of mu(X)); the prior's
    components are then those clusters' weights, means and variances. Neither is the paper's start: they
    are options to see how much the start decides.
    """

    init: str = param("auto", "Where the clusters start: a diagonal GMM on the pretrained latent (paper), "
                      "spectral clustering of the latent's kNN graph, or a GMM on a UMAP of the latent (N2D); "
                      "the mixture is then fitted to those clusters. auto: spectral (it does not cut a "
                      "non-convex group in half).",
                      choices=("auto", "gmm", "spectral", "umap"))
    encoder_var_init: str = param("auto", "The encoder's variance head at the start: as initialised (random, ≈ 1: "
                                  "narrow components then cost every point σ²/s²_k and the clusters can collapse "
                                  "into the widest in the first epoch), or 'scaled' (zero weights, variance 1 % of "
                                  "the narrowest component's). auto: scaled.",
                                  choices=("auto", "scaled", "random"), advanced=True)
    init_neighbors: int = param(10, "Neighbours per point of the latent kNN graph when init='spectral'.", low=1,
                                high=1000, advanced=True)
    umap_neighbors: int = param(20, "UMAP's n_neighbors when init='umap' or DGG's graph_space='umap' (N2D uses 20 "
                                "on MNIST).", low=2, high=1000, advanced=True)
    umap_metric: str = param("euclidean", "Distance UMAP finds each latent point's neighbours with (N2D: euclidean). "
                             "Cosine compares directions: on 10,000 MNIST images it starts 1.1 points higher "
                             "over three seeds.", choices=("euclidean", "cosine"), advanced=True)

    def _initialize(self, x_np, x, labels) -> None:
        mu = self._encode_means(x)
        self._start(mu, labels)
        self._score_model_start(mu, labels)

    @torch.no_grad()
    def _score_model_start(self, mu: torch.Tensor, labels) -> None:
        """ACC/NMI/ARI of the model's own assignments of mu(X) before training (``model_start_scores_``). They
        differ from ``init_scores_`` (the start's clusters) when the model cannot hold those clusters exactly:
        Gaussian components fitted to non-convex clusters, or a classifier that has not fitted them all."""
        self._set_train_mode(False)
        self.model_start_scores_ = (evaluate(labels, self._proba_of_means(mu).argmax(1).cpu().numpy())
                                    if labels is not None else None)

    def _start(self, encoded: torch.Tensor, labels) -> None:
        """Fit the prior to the start's clusters of the pretrained latent ``encoded`` = mu(X)."""
        self.prior_ = dnn.GMMPrior(self.n_clusters, self.latent_dim).to(self.device_)
        self.umap_embedding_ = None  # made on demand by _umap_of, once per fit
        mu = encoded.cpu().numpy().astype(np.float64)
        if self.init == "gmm":
            gmm = GaussianMixture(n_components=self.n_clusters, covariance_type="diag", n_init=self.gmm_restarts,
                                  random_state=self.random_state, reg_covar=1e-6)
            self.init_labels_ = gmm.fit_predict(mu)
            self.prior_.set_from(gmm.weights_, gmm.means_, gmm.covariances_)
        else:
            if self.init == "spectral":  # the kNN graph is built where the data lives (the GPU when there is one)
                self.init_labels_ = dgraph.spectral_clusters(encoded, self.n_clusters, self.init_neighbors,
                                                             self.random_state)
            else:
                self.init_labels_ = dgraph.manifold_clusters(encoded, self.n_clusters, self.umap_neighbors,
                                                             self.random_state, self._umap_of(encoded),
                                                             n_init=self.gmm_restarts)
            self.prior_.set_from(*cluster_moments(mu, self.init_labels_, self.n_clusters))
        if self.encoder_var_init == "scaled":
            self.autoencoder_.scale_variance_head(self.prior_.log_vars.min(0).values)  # per latent dimension
        self.init_scores_ = evaluate(labels, self.init_labels_) if labels is not None else None

    def _umap_of(self, encoded: torch.Tensor) -> np.ndarray:
        """The K-dimensional UMAP of the pretrained latent, made once per fit (the UMAP start and DGG's
        UMAP graph share it) and cached beside the cached autoencoder it comes from (70–120 s on 70k)."""
        if self.umap_embedding_ is not None:
            return self.umap_embedding_
        shape = (encoded.shape[0], self.n_clusters)
        ae_path = dnn.cache_dir() / f"{self.pretrain_key_}.pt"
        path = ae_path.with_name(f"{self.pretrain_key_}.umap-{self.n_clusters}-{self.umap_neighbors}-"
                                 f"{self.umap_metric}-{self.random_state}.npz")
        cached = self.cache_pretrained and ae_path.exists()  # the weights in use are that file's
        embedding = (fileio.load_npz(path) or {}).get("embedding") if cached else None
        if embedding is None or embedding.shape != shape:
            embedding = dgraph.umap_embedding(encoded, self.n_clusters, self.umap_neighbors, self.random_state,
                                              self.umap_metric)
            if cached:
                fileio.save_npz(path, embedding=embedding)
        self.umap_embedding_ = embedding
        return embedding

    def _modules(self) -> List[torch.nn.Module]:
        return [self.autoencoder_, self.prior_]

    def _trainable_parameters(self):
        return list(self.autoencoder_.parameters()) + list(self.prior_.parameters())

    def _vade_terms(self, x_batch: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Per-sample negative-ELBO terms of VaDE for a batch."""
        mu, logvar = self.autoencoder_.encode(x_batch)
        z = dnn.reparameterize(mu, logvar)
        gamma = self.prior_.responsibilities(z)
        return dnn.elbo_terms(x_batch, self.autoencoder_.decode(z), mu, logvar, gamma, self.prior_.log_pi,
                              self.prior_, self.likelihood_, self.lam)

    def _batch_loss(self, x, index) -> Dict[str, torch.Tensor]:
        return {key: value.mean() for key, value in self._vade_terms(x[index]).items()}

    @torch.no_grad()
    def _proba_tensor(self, x) -> torch.Tensor:
        return self._proba_of_means(self._encode_means(x))

    def _proba_of_means(self, mu: torch.Tensor) -> torch.Tensor:
        """q(c|x) from the latent means mu(x)."""
        return self.prior_.responsibilities(mu)

    # -- views -------------------------------------------------------------------------------
    def gmm_parameters(self) -> Dict[str, np.ndarray]:
        """Means (K, M), variances (K, M) and weights (K,) of the learned prior."""
        return {"means": self.prior_.means.detach().cpu().numpy(),
                "variances": self.prior_.log_vars.detach().exp().cpu().numpy(),
                "weights": self.prior_.log_pi.detach().exp().cpu().numpy()}

    @torch.no_grad()
    def decode(self, z) -> np.ndarray:
        """Decoded data-space values for latent points (probabilities for Bernoulli)."""
        z_t = torch.as_tensor(np.asarray(z, dtype=np.float32), device=self.device_)
        self.autoencoder_.eval()
        out = self.autoencoder_.decode(z_t)
        if self.likelihood_ == "bernoulli":
            out = torch.sigmoid(out)
        return out.cpu().numpy()

    def traversal(self, component: int, dimension: int, steps: int = 15, scale: float = 4.0) -> np.ndarray:
        """Decode m_k + scale·a·(e_i ∘ s_k) for a in [-1, 1] (paper Fig. 2): (steps, D)."""
        gmm = self.gmm_parameters()
        mean = gmm["means"][component]
        std = np.sqrt(gmm["variances"][component])
        offsets = np.linspace(-1.0, 1.0, steps)
        z = np.repeat(mean[None, :], steps, axis=0)
        z[:, dimension] += scale * offsets * std[dimension]
        return self.decode(z)
