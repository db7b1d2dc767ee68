"""RIM: Regularized Information Maximization (Krause, Perona, Gomes, NeurIPS 2010). See docs/METHODS.md §8.

A multilogit regression p(y = k | x) = softmax_k(w_kᵀx + b_k) is fitted to maximise the mutual information
between the inputs and their cluster, estimated on the data, minus a weight penalty:

    F(W) = I(X; Y) − λ Σ_k ‖w_k‖²,     I(X; Y) = H(Ŷ) − (1/N) Σ_i H(p(y | x_i)),

where Ŷ is the empirical marginal p̂(y) = (1/N) Σ_i p(y | x_i). H(Ŷ) wants balanced clusters, the conditional
entropy confident assignments, the penalty keeps the boundaries wide (the margin). We minimise −F with Adam on
minibatches (the marginal is the batch's mean assignment) instead of the paper's L-BFGS on the full data.

Start: the objective is non-convex and flat at a uniform model, so the weights start from a k-means partition of
the inputs written as a multilogit model (w_k = β c_k, b_k = −β‖c_k‖²/2: its argmax is the nearest centre, so
the start's labels are k-means' labels); ``init="random"`` starts from small random weights instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np
import torch
from torch import nn

from ..metrics import evaluate
from ..params import param
from ._discriminative import (DiscriminativeClusterer, conditional_entropy, kmeans_start, marginal_entropy,
                              nearest_centre_logits)
from .base import register_method


@register_method("rim")
@dataclass(eq=False, repr=False)
class RIM(DiscriminativeClusterer):
    """Regularized Information Maximization: a multilogit model maximising I(X; Y) minus a weight penalty."""

    epochs: int = param(50, "Training epochs.", low=1, high=100000)
    batch_size: int = param(1000, "Minibatch size; the marginal H(Ŷ) is estimated on each batch (at most the "
                                  "number of samples).", low=2)
    lr: float = param(0.01, "Adam learning rate.", low=0.0, low_inclusive=False, log=True)
    weight_penalty: float = param(1e-4, "λ: weight of the penalty Σ_k ‖w_k‖² (the paper chooses it by validation).",
                                  low=0.0)
    init: str = param("kmeans", "Start: the k-means partition written as a multilogit model, or small random "
                                "weights.", choices=("kmeans", "random"))
    kmeans_restarts: int = param(10, "k-means restarts for the start.", low=1, advanced=True)

    def _build(self, x_np, x, labels) -> None:
        self.network_ = nn.Linear(x_np.shape[1], self.n_clusters)
        if self.init == "kmeans":
            km = kmeans_start(x_np, self.n_clusters, self.random_state, self.kmeans_restarts)
            weight, bias = nearest_centre_logits(km.cluster_centers_, x_np.astype(np.float64))
            with torch.no_grad():
                self.network_.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
                self.network_.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
            self.init_labels_ = km.labels_
            self.init_scores_ = evaluate(labels, km.labels_) if labels is not None else None
        else:
            with torch.no_grad():
                self.network_.weight.normal_(0.0, 0.01)  # seeded by fit
                self.network_.bias.zero_()

    def _information_terms(self, logits: torch.Tensor) -> Dict[str, torch.Tensor]:
        p = torch.softmax(logits, 1)
        h_y, h_y_x = marginal_entropy(p), conditional_entropy(p)
        return {"marginal_entropy": h_y, "conditional_entropy": h_y_x, "mutual_information": h_y - h_y_x}

    def _batch_loss(self, x, index) -> Dict[str, torch.Tensor]:
        terms = self._information_terms(self.network_(x[index]))
        penalty = self.network_.weight.pow(2).sum()
        terms["penalty"] = penalty
        terms["loss"] = -terms["mutual_information"] + self.weight_penalty * penalty
        return terms
