"""IMSAT: Information Maximizing Self-Augmented Training (Hu, Miyato, Tokui, Matsumoto, Sugiyama, ICML 2017).
See docs/METHODS.md §8.

RIM on a deep network, regularised by self-augmented training (SAT): the assignment of each sample must not change
under a small perturbation T(x) of it. The loss minimised per minibatch is

    R_SAT + λ (H(Y|X) − μ H(Y)),     R_SAT = (1/B) Σ_i KL(p(y | x_i) ‖ p(y | x_i + r_i)),

with r_i the virtual adversarial perturbation (VAT, Miyato et al.): the direction that changes p(y | x_i) most,
found by one power iteration from a random direction of length ξ, scaled to the radius ε_i = α·d_t(x_i), d_t being
the distance from x_i to its t-th nearest neighbour in the data (so the perturbation stays inside x_i's
neighbourhood). The target p(y | x_i) is held fixed (no gradient). Network: D-1200-1200-K with batch norm and
ReLU (the paper's); Adam 0.002, batch 250, 50 epochs, λ = 0.1, μ = 4, t = 10, α = 0.25 as in the paper and the
authors' code. Labels: argmax p(y | x). The start is the randomly initialised network.

Two details come from the authors' code (chainer, github.com/weihua916/imsat, imsat_cluster.py), not the paper:
- ξ, the probe length, is 10 there on MNIST scaled to [−1, 1]; we state it relative to the data as a multiple of
  the median t-th-neighbour distance (on all 70,000 MNIST images that median is 5.14 in [0, 1]; the code's, 11th
  neighbour, is 10.3 in its scaling, so their ξ is 0.97 × it; we use 1). A fixed ξ = 10 on [0, 1] pixels probed
  twice as far.
- Initialisation: hidden weights N(0, 0.1²/fan_in), output weights N(0, 10⁻⁸/fan_in) (chainer's wscale 0.1 and
  0.0001), biases 0, so the start assigns every sample nearly uniformly; Adam's steps of 0.002 are then large
  relative to the small hidden weights (batch norm makes the forward pass blind to their scale).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import torch

from ..params import AUTO, param
from ._discriminative import (DiscriminativeClusterer, bn_mlp, conditional_entropy, kth_neighbour_distance,
                              marginal_entropy, softmax_kl)
from .base import register_method


def unit_rows(d: torch.Tensor) -> torch.Tensor:
    return d / d.norm(dim=1, keepdim=True).clamp_min(1e-12)


@torch.no_grad()
def authors_init(network: torch.nn.Sequential, hidden_scale: float = 0.1, output_scale: float = 1e-4) -> None:
    """The authors' initialisation: weights N(0, scale²/fan_in) (scale 0.1 hidden, 10⁻⁴ output), biases 0."""
    linears = [m for m in network.modules() if isinstance(m, torch.nn.Linear)]
    for i, layer in enumerate(linears):
        scale = output_scale if i == len(linears) - 1 else hidden_scale
        layer.weight.normal_(0.0, scale / layer.in_features ** 0.5)
        layer.bias.zero_()


@register_method("imsat")
@dataclass(eq=False, repr=False)
class IMSAT(DiscriminativeClusterer):
    """IMSAT: RIM on a network, with assignments made invariant to virtual adversarial perturbations."""

    # Not called hidden_dims: a dataset recipe's autoencoder architecture (e.g. MNIST's 500-500-2000) is not IMSAT's.
    hidden_layers: Tuple[int, ...] = param(AUTO, "Hidden layers of the network (batch norm, ReLU); auto: the "
                                                 "paper's 1200-1200 for more than 50 features, 256-256 for fewer.",
                                           low=1)
    epochs: int = param(50, "Training epochs (paper: 50).", low=1, high=100000)
    batch_size: int = param(250, "Minibatch size (paper: 250); H(Y) is estimated on each batch.", low=2)
    lr: float = param(0.002, "Adam learning rate (paper: 0.002).", low=0.0, low_inclusive=False, log=True)
    info_weight: float = param(0.1, "λ: weight of the information term H(Y|X) − μ H(Y) (paper: 0.1).", low=0.0)
    marginal_weight: float = param(4.0, "μ: weight of the marginal entropy H(Y) inside it (paper: 4); larger "
                                        "means more balanced clusters.", low=0.0)
    sat_neighbor: int = param(10, "t: the perturbation radius is α × the distance to the t-th nearest neighbour "
                                  "(paper: 10; capped at N − 1).", low=1, high=1000)
    sat_radius: float = param(0.25, "α: perturbation radius relative to that distance (paper: 0.25).", low=0.0,
                              low_inclusive=False)
    vat_xi: float = param(1.0, "ξ: length of the probe direction in the power iteration, as a multiple of the "
                               "median distance to the t-th neighbour (authors' code: 10 on MNIST in [−1, 1], "
                               "0.97 × that median).", low=0.0, low_inclusive=False, advanced=True)

    def _build(self, x_np, x, labels) -> None:
        self.network_ = bn_mlp([x_np.shape[1], *self.hidden_layers, self.n_clusters])
        authors_init(self.network_)
        distances = kth_neighbour_distance(x, self.sat_neighbor)
        self.radius_ = self.sat_radius * distances
        self.probe_ = self.vat_xi * float(distances.median())

    def _perturbed(self, batch: torch.Tensor) -> torch.Tensor:
        """Logits of perturbed inputs; batch norm normalises with their batch but keeps its running statistics
        (as the authors' code: update_batch_stats=False), so that prediction is not skewed by perturbed data."""
        norms = [m for m in self.network_.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        saved = [m.momentum for m in norms]
        for m in norms:
            m.momentum = 0.0
        try:
            return self.network_(batch)
        finally:
            for m, momentum in zip(norms, saved):
                m.momentum = momentum

    def _virtual_adversarial(self, batch: torch.Tensor, logits: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
        """r_i = ε_i · unit(∇_d KL(p(x_i) ‖ p(x_i + ξ d))) from one power iteration."""
        d = unit_rows(torch.randn(batch.shape, generator=self.generator_, device=batch.device)).requires_grad_(True)
        divergence = softmax_kl(logits.detach(), self._perturbed(batch + self.probe_ * d)).mean()
        (grad,) = torch.autograd.grad(divergence, d)
        return radius.unsqueeze(1) * unit_rows(grad.detach())

    def _batch_loss(self, x, index) -> Dict[str, torch.Tensor]:
        batch = x[index]
        logits = self.network_(batch)
        p = torch.softmax(logits, 1)
        h_y, h_y_x = marginal_entropy(p), conditional_entropy(p)
        r_adv = self._virtual_adversarial(batch, logits, self.radius_[index])
        sat = softmax_kl(logits.detach(), self._perturbed(batch + r_adv)).mean()
        loss = sat + self.info_weight * (h_y_x - self.marginal_weight * h_y)
        return {"loss": loss, "sat": sat, "marginal_entropy": h_y, "conditional_entropy": h_y_x,
                "mutual_information": h_y - h_y_x}

