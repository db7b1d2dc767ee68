"""DGG (Yang, Cheung, Li, Fang, ICCV 2019): VaDE plus a similarity graph. See docs/METHODS.md §3.

objective_i = (1 - α) L(x_i) + α Σ_j w_ij L(x_i, x_j), α = ``neighbor_weight`` (paper: ½).

L(x_i, x_j) is the ELBO of x_i computed with the neighbour's posterior: z_j ~ q(z|x_j)
reconstructs x_i; x_j's mu, logvar and gamma enter the KL terms with the anchor's mixture
weights pi_i. Cluster assignments gamma = softmax(f2(mu)) come from a classifier pretrained on
k-means labels of the pretrained latent. pi_i = ½ (gamma_i + Σ_j w_ij gamma_j) (the corrected
eq. 31) is recomputed per minibatch without gradient over all N_s neighbours. The neighbours'
gammas in it are either recomputed with the current networks (``neighbor_gammas="fresh"``, as the
reference code does: N_s extra encoder passes) or taken from a cache refreshed with every anchor's
gamma as it is computed (``"cached"``: at most one epoch old, no extra passes).

``neighbors_per_step`` = m: each step samples m neighbours per anchor by weight (an unbiased
estimate of the sum, (1 + m)× VaDE's cost); m = N_s (or 0) evaluates the weighted sum exactly.
With N_s = 0 there is no graph and the objective is VaDE's (ablation row 0).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from sklearn.cluster import KMeans

from .. import graph as dgraph
from .. import nn as dnn
from ..errors import InputError
from ..metrics import cluster_acc, match_labels
from ..params import param
from ..validation import check_neighbors
from .base import register_method
from .vade import VaDE


def mixture_weights(gamma_anchor: torch.Tensor, neighbor_gamma: torch.Tensor,
                    neighbor_weights: torch.Tensor) -> torch.Tensor:
    """Per-sample mixture weights pi_i = ½ (gamma_i + Σ_j w_ij gamma_j) (corrected eq. 31).

    This is the maximiser of Σ_j w_ij Σ_k (gamma_ik + gamma_jk) log pi_ik on the simplex when the
    weights of each row sum to one. Shapes: (B, K), (B, N_s, K), (B, N_s) -> (B, K).
    """
    return 0.5 * (gamma_anchor + (neighbor_weights.unsqueeze(-1) * neighbor_gamma).sum(1))


@register_method("dgg")
@dataclass(eq=False, repr=False)
class DGG(VaDE):
    """Deep clustering by Gaussian mixture variational autoencoders with Graph embedding."""

    n_neighbors: int = param("auto", "N_s: graph neighbours per sample (0 = VaDE); auto: √n / 2 between 5 and 40.",
                             low=0, high=1000)
    neighbors_per_step: int = param(1, "m: neighbours sampled per anchor per step (0 or N_s = exact sum).",
                                    low=0, high=1000)
    neighbor_weight: float = param(0.5, "α: weight of the neighbour term (paper: ½ self, ½ neighbours).",
                                   low=0.0, high=1.0)
    graph_space: str = param("input", "Space in which neighbours are found.",
                             choices=("input", "pca", "latent", "siamese", "umap"))
    kernel: str = param("gaussian", "Edge weights: Gaussian with per-sample bandwidth, or uniform 1/N_s.",
                        choices=("gaussian", "uniform"))
    bandwidth: str = param("kth", "Per-sample bandwidth s_i: distance to the N_s-th neighbour, or median.",
                           choices=("kth", "median"), advanced=True)
    neighbor_selection: str = param("nearest", "Keep the N_s nearest, or N_s at random among n_candidates.",
                                    choices=("nearest", "random"))
    n_candidates: int = param(100, "Candidate pool for random neighbour selection.", low=1, advanced=True)
    pca_components: int = param(50, "PCA dimensions when graph_space='pca'.", low=1, advanced=True)
    classifier_hidden: Tuple[int, ...] = param("auto", "Hidden layers of the classifier f2 (empty = linear); auto: "
                                               "20-20 for up to 50 features, linear (the paper) beyond.", low=1)
    classifier_input: str = param("mu", "What f2 sees: the latent mean or the sampled z.", choices=("mu", "z"),
                                  advanced=True)
    neighbor_gammas: str = param("auto", "Neighbours' assignments in pi_i: 'fresh' recomputes them every minibatch "
                                 "(as the reference code; N_s extra forward passes), 'cached' reuses each "
                                 "sample's latest assignment (at most one epoch old; free). auto: fresh for up to "
                                 "50 features, cached beyond.",
                                 choices=("auto", "cached", "fresh"), advanced=True)
    keep_epoch: str = param("auto", "Which epoch's model the fit keeps: the last, or the one (the start included) "
                            "whose labels cut DGG's graph least (normalised cut; label-free; a partition with an "
                            "empty cluster never wins). auto: graph_cut.", choices=("auto", "last", "graph_cut"),
                            advanced=True)
    classifier_pretrain_epochs: int = param(50, "Epochs fitting f2 to k-means labels of mu(X) (to the start's "
                                            "clusters when init is 'spectral' or 'umap').", low=0,
                                            advanced=True)
    siamese_epochs: int = param(20, "Siamese-network training epochs when graph_space='siamese'.", low=1,
                                advanced=True)

    # -- checks ------------------------------------------------------------------------------
    def _check_method_params(self, x: np.ndarray) -> None:
        super()._check_method_params(x)
        check_neighbors(self.n_neighbors, x.shape[0])
        if self.neighbor_selection == "random" and self.n_candidates < self.n_neighbors:
            raise InputError(f"n_candidates ({self.n_candidates}) must be >= n_neighbors ({self.n_neighbors}) "
                             f"for random neighbour selection.")

    @property
    def _uses_graph(self) -> bool:
        return self._effective("n_neighbors") > 0

    @property
    def _exact_neighbor_sum(self) -> bool:
        return self.neighbors_per_step == 0 or self.neighbors_per_step >= self.n_neighbors

    # -- initialisation ----------------------------------------------------------------------
    def _initialize(self, x_np, x, labels) -> None:
        mu = self._encode_means(x)
        self._start(mu, labels)
        if self._uses_graph:
            self._initialize_graph(x, mu, labels)
        self._score_model_start(mu, labels)
        self.kept_epoch_, self.kept_graph_cut_, self._kept_state = None, None, None
        if self._uses_graph and self.keep_epoch == "graph_cut":
            self._keep_if_better(0, self._proba_of_means(mu).argmax(1))

    # -- the kept epoch ----------------------------------------------------------------------
    def graph_cut(self, predicted: torch.Tensor) -> float:
        """Normalised cut of DGG's graph by a labelling: Σ_k cut(k) / vol(k) with the row-normalised weights
        (vol(k) = size of cluster k); infinite when a cluster is empty."""
        graph = self.graph_
        across = (predicted[graph.indices] != predicted.unsqueeze(1)).float()
        cut = torch.zeros(self.n_clusters, device=predicted.device).index_add_(
            0, predicted, (graph.weights * across).sum(1))
        volume = torch.bincount(predicted, minlength=self.n_clusters).float()
        if bool((volume == 0).any()):
            return math.inf
        return float((cut / volume).sum())

    @torch.no_grad()
    def _keep_if_better(self, epoch: int, predicted: torch.Tensor) -> None:
        value = self.graph_cut(predicted)
        if self.kept_graph_cut_ is None or value < self.kept_graph_cut_:
            self.kept_epoch_, self.kept_graph_cut_ = epoch, value
            self._kept_state = ([copy.deepcopy(m.state_dict()) for m in self._modules()], self.gamma_cache_.clone())

    def _train(self, x, labels, callbacks) -> None:
        super()._train(x, labels, callbacks)
        if self._kept_state is not None and self.kept_epoch_ != self.n_iter_:
            states, cache = self._kept_state
            for module, state in zip(self._modules(), states):
                module.load_state_dict(state)
            self.gamma_cache_ = cache
            self.warnings_.append(f"Kept epoch {self.kept_epoch_} of {self.n_iter_} (0 = the start): its labels cut "
                                  f"the neighbour graph least (normalised cut {self.kept_graph_cut_:.4f}).")
        self._kept_state = None

    def _initialize_graph(self, x: torch.Tensor, mu: torch.Tensor, labels) -> None:
        """f2 fitted to the start's clusters, then the neighbour graph and the cached assignments."""
        self.classifier_ = dnn.classifier(self.latent_dim, self.n_clusters, self.classifier_hidden).to(self.device_)
        # Paper: f2 learns k-means labels of mu(X); a spectral or UMAP start already gives the components' labels.
        targets = (torch.as_tensor(self.init_labels_, device=self.device_) if self.init != "gmm"
                   else self._kmeans_labels_aligned(mu))
        self._pretrain_classifier(mu, targets)
        started = time.perf_counter()
        self.graph_ = self._build_graph(x, mu)
        self.graph_seconds_ = time.perf_counter() - started  # includes the Siamese network's training
        if labels is not None:
            self.graph_cross_fraction_ = self.graph_.cross_fraction(labels)
        with torch.no_grad():
            self.gamma_cache_ = self._proba_of_means(mu)

    def _kmeans_labels_aligned(self, mu: torch.Tensor) -> torch.Tensor:
        """k-means labels of mu(X), renumbered to match the GMM components they overlap most."""
        mu_np = mu.cpu().numpy().astype(np.float64)
        km = KMeans(n_clusters=self.n_clusters, n_init=10, random_state=self.random_state).fit(mu_np)
        overlap = np.zeros((self.n_clusters, self.n_clusters))
        np.add.at(overlap, (km.labels_, self.init_labels_), 1)
        rows, cols = match_labels(overlap)
        mapping = np.empty(self.n_clusters, dtype=np.int64)
        mapping[rows] = cols
        self.kmeans_labels_ = mapping[km.labels_]
        return torch.as_tensor(self.kmeans_labels_, device=self.device_)

    def _pretrain_classifier(self, mu: torch.Tensor, targets: torch.Tensor) -> None:
        optimizer = torch.optim.Adam(self.classifier_.parameters(), lr=0.01)
        n = mu.shape[0]
        for _ in range(self.classifier_pretrain_epochs):
            order = torch.randperm(n, generator=self.generator_, device=self.device_)
            for start in range(0, n, 256):
                index = order[start:start + 256]
                loss = torch.nn.functional.cross_entropy(self.classifier_(mu[index]), targets[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

    def _graph_features(self, x: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        if self.graph_space == "input":
            return x
        if self.graph_space == "pca":
            torch.manual_seed(self.random_state)
            return dgraph.pca_features(x, self.pca_components)
        if self.graph_space == "latent":
            return mu
        if self.graph_space == "umap":  # N2D's manifold: the K-dimensional UMAP of the pretrained latent
            return torch.as_tensor(self._umap_of(mu), device=self.device_)
        from ..siamese import siamese_embedding

        return siamese_embedding(self.autoencoder_, x, epochs=self.siamese_epochs, seed=self.random_state)

    def _build_graph(self, x: torch.Tensor, mu: torch.Tensor) -> dgraph.NeighborGraph:
        features = self._graph_features(x, mu)
        return dgraph.build_graph(features, self.n_neighbors, kernel=self.kernel, bandwidth=self.bandwidth,
                                  selection=self.neighbor_selection, n_candidates=self.n_candidates,
                                  seed=self.random_state)

    # -- training ----------------------------------------------------------------------------
    def _modules(self) -> List[torch.nn.Module]:
        return super()._modules() + ([self.classifier_] if self._uses_graph else [])

    def _trainable_parameters(self):
        extra = list(self.classifier_.parameters()) if self._uses_graph else []
        return super()._trainable_parameters() + extra

    def _gamma(self, mu: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.classifier_(mu if self.classifier_input == "mu" else z), dim=1)

    def _batch_loss(self, x, index) -> Dict[str, torch.Tensor]:
        if not self._uses_graph:
            return super()._batch_loss(x, index)
        graph = self.graph_
        anchors = x[index]
        n_anchor = index.shape[0]
        if self._exact_neighbor_sum:
            neighbor_index = graph.indices[index]
            neighbor_w = graph.weights[index]
        else:
            picks = torch.multinomial(graph.weights[index], self.neighbors_per_step, replacement=True,
                                      generator=self.generator_)
            neighbor_index = graph.indices[index].gather(1, picks)
            neighbor_w = torch.full(picks.shape, 1.0 / self.neighbors_per_step, device=x.device)
        per_anchor = neighbor_index.shape[1]

        # One encoder/decoder pass over anchors and their neighbours together.
        batch = torch.cat([anchors, x[neighbor_index.reshape(-1)]])
        mu, logvar = self.autoencoder_.encode(batch)
        z = dnn.reparameterize(mu, logvar)
        decoded = self.autoencoder_.decode(z)
        gamma = self._gamma(mu, z)

        gamma_anchor = gamma[:n_anchor]
        with torch.no_grad():
            all_neighbors = graph.indices[index]
            if self.neighbor_gammas == "fresh":
                neighbor_mu = self.autoencoder_.encode(x[all_neighbors.reshape(-1)])[0]
                neighbor_gamma = torch.softmax(self.classifier_(neighbor_mu), 1).view(*all_neighbors.shape, -1)
            else:
                neighbor_gamma = self.gamma_cache_[all_neighbors]
            pi = mixture_weights(gamma_anchor, neighbor_gamma, graph.weights[index])
            self.gamma_cache_[index] = gamma_anchor.detach()
        log_pi = torch.log(pi + dnn.EPS)

        own = dnn.elbo_terms(anchors, decoded[:n_anchor], mu[:n_anchor], logvar[:n_anchor], gamma_anchor,
                             log_pi, self.prior_, self.likelihood_, self.lam)
        cross = dnn.elbo_terms(anchors.repeat_interleave(per_anchor, 0), decoded[n_anchor:], mu[n_anchor:],
                               logvar[n_anchor:], gamma[n_anchor:], log_pi.repeat_interleave(per_anchor, 0),
                               self.prior_, self.likelihood_, self.lam)
        alpha = self.neighbor_weight
        flat_w = neighbor_w.reshape(-1)
        terms = {}
        for key in own:
            neighbor_part = (cross[key] * flat_w).view(n_anchor, per_anchor).sum(1)
            terms[key] = ((1.0 - alpha) * own[key] + alpha * neighbor_part).mean()
        return terms

    @torch.no_grad()
    def _epoch_assignments(self, x: torch.Tensor, labels) -> Tuple[Optional[np.ndarray], Dict[str, float]]:
        """f2's labels, and how far the Gaussian mixture agrees with them.

        The ELBO pulls f2 towards the mixture's own posterior q(c|mu) ∝ pi_k N(mu; m_k, s2_k) (smoothed by the
        neighbours through pi_i) while it pulls each latent point towards its f2 component. When the start's
        clusters are not Gaussian in the latent (a spectral or UMAP start) the two disagree and f2's accuracy
        moves towards the mixture's: ``mixture_agreement`` (label-free) is the share of samples on which
        argmax f2 and argmax of the mixture's posterior coincide, ``mixture_acc`` the mixture's own ACC.
        """
        if not self._uses_graph:
            return super()._epoch_assignments(x, labels)
        mu = self._encode_means(x)
        predicted = self._proba_of_means(mu).argmax(1)
        mixture = super()._proba_of_means(mu).argmax(1)
        diagnostics = {"mixture_agreement": float((predicted == mixture).float().mean()),
                       "graph_cut": self.graph_cut(predicted)}
        if self.keep_epoch == "graph_cut":
            self._keep_if_better(getattr(self, "n_iter_", 0), predicted)
        if labels is not None:
            diagnostics["mixture_acc"] = cluster_acc(labels, mixture.cpu().numpy())
        return predicted.cpu().numpy(), diagnostics

    def _proba_of_means(self, mu: torch.Tensor) -> torch.Tensor:
        if not self._uses_graph:
            return super()._proba_of_means(mu)
        return torch.softmax(self.classifier_(mu), dim=1)
