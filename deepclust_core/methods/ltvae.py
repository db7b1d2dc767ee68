"""LTVAE (Li, Chen, Poon, Zhang, ICLR 2019): a VAE whose prior is a latent tree. See docs/METHODS.md.

The latent dimensions are split into facets, each with its own discrete variable and Gaussian mixture, the
discrete variables linked in a chain (``_latent_tree``). The negative ELBO per point is
    −log p(x|z) − log p(z) + log q(z|x),   z ~ q(z|x) (one reparameterised draw),
with log p(z) summed exactly over every configuration of the tree. Each facet b gives a partition
argmax p(Y_b | z = μ(x)); ``labels_`` is facet 0's (the facet with n_clusters states).

Not the paper's whole method: its structure search (adding, merging facets and moving dimensions between
stretches of training) is not done here; the structure is fixed (``n_facets`` contiguous groups of
dimensions, a chain), and each facet starts from a Gaussian mixture fitted on its dimensions of the
pretrained latent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import check_is_fitted

from .. import nn as dnn
from ..errors import InputError
from ..metrics import evaluate
from ..params import AUTO, param
from ._latent_tree import LatentTreePrior, independent_facets, split_dimensions
from .base import AutoDeepClusterer, register_method


@register_method("ltvae")
@dataclass(eq=False, repr=False)
class LTVAE(AutoDeepClusterer):
    """Latent-tree VAE: several partitions (facets), each on its own latent dimensions."""

    n_facets: int = param(2, "Facets: groups of latent dimensions, each with its own partition of the data.",
                          low=1, high=64)
    facet_clusters: int = param(0, "States of every facet after the first (0 = n_clusters); the first facet has "
                                "n_clusters and gives the labels.", low=0, high=1000)
    linked: bool = param(True, "Link the facets' discrete variables in a chain (a latent tree); off = "
                         "independent facets.")
    structure: str = param(AUTO, "How the latent dimensions are grouped into facets: 'ica' unmixes the pretrained "
                           "latent into independent directions (FastICA, folded into the encoder and decoder) and "
                           "groups dependent ones together; 'split' takes contiguous groups of dimensions as "
                           "they are. auto: ica unless the latent has more dimensions than the data has "
                           "features (then split: the data cannot have that many independent directions).",
                           choices=(AUTO, "ica", "split"))

    def _check_method_params(self, x: np.ndarray) -> None:
        super()._check_method_params(x)
        if self.n_facets > self.latent_dim:
            raise InputError(f"n_facets ({self.n_facets}) cannot exceed latent_dim ({self.latent_dim}): every "
                             f"facet needs at least one latent dimension.")

    def cardinalities(self) -> List[int]:
        others = self.facet_clusters or self.n_clusters
        return [self.n_clusters] + [others] * (self.n_facets - 1)

    def _initialize(self, x_np, x, labels) -> None:
        mu = self._encode_means(x).cpu().numpy().astype(np.float64)
        if self.structure == "ica":
            unmixing, mean, dims = independent_facets(mu, self.n_facets, self.random_state)
            self._unmix_latent(unmixing, mean)
            mu = (mu - mean) @ unmixing.T
        else:
            dims = split_dimensions(self.latent_dim, self.n_facets)
        cards = self.cardinalities()
        self.prior_tree_ = LatentTreePrior(dims, cards, self.linked).to(self.device_)
        starts = []
        for b, (d, k) in enumerate(zip(dims, cards)):
            gmm = GaussianMixture(n_components=k, covariance_type="diag", n_init=self.gmm_restarts,
                                  random_state=self.random_state + b, reg_covar=1e-6)
            starts.append(gmm.fit_predict(mu[:, d]))
            self.prior_tree_.set_facet(b, gmm.weights_, gmm.means_, gmm.covariances_)
            if b > 0 and self.linked:
                self.prior_tree_.set_link(b, starts[b - 1], starts[b])
        self.init_labels_ = starts[0]
        self.init_scores_ = evaluate(labels, starts[0]) if labels is not None else None

    @torch.no_grad()
    def _unmix_latent(self, unmixing: np.ndarray, mean: np.ndarray) -> None:
        """Re-express the autoencoder in the unmixed latent s = W(μ − mean): the mean head outputs s, the
        decoder's first layer takes s (same reconstructions); the log-variance head is kept (diagonal q)."""
        w = torch.as_tensor(unmixing, dtype=torch.float32, device=self.device_)
        w_inv = torch.linalg.inv(w)
        m = torch.as_tensor(mean, dtype=torch.float32, device=self.device_)
        head = self.autoencoder_.mu_head
        head.bias.copy_(w @ (head.bias - m))
        head.weight.copy_(w @ head.weight)
        first = self.autoencoder_.decoder[0]
        first.bias.add_(first.weight @ m)
        first.weight.copy_(first.weight @ w_inv)

    def _modules(self):
        return [self.autoencoder_, self.prior_tree_]

    def _trainable_parameters(self):
        return list(self.autoencoder_.parameters()) + list(self.prior_tree_.parameters())

    def _batch_loss(self, x, index) -> Dict[str, torch.Tensor]:
        batch = x[index]
        mu, logvar = self.autoencoder_.encode(batch)
        z = dnn.reparameterize(mu, logvar)
        recon = dnn.reconstruction_nll(batch, self.autoencoder_.decode(z), self.likelihood_, self.lam)
        prior_nll = -self.prior_tree_.log_prob(z)
        entropy = 0.5 * (1.0 + dnn.LOG_2PI + logvar).sum(1)
        terms = {"recon": recon.mean(), "prior_nll": prior_nll.mean(), "entropy": entropy.mean()}
        terms["loss"] = terms["recon"] + terms["prior_nll"] - terms["entropy"]
        return terms

    @torch.no_grad()
    def _facet_posteriors(self, x: torch.Tensor) -> List[torch.Tensor]:
        return self.prior_tree_.posteriors(self._encode_means(x))

    @torch.no_grad()
    def _proba_tensor(self, x) -> torch.Tensor:
        return self._facet_posteriors(x)[0]

    def _epoch_assignments(self, x, labels):
        posteriors = self._facet_posteriors(x)
        facets = [p.argmax(1).cpu().numpy() for p in posteriors]
        diagnostics: Dict[str, float] = {}
        for b, assigned in enumerate(facets):
            diagnostics[f"facet{b}_clusters_used"] = int(np.unique(assigned).size)
            if labels is not None and b > 0:
                diagnostics[f"facet{b}_acc"] = evaluate(labels, assigned)["acc"]
        return (facets[0] if labels is not None else None), diagnostics

    # -- views ---------------------------------------------------------------------------------------
    def facet_labels(self, X) -> List[np.ndarray]:
        """Every facet's partition of X (a list of label arrays)."""
        check_is_fitted(self, "labels_")
        return [p.argmax(1).cpu().numpy() for p in self._facet_posteriors(self._to_device(X))]

    @torch.no_grad()
    def decode(self, z) -> np.ndarray:
        z_t = torch.as_tensor(np.asarray(z, dtype=np.float32), device=self.device_)
        self.autoencoder_.eval()
        out = self.autoencoder_.decode(z_t)
        return (torch.sigmoid(out) if self.likelihood_ == "bernoulli" else out).cpu().numpy()

    def cluster_samples(self, n_per_cluster: int = 10, traversal_steps: int = 15,
                        traversal_scale: float = 4.0) -> Dict[str, np.ndarray]:
        """Per facet b: decoded samples (K_b, n, D) with z_b drawn from each state's Gaussian while the other
        facets' dimensions keep one draw from the prior per column (so a row shows what that facet's state
        changes); its dimensions, weights and partition of the training data; and its traversals
        (K_b, |d_b|, steps, D): from state k's mean m_bk along each of the facet's dimensions i,
        m_bk + scale·a·s_bk,i·e_i for a in [-1, 1], the other facets' dimensions at the prior draws' mean
        (``facet{b}_variances`` (K_b, |d_b|) are the s²). ``samples`` is facet 0's."""
        check_is_fitted(self, "labels_")
        rng = np.random.default_rng(self.random_state)
        tree = self.prior_tree_
        out: Dict[str, np.ndarray] = {"n_facets": np.int64(tree.n_facets)}
        base = self._prior_draws(rng, n_per_cluster)  # (n, M): one full draw per column
        for b in range(tree.n_facets):
            d = tree.dims(b).cpu().numpy()
            means = tree.means[b].detach().cpu().numpy()
            stds = np.exp(0.5 * tree.log_vars[b].detach().cpu().numpy())
            k = means.shape[0]
            z = np.repeat(base[None], k, axis=0)  # (K_b, n, M)
            z[:, :, d] = means[:, None, :] + stds[:, None, :] * rng.standard_normal((k, n_per_cluster, len(d)))
            out[f"facet{b}_samples"] = self.decode(z.reshape(k * n_per_cluster, -1)).reshape(
                k, n_per_cluster, -1).astype(np.float32)
            out[f"facet{b}_dims"] = d.astype(np.int64)
            out[f"facet{b}_weights"] = self._facet_weights(b)
            out[f"facet{b}_traversals"] = self._facet_traversals(d, means, stds, base.mean(axis=0),
                                                                 traversal_steps, traversal_scale)
            out[f"facet{b}_variances"] = (stds ** 2).astype(np.float32)
        out["traversal_offsets"] = (np.linspace(-1.0, 1.0, traversal_steps) * traversal_scale).astype(np.float32)
        out["samples"] = out["facet0_samples"]
        for b, assigned in enumerate(self.facet_labels_):
            out[f"facet{b}_labels"] = assigned
        return out

    def _facet_traversals(self, dims: np.ndarray, means: np.ndarray, stds: np.ndarray, centre: np.ndarray,
                          steps: int, scale: float) -> np.ndarray:
        """(K_b, |dims|, steps, D): decoded m_bk + scale·a·s_bk,i·e_i, the rest of z at ``centre``."""
        k, n_dims = means.shape
        offsets = np.linspace(-1.0, 1.0, steps) * scale
        z = np.repeat(centre[None, None, None, :], k * n_dims * steps, axis=0).reshape(k, n_dims, steps, -1)
        z[..., dims] = means[:, None, None, :]
        for i, dim in enumerate(dims):
            z[:, i, :, dim] += offsets[None, :] * stds[:, i, None]
        return self.decode(z.reshape(k * n_dims * steps, -1)).reshape(k, n_dims, steps, -1).astype(np.float32)

    def _facet_weights(self, b: int) -> np.ndarray:
        return np.bincount(self.facet_labels_[b], minlength=self.prior_tree_.cardinalities[b]).astype(
            np.float32) / len(self.facet_labels_[b])

    def _prior_draws(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n draws of z from the latent tree (ancestral sampling along the chain)."""
        tree = self.prior_tree_
        z = np.zeros((n, int(self._effective("latent_dim"))), dtype=np.float64)
        parent = np.zeros(n, dtype=np.int64)
        for b in range(tree.n_facets):
            links = tree.log_links(b).detach().exp().cpu().numpy()
            rows = links[parent] if links.shape[0] > 1 else np.repeat(links, n, axis=0)
            cumulative = np.cumsum(rows / rows.sum(1, keepdims=True), axis=1)
            state = np.minimum((cumulative < rng.random((n, 1))).sum(1), rows.shape[1] - 1)
            d = tree.dims(b).cpu().numpy()
            means = tree.means[b].detach().cpu().numpy()[state]
            stds = np.exp(0.5 * tree.log_vars[b].detach().cpu().numpy())[state]
            z[:, d] = means + stds * rng.standard_normal(means.shape)
            parent = state
        return z

    def fit(self, X, y=None, callbacks=None):
        """Fit as every autoencoder method, then keep every facet's partition of X (``facet_labels_``)."""
        super().fit(X, y, callbacks)
        self.facet_labels_ = [p.argmax(1).cpu().numpy() for p in self._facet_posteriors(self._to_device(X))]
        return self
