"""InfoGAN with a categorical code (Chen et al., NeurIPS 2016). See docs/METHODS.md.

The generator takes (z, c), c one-hot over K codes; the discriminator's trunk feeds a real/fake head D and a
code head Q(c|x). Besides the GAN loss (non-saturating for G), both players minimise λ·CE(Q(G(z, c)), c), a
lower bound on −I(c; G(z, c)) up to H(c). Real data are clustered by argmax Q(c|x).
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
from ._gan import CONV_FC, GANClusterer, gan_mlp
from .base import register_method


class InfoDiscriminator(nn.Module):
    """A shared trunk with a real/fake logit head and a K-way code head Q(c|x)."""

    def __init__(self, trunk: nn.Module, width: int, n_codes: int):
        super().__init__()
        self.trunk = trunk
        self.real_head = nn.Linear(width, 1)
        self.code_head = nn.Linear(width, n_codes)

    def forward(self, x: torch.Tensor):
        h = self.trunk(x)
        return self.real_head(h).squeeze(1), self.code_head(h)


@register_method("infogan")
@dataclass(eq=False, repr=False)
class InfoGAN(GANClusterer):
    """InfoGAN: a GAN whose categorical code is made to carry mutual information with its samples."""

    lr_g: float = param(1e-3, "Adam learning rate of the generator (paper: 1e-3; discriminator 2e-4).", low=0.0,
                        low_inclusive=False, log=True)
    info_weight: float = param(1.0, "λ: weight of the mutual-information term (paper: 1 for discrete codes).",
                               low=0.0)

    def _build(self, n_features: int) -> None:
        conv = self._conv_networks(n_features, self.noise_dim + self.n_clusters,
                                   lambda trunk: InfoDiscriminator(trunk, CONV_FC, self.n_clusters))
        if conv is not None:
            self.discriminator_, self.generator_net_ = conv
            return
        hidden = tuple(self.hidden_dims)
        trunk = nn.Sequential(gan_mlp([n_features, *hidden], self.batch_norm, leaky=True), nn.LeakyReLU(0.2))
        self.discriminator_ = InfoDiscriminator(trunk, hidden[-1], self.n_clusters).to(self.device_)
        self.generator_net_ = gan_mlp([self.noise_dim + self.n_clusters, *reversed(hidden), n_features],
                                      self.batch_norm, leaky=False).to(self.device_)

    def _modules(self):
        return [self.discriminator_, self.generator_net_]

    def _codes(self, n: int) -> torch.Tensor:
        return torch.randint(self.n_clusters, (n,), generator=self.torch_rng_, device=self.device_)

    def _inputs(self, codes: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return torch.cat([noise, F.one_hot(codes, self.n_clusters).to(noise.dtype)], 1)

    def _d_step(self, real: torch.Tensor) -> Dict[str, torch.Tensor]:
        n = real.shape[0]
        codes = self._codes(n)
        with torch.no_grad():
            fake = self._generate(self._inputs(codes, self._noise(n)))
        real_logit, _ = self.discriminator_(real)
        fake_logit, fake_code = self.discriminator_(fake)
        gan = (F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
               + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)))
        info = F.cross_entropy(fake_code, codes)
        return {"loss": gan + self.info_weight * info, "d_gan": gan, "info_d": info}

    def _g_step(self, n: int) -> Dict[str, torch.Tensor]:
        codes = self._codes(n)
        fake_logit, fake_code = self.discriminator_(self._generate(self._inputs(codes, self._noise(n))))
        gan = F.binary_cross_entropy_with_logits(fake_logit, torch.ones_like(fake_logit))
        info = F.cross_entropy(fake_code, codes)
        return {"loss": gan + self.info_weight * info, "g_gan": gan, "info_g": info}

    def _d_parameters(self):  # Q's head is trained in both steps, as in the paper's code
        return list(self.discriminator_.parameters())

    def _g_parameters(self):
        return list(self.generator_net_.parameters()) + list(self.discriminator_.code_head.parameters())

    def _cluster_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator_(x)[1]

    @torch.no_grad()
    def _generated(self, codes: torch.Tensor, noise: torch.Tensor):
        for module in self._modules():
            module.eval()
        images = self._generate(self._inputs(codes, noise))
        return images, self._judge_generated(images)

    def _fake_clusters(self, n: int) -> np.ndarray:
        return self._generated(self._codes(n), self._noise(n))[1].argmax(1).cpu().numpy()

    def _sample_inputs_and_images(self, n: int):
        codes = self._codes(n)
        images, _ = self._generated(codes, self._noise(n))
        return codes, images

    def cluster_samples(self, n_per_cluster: int = 10) -> Dict[str, np.ndarray]:
        """Samples per code (K, n, D) with the same noise z in each column (paper Fig. 2a); cluster k of real
        data is code k. ``code_agreement``: the share of 200·n draws with code k that Q puts back into k (judged
        in minibatches of shuffled codes, as in training: a minibatch of one code has other batch-norm
        statistics); ``real_share``: the data's share per cluster."""
        check_is_fitted(self, "labels_")
        noise = self._noise(n_per_cluster).repeat(self.n_clusters, 1)
        codes = torch.arange(self.n_clusters, device=self.device_).repeat_interleave(n_per_cluster)
        images, _ = self._generated(codes, noise)
        draws = 200 * n_per_cluster
        mixed = torch.arange(self.n_clusters, device=self.device_).repeat(draws)
        mixed = mixed[torch.randperm(len(mixed), generator=self.torch_rng_, device=self.device_)]
        recovered = self._generated(mixed, self._noise(len(mixed)))[1].argmax(1) == mixed
        agreement: List[float] = [float(recovered[mixed == k].float().mean()) for k in range(self.n_clusters)]
        return {"samples": images.cpu().numpy().reshape(self.n_clusters, n_per_cluster, -1).astype(np.float32),
                "code_agreement": np.asarray(agreement, dtype=np.float32),
                "real_share": (np.bincount(self.labels_, minlength=self.n_clusters) / len(self.labels_))
                .astype(np.float32)}
