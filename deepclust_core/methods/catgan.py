"""CatGAN (Springenberg, ICLR 2016): the discriminator is a K-way classifier. See docs/METHODS.md.

Discriminator loss (paper eq. 7, minimised):  E_x H[p(y|x)] − H[E_x p(y|x)] − E_z H[p(y|G(z))]
(confident on real data, balanced over real data, uncertain on generated data). Generator loss (eq. 8):
E_z H[p(y|G(z))] − H[E_z p(y|G(z))] (samples it classifies confidently, in balanced proportions). The
clusters of real data are argmax p(y|x).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn import functional as F

from ..params import param
from ._gan import CONV_FC, GANClusterer, fill_rows, gan_mlp
from .base import register_method


def entropy_terms(logits: torch.Tensor):
    """(mean conditional entropy E H[p(y|x)], entropy of the marginal H[E p(y|x)]) of a batch, in nats."""
    log_p = F.log_softmax(logits, dim=1)
    p = log_p.exp()
    conditional = -(p * log_p).sum(1).mean()
    marginal = p.mean(0)
    return conditional, -(marginal * torch.log(marginal.clamp_min(1e-12))).sum()


@register_method("catgan")
@dataclass(eq=False, repr=False)
class CatGAN(GANClusterer):
    """Categorical GAN: a K-way discriminator confident and balanced on data, uncertain on samples."""

    noise_dim: int = param(128, "Dimension of the generator's noise z (paper: 128).", low=1, high=4096)
    network: str = param("auto", "auto: MLPs (hidden_dims) on all data — InfoGAN's convolutional pair measured no "
                                 "better for CatGAN (8×8 digits 0.714 against 0.812, 10,000 MNIST images 0.605 "
                                 "against 0.586); conv: that pair, for square images whose side is a multiple of 4.",
                         choices=("auto", "conv", "mlp"))

    conv_when_auto = False

    def _build(self, n_features: int) -> None:
        conv = self._conv_networks(n_features, self.noise_dim,
                                   lambda trunk: nn.Sequential(trunk, nn.Linear(CONV_FC, self.n_clusters)))
        if conv is not None:
            self.discriminator_, self.generator_net_ = conv
            return
        hidden = tuple(self.hidden_dims)
        self.discriminator_ = gan_mlp([n_features, *hidden, self.n_clusters], self.batch_norm, leaky=True
                                      ).to(self.device_)
        self.generator_net_ = gan_mlp([self.noise_dim, *reversed(hidden), n_features], self.batch_norm,
                                      leaky=False).to(self.device_)

    def _modules(self):
        return [self.discriminator_, self.generator_net_]

    def _d_step(self, real: torch.Tensor) -> Dict[str, torch.Tensor]:
        with torch.no_grad():
            fake = self._generate(self._noise(real.shape[0]))
        real_conditional, real_marginal = entropy_terms(self.discriminator_(real))
        fake_conditional, _ = entropy_terms(self.discriminator_(fake))
        return {"loss": real_conditional - real_marginal - fake_conditional,
                "real_entropy": real_conditional, "real_marginal_entropy": real_marginal,
                "fake_entropy_d": fake_conditional}

    def _g_step(self, n: int) -> Dict[str, torch.Tensor]:
        fake_conditional, fake_marginal = entropy_terms(self.discriminator_(self._generate(self._noise(n))))
        return {"loss": fake_conditional - fake_marginal, "fake_entropy": fake_conditional,
                "fake_marginal_entropy": fake_marginal}

    def _cluster_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator_(x)

    @torch.no_grad()
    def _generated_with_logits(self, n: int):
        for module in self._modules():
            module.eval()
        images = self._generate(self._noise(n))
        return images, self._judge_generated(images)

    def _fake_clusters(self, n: int) -> np.ndarray:
        return self._generated_with_logits(n)[1].argmax(1).cpu().numpy()

    def _sample_inputs_and_images(self, n: int):
        images, logits = self._generated_with_logits(n)
        return logits, images

    def cluster_samples(self, n_per_cluster: int = 10) -> Dict[str, np.ndarray]:
        """Generated samples per cluster (K, n, D): of 200·K·n draws, the n the discriminator puts most
        confidently into each cluster; NaN rows where a cluster got fewer (the generator's mode collapse shows
        as empty rows). ``generated_share``: the share of all draws per cluster; ``real_share``: of the data."""
        check_is_fitted(self, "labels_")
        draws = 200 * self.n_clusters * n_per_cluster
        images, logits = self._generated_with_logits(draws)
        probs = torch.softmax(logits, 1)
        confidence, cluster = probs.max(1)
        rows: List[np.ndarray] = []
        for k in range(self.n_clusters):
            members = torch.nonzero(cluster == k).squeeze(1)
            best = members[torch.argsort(confidence[members], descending=True)[:n_per_cluster]]
            rows.append(images[best].cpu().numpy())
        counts = np.bincount(cluster.cpu().numpy(), minlength=self.n_clusters)
        return {"samples": fill_rows(rows, n_per_cluster, self.n_features_in_),
                "generated_share": (counts / draws).astype(np.float32),
                "real_share": (np.bincount(self.labels_, minlength=self.n_clusters) / len(self.labels_))
                .astype(np.float32)}
