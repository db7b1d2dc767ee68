"""Classical baselines from scikit-learn: k-means, a Gaussian mixture and spectral clustering, on the
raw features or on their first principal components.

They share the estimator interface of the deep methods (``fit(X, y=None, callbacks=None)``, the same
input validation, ``labels_``, ``history_``, ``fit_seconds_``); the callbacks see ``on_fit_start``,
one "train" epoch (loss = k-means inertia per sample, or minus the mean log-likelihood for the GMM;
ACC/NMI/ARI when labels were given) and ``on_fit_end``. There is no latent space.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import check_is_fitted

from ..callbacks import Callback
from ..errors import InputError
from ..graph import spectral_embedding
from ..metrics import evaluate
from ..params import param
from ..validation import check_features, check_labels
from .base import BaseClusterer, _CallbackList, register_method


@dataclass(eq=False, repr=False)
class _ClassicalClusterer(BaseClusterer):
    """Feature choice, fitting, callbacks and prediction shared by the scikit-learn baselines."""

    features: str = param("raw", "Cluster the raw features, or their first principal components.",
                          choices=("raw", "pca"))
    pca_components: int = param(50, "Principal components kept when features='pca'.", low=1, high=100000)

    def fit(self, X, y=None, callbacks: Optional[Sequence[Callback]] = None):
        """Cluster X. ``y`` is optional and only used to report ACC/NMI/ARI."""
        x, labels = self.check_input(X, y)
        callbacks = _CallbackList(callbacks)
        self.n_features_in_ = x.shape[1]
        self.history_: List[Dict] = []
        self.warnings_: List[str] = []
        self.stopped_early_ = False
        started = time.perf_counter()
        callbacks.fit_start(self, {"n_samples": x.shape[0], "device": "cpu"})
        if self.features == "pca":
            n_components = min(self.pca_components, x.shape[0], x.shape[1])
            self.pca_ = PCA(n_components=n_components, random_state=self.random_state).fit(x)
        else:
            self.pca_ = None
        metrics = self._fit_features(self._features(x))
        self.n_clusters_used_ = int(np.unique(self.labels_).size)
        if labels is not None:
            metrics.update(evaluate(labels, self.labels_))
            metrics["clusters_used"] = self.n_clusters_used_
        self.stopped_early_ = self._record(self.history_, "train", 1, 1, metrics, callbacks)
        return self._finish_fit(labels, callbacks, started)

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "labels_")
        return self._predict_features(self._features(self._check_new(X)))

    def _features(self, x: np.ndarray) -> np.ndarray:
        return x if self.pca_ is None else self.pca_.transform(x).astype(np.float32)

    def _check_new(self, X) -> np.ndarray:
        x = check_features(X, min_samples=1)
        if x.shape[1] != self.n_features_in_:
            raise InputError(f"X has {x.shape[1]} features, but this model was fitted with {self.n_features_in_}.")
        return x

    def _fit_features(self, features: np.ndarray) -> Dict[str, float]:
        """Fit on the chosen features, set ``labels_``, return the metrics of the one "epoch"."""
        raise NotImplementedError

    def _predict_features(self, features: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def scores(self, y) -> Dict[str, float]:
        """ACC, NMI and ARI of the fitted labels against ground truth."""
        check_is_fitted(self, "labels_")
        return evaluate(check_labels(y, len(self.labels_)), self.labels_)


@register_method("kmeans")
@dataclass(eq=False, repr=False)
class KMeansBaseline(_ClassicalClusterer):
    """k-means (Lloyd, k-means++ initialisation, best of n_init restarts)."""

    n_init: int = param(10, "Restarts; the best inertia wins.", low=1, high=1000)
    max_iter: int = param(300, "Lloyd iterations per restart.", low=1, advanced=True)

    def _fit_features(self, features):
        self.model_ = KMeans(n_clusters=self.n_clusters, n_init=self.n_init, max_iter=self.max_iter,
                             random_state=self.random_state).fit(features)
        self.labels_ = self.model_.labels_
        self.cluster_centers_ = self.model_.cluster_centers_
        self.n_iter_ = int(self.model_.n_iter_)
        return {"loss": float(self.model_.inertia_) / features.shape[0]}

    def _predict_features(self, features):
        return self.model_.predict(features)


@register_method("gmm")
@dataclass(eq=False, repr=False)
class GMMBaseline(_ClassicalClusterer):
    """Gaussian mixture fitted by EM (k-means initialisation)."""

    covariance_type: str = param("full", "Covariance of each component (full is slow and ill-posed on raw "
                                         "high-dimensional data: use features='pca' or 'diag').",
                                 choices=("full", "diag", "tied", "spherical"))
    n_init: int = param(1, "EM restarts; the best likelihood wins.", low=1, high=100)
    max_iter: int = param(100, "EM iterations per restart.", low=1, advanced=True)
    reg_covar: float = param(1e-6, "Added to the covariance diagonals.", low=0.0, log=True, advanced=True)

    def _fit_features(self, features):
        self.model_ = GaussianMixture(n_components=self.n_clusters, covariance_type=self.covariance_type,
                                      n_init=self.n_init, max_iter=self.max_iter, reg_covar=self.reg_covar,
                                      random_state=self.random_state).fit(features)
        self.labels_ = self.model_.predict(features)
        self.n_iter_ = int(self.model_.n_iter_)
        if not self.model_.converged_:
            self.warnings_.append(f"GaussianMixture did not converge in {self.max_iter} iterations.")
        return {"loss": -float(self.model_.score(features))}

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "labels_")
        return self.model_.predict_proba(self._features(self._check_new(X)))

    def _predict_features(self, features):
        return self.model_.predict(features)


@register_method("spectral")
@dataclass(eq=False, repr=False)
class SpectralBaseline(_ClassicalClusterer):
    """Spectral clustering of a kNN (or RBF) affinity, k-means on the eigenvectors (von Luxburg's
    normalised variant; the kNN graph's eigenvectors by sparse Lanczos, ``graph.spectral_embedding``).

    It labels the points it was fitted on only: ``predict`` on new data raises InputError.
    """

    affinity: str = param("nearest_neighbors", "Graph: symmetrised kNN connectivity, or a dense RBF kernel.",
                          choices=("nearest_neighbors", "rbf"))
    n_neighbors: int = param(10, "Neighbours per sample for the kNN graph.", low=1, high=1000)
    gamma: float = param(1.0, "RBF kernel exp(-γ·d²) when affinity='rbf'.", low=0.0, low_inclusive=False,
                         log=True, advanced=True)
    n_init: int = param(10, "k-means restarts on the eigenvectors.", low=1, high=1000, advanced=True)

    def _fit_features(self, features):
        if self.affinity == "nearest_neighbors":
            if self.n_neighbors >= features.shape[0]:
                raise InputError(f"n_neighbors ({self.n_neighbors}) must be smaller than the number of samples "
                                 f"({features.shape[0]}).")
            # scikit-learn's eigen-solver factorises the Laplacian (shift-invert): 11 minutes on 70,000
            # points where plain Lanczos on the sparse graph takes seconds. Same eigenvectors, same k-means.
            embedding = spectral_embedding(torch.as_tensor(features), self.n_clusters, self.n_neighbors,
                                           seed=self.random_state)
            self.model_ = KMeans(n_clusters=self.n_clusters, n_init=self.n_init, random_state=self.random_state)
            self.labels_ = self.model_.fit_predict(embedding)
            return {}
        self.model_ = SpectralClustering(n_clusters=self.n_clusters, affinity=self.affinity, gamma=self.gamma,
                                         n_init=self.n_init, assign_labels="kmeans", random_state=self.random_state)
        self.labels_ = self.model_.fit_predict(features)
        return {}

    def _predict_features(self, features):
        raise InputError("Spectral clustering cannot label new points; refit on the data (fit_predict).")
