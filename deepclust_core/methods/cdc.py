"""CDC, after Trinh & Pham, "Learning discriminative representations for deep clustering"
(docs/METHODS.md §4; reported ACC: Reuters-10K 83.9 median, Fashion-MNIST 66.0).

What the description fixes, implemented as stated:

- Correlation loss. Within a minibatch, each representation H (input X, latent Z, reconstruction
  X̂) defines a Student-t pairwise-similarity distribution over the ordered pairs i ≠ j,
  C_H(i, j) ∝ (1 + d_ij² / ν)^(-(ν+1)/2), normalised over all pairs. Pretraining minimises
  L_re + w·L_corr with L_corr = KL(C_Z || C_X) + KL(C_X̂ || C_X): the latent's and the
  reconstruction's neighbourhood structure must match the input's (w = ``correlation_weight``).
- Fine-tuning minimises L = L_c + η·L_a + β·L_re, L_c being DEC's KL(P || Q) with Student-t
  assignments to centres initialised by k-means on mu(X), and the target P recomputed on the full
  data every ``update_interval`` iterations (everything DEC does, tol stopping included).

What it leaves open, and what this implementation assumes:

- Distances are divided by their mean over the batch's pairs in each space (a scale-free
  comparison: 784 pixels and a 10-D latent live on different scales; the latent can otherwise
  lower the KL by merely rescaling itself). ν = ``similarity_dof`` = 1 (t-SNE's choice).
- The affinity loss L_a is the latent–input correlation term KL(C_Z || C_X) kept during
  fine-tuning, so the clustering loss cannot distort the pairwise affinities of the latent (the
  role IDEC gives the reconstruction loss).
- L_re is the reconstruction loss averaged over features (Bernoulli cross-entropy for data in
  [0, 1], squared error otherwise), in pretraining and fine-tuning alike, so that the weights are
  comparable across datasets. η and β default to 1 (no values given).
- Because its pretraining objective differs, CDC caches its own pretrained autoencoder (the cache
  key includes the correlation settings); with ``correlation_weight = 0`` it uses the plain,
  shared one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict

import torch

from .. import nn as dnn
from ..errors import TrainingError
from ..params import param
from .base import register_method, seed_everything
from .dec import DEC, encoder_parameters, kl_divergence, reconstruction_error, soft_assignment


def pairwise_similarity(h: torch.Tensor, dof: float = 1.0) -> torch.Tensor:
    """Student-t similarity distribution over the ordered pairs i ≠ j of a batch: (B, B), sums to 1.

    Squared distances are divided by their mean over the pairs, so the result does not depend on
    the scale of the space.
    """
    flat = h.reshape(h.shape[0], -1)
    norms = flat.pow(2).sum(1)
    squared = (norms.unsqueeze(1) + norms.unsqueeze(0) - 2.0 * flat @ flat.T).clamp_min(0.0)
    off_diagonal = ~torch.eye(flat.shape[0], dtype=torch.bool, device=flat.device)
    squared = squared / squared[off_diagonal].mean().clamp_min(dnn.EPS)
    kernel = torch.pow(1.0 + squared / dof, -0.5 * (dof + 1.0)) * off_diagonal
    return kernel / kernel.sum()


def correlation_divergence(source: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """KL(C_source || C_reference) between two pairwise-similarity distributions (a scalar)."""
    return (source * (torch.log(source + dnn.EPS) - torch.log(reference + dnn.EPS))).sum()


@register_method("cdc")
@dataclass(eq=False, repr=False)
class CDC(DEC):
    """DEC with a correlation loss between input, latent and reconstruction similarities."""

    correlation_weight: float = param(1.0, "w: weight of the correlation loss KL(C_Z||C_X) + KL(C_X̂||C_X) "
                                           "added to pretraining (0 = plain shared autoencoder).", low=0.0)
    eta: float = param(1.0, "η: weight of the affinity loss KL(C_Z||C_X) in fine-tuning.", low=0.0)
    beta: float = param(1.0, "β: weight of the reconstruction loss in fine-tuning.", low=0.0)
    similarity_dof: float = param(1.0, "ν: degrees of freedom of the pairwise Student-t similarity.", low=0.0,
                                  low_inclusive=False, advanced=True)

    uses_decoder = True

    def _output(self, decoded: torch.Tensor) -> torch.Tensor:
        """Reconstruction in data space (decoder logits are squashed for Bernoulli data)."""
        return torch.sigmoid(decoded) if self.likelihood_ == "bernoulli" else decoded

    def _correlation_terms(self, batch, z, decoded) -> Dict[str, torch.Tensor]:
        with torch.no_grad():
            c_x = pairwise_similarity(batch, self.similarity_dof)
        c_z = pairwise_similarity(z, self.similarity_dof)
        c_xhat = pairwise_similarity(self._output(decoded), self.similarity_dof)
        return {"corr_latent": correlation_divergence(c_z, c_x),
                "corr_recon": correlation_divergence(c_xhat, c_x)}

    # -- pretraining with the correlation loss -------------------------------------------------
    def _pretrain(self, x_np, x, labels, callbacks):
        if self.correlation_weight == 0:
            return super()._pretrain(x_np, x, labels, callbacks)
        model = dnn.Autoencoder(self.n_features_in_, self.hidden_dims, self.latent_dim).to(self.device_)
        schedule = {**self._pretrain_schedule(), "objective": "cdc-correlation",
                    "correlation_weight": self.correlation_weight, "dof": self.similarity_dof}
        self.pretrain_key_ = dnn.pretrain_key(x_np, self._architecture(), self.random_state, schedule)
        path = dnn.cache_dir() / f"{self.pretrain_key_}.pt"
        self.pretrain_cached_ = False
        if self.cache_pretrained and dnn.load_pretrained(path, model) is not None:
            self.pretrain_cached_ = True
            return model.to(self.device_)
        if self.pretrain_epochs == 0:
            return model
        seed_everything(self.random_state)
        generator = torch.Generator(device=self.device_).manual_seed(self.random_state)
        optimizer = torch.optim.Adam(encoder_parameters(model) + list(model.decoder.parameters()),
                                     lr=self.pretrain_lr)
        image_shape = dnn.image_side(x.shape[1]) if self.pretrain_augment else None
        n = x.shape[0]
        model.train()
        for epoch in range(1, self.pretrain_epochs + 1):
            order = torch.randperm(n, generator=generator, device=self.device_)
            sums: Dict[str, torch.Tensor] = {}
            for start in range(0, n, self.pretrain_batch_size):
                batch, inputs = dnn.pretraining_pair(x[order[start:start + self.pretrain_batch_size]], image_shape,
                                                     self.pretrain_noise, generator)
                z = model.encode(inputs)[0]
                decoded = model.decode(z)
                terms = {"recon": reconstruction_error(batch, decoded, self.likelihood_).mean()}
                if batch.shape[0] > 2:  # a pair distribution needs at least two pairs
                    terms.update(self._correlation_terms(batch, z, decoded))
                terms["loss"] = terms["recon"] + self.correlation_weight * (
                    terms.get("corr_latent", 0.0) + terms.get("corr_recon", 0.0))
                optimizer.zero_grad(set_to_none=True)
                terms["loss"].backward()
                optimizer.step()
                for key, value in terms.items():
                    sums[key] = sums.get(key, 0.0) + value.detach() * batch.shape[0]
            metrics = {key: float(value) / n for key, value in sums.items()}
            if not all(math.isfinite(v) for v in metrics.values()):
                raise TrainingError(f"Pretraining diverged at epoch {epoch}: {metrics}. Try a lower pretrain_lr.")

            def latent():
                return self._encode_with(model, x).cpu().numpy(), None

            if self._record(self.history_, "pretrain", epoch, self.pretrain_epochs, metrics, callbacks, latent):
                self.stopped_early_ = True
                break
        if self.cache_pretrained and not self.stopped_early_:
            dnn.save_pretrained(path, model, {"schedule": schedule, "architecture": self._architecture()})
        return model

    # -- fine-tuning ---------------------------------------------------------------------------
    def _batch_loss(self, x, index) -> Dict[str, torch.Tensor]:
        self._step_target(x)
        batch = x[index]
        z = self.autoencoder_.encode(batch)[0]
        decoded = self.autoencoder_.decode(z)
        cluster = kl_divergence(self.target_[index], soft_assignment(z, self.centers_, self.alpha)).mean()
        recon = reconstruction_error(batch, decoded, self.likelihood_).mean()
        affinity = torch.zeros((), device=z.device)
        if batch.shape[0] > 2:
            with torch.no_grad():
                c_x = pairwise_similarity(batch, self.similarity_dof)
            affinity = correlation_divergence(pairwise_similarity(z, self.similarity_dof), c_x)
        loss = cluster + self.eta * affinity + self.beta * recon
        return {"loss": loss, "kl": cluster, "affinity": affinity, "recon": recon}
