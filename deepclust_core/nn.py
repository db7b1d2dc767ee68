"""Networks and the variational objective shared by the deep methods: MLP autoencoder with a
Gaussian encoder, the GMM prior, the classifier f2, the ELBO terms, and the pretraining cache."""
from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import fileio, settings
from .errors import CacheWarning

LOG_2PI = math.log(2.0 * math.pi)
LOGVAR_CLAMP = (-10.0, 10.0)
EPS = 1e-10


def mlp(dims: Sequence[int], final_activation: bool = False) -> nn.Sequential:
    """Linear layers with ReLU between them (and after the last one when final_activation)."""
    layers = []
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(d_in, d_out))
        if final_activation or i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """Encoder x -> (mu, logvar), decoder z -> x_hat (logits when the likelihood is Bernoulli)."""

    def __init__(self, input_dim: int, hidden: Sequence[int], latent_dim: int):
        super().__init__()
        self.input_dim, self.hidden, self.latent_dim = input_dim, tuple(hidden), latent_dim
        self.encoder = mlp([input_dim, *hidden], final_activation=True) if hidden else nn.Identity()
        last = hidden[-1] if hidden else input_dim
        self.mu_head = nn.Linear(last, latent_dim)
        self.logvar_head = nn.Linear(last, latent_dim)
        self.decoder = mlp([latent_dim, *reversed(tuple(hidden)), input_dim])

    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.mu_head(h), self.logvar_head(h).clamp(*LOGVAR_CLAMP)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    @torch.no_grad()
    def scale_variance_head(self, narrowest_log_var: torch.Tensor) -> None:
        """Start q(z|x)'s variance at 1 % of the narrowest prior component's, per latent dimension (zero weights):
        the untrained head's variance ≈ 1 would make every point pay σ²/s²_k to a narrow component, and the
        clusters collapse into the widest one in the first epoch (docs/METHODS.md §6a)."""
        self.logvar_head.weight.zero_()
        self.logvar_head.bias.copy_(narrowest_log_var + math.log(0.01))


def image_side(n_features: int) -> Optional[Tuple[int, int]]:
    """(side, channels) when a flat row of ``n_features`` values is a square grey or RGB image, else None."""
    for channels in (1, 3):
        side = math.isqrt(n_features // channels)
        if n_features % channels == 0 and side * side * channels == n_features and side > 1:
            return side, channels
    return None


MIN_AUTO_IMAGE_SIDE = 8  # "auto" choices treat rows as images from 8×8 (scikit-learn's digits) up: 4 or 16
# columns of a table are not a 2×2 or 4×4 picture


def auto_image_side(n_features: int) -> Optional[Tuple[int, int]]:
    """:func:`image_side` for the automatic choices (a convolutional net, augmentation): None below 8×8."""
    shape = image_side(n_features)
    return shape if shape is not None and shape[0] >= MIN_AUTO_IMAGE_SIDE else None


def auto_conv_side(n_features: int) -> Optional[Tuple[int, int]]:
    """:func:`auto_image_side` when two stride-2 convolutions fit it (side a multiple of 4), else None: the
    images the automatic choices give a convolutional network (DEPICT, the GANs)."""
    shape = auto_image_side(n_features)
    return shape if shape is not None and shape[0] % 4 == 0 else None


AUGMENT_SHIFT, AUGMENT_DEGREES = 0.1, 10.0  # DEC-DA's pretraining augmentation
AUGMENT_KEY = f"affine-{AUGMENT_SHIFT:g}-{AUGMENT_DEGREES:g}"  # in the pretraining cache key when it is on


def random_affine(x: torch.Tensor, side: int, channels: int = 1, max_shift: float = AUGMENT_SHIFT,
                  max_degrees: float = AUGMENT_DEGREES, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Each flat image of ``x`` (B, channels·side²) shifted by up to ``max_shift`` of its width and height and
    rotated by up to ``max_degrees``, uniformly at random (DEC-DA's augmentation), bilinear, zeros outside.

    One batched ``grid_sample``: no loop over samples. Values stay in the input's range.
    """
    n = x.shape[0]
    u = torch.rand(n, 3, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1
    angle = u[:, 0] * math.radians(max_degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid maps output to input coordinates in [-1, 1]: a shift of s of the width is 2s there.
    theta = torch.stack([torch.stack([cos, -sin, 2 * max_shift * u[:, 1]], 1),
                         torch.stack([sin, cos, 2 * max_shift * u[:, 2]], 1)], 1)
    images = x.view(n, side, side, channels).permute(0, 3, 1, 2) if channels > 1 else x.view(n, 1, side, side)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    moved = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if channels > 1:
        moved = moved.permute(0, 2, 3, 1)
    return moved.reshape(n, -1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)


class GMMPrior(nn.Module):
    """Mixture prior p(c) p(z|c): softmax weights, means, diagonal log-variances."""

    def __init__(self, n_components: int, latent_dim: int):
        super().__init__()
        self.pi_logits = nn.Parameter(torch.zeros(n_components))
        self.means = nn.Parameter(torch.zeros(n_components, latent_dim))
        self.log_vars = nn.Parameter(torch.zeros(n_components, latent_dim))

    @property
    def log_pi(self) -> torch.Tensor:
        return torch.log_softmax(self.pi_logits, dim=0)

    def set_from(self, weights: np.ndarray, means: np.ndarray, variances: np.ndarray) -> None:
        with torch.no_grad():
            weights = np.clip(np.asarray(weights, dtype=np.float64), EPS, None)
            self.pi_logits.copy_(torch.as_tensor(np.log(weights / weights.sum()), dtype=torch.float32))
            self.means.copy_(torch.as_tensor(means, dtype=torch.float32))
            self.log_vars.copy_(torch.as_tensor(np.log(np.clip(variances, 1e-6, None)), dtype=torch.float32))

    def log_component_density(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; m_k, s2_k) for every sample and component: (B, K)."""
        diff = z.unsqueeze(1) - self.means.unsqueeze(0)
        return -0.5 * (LOG_2PI + self.log_vars + diff.pow(2) / self.log_vars.exp()).sum(-1)

    def responsibilities(self, z: torch.Tensor) -> torch.Tensor:
        """q(c=k|x) = softmax(log pi_k + log N(z; m_k, s2_k)), via log-sum-exp."""
        return torch.softmax(self.log_pi + self.log_component_density(z), dim=1)


def classifier(latent_dim: int, n_clusters: int, hidden: Sequence[int]) -> nn.Sequential:
    """f2: latent -> cluster logits (a softmax is applied by the caller)."""
    return mlp([latent_dim, *hidden, n_clusters])


def reconstruction_nll(x: torch.Tensor, decoded: torch.Tensor, likelihood: str, lam: float) -> torch.Tensor:
    """-log p(x|z) per sample. Bernoulli on logits, or Gaussian N(x_hat, lam I) with its constant."""
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(decoded, x, reduction="none").sum(1)
    sq = (x - decoded).pow(2).sum(1)
    return sq / (2.0 * lam) + 0.5 * x.shape[1] * math.log(2.0 * math.pi * lam)


def elbo_terms(x: torch.Tensor, decoded: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
               gamma: torch.Tensor, log_pi: torch.Tensor, prior: GMMPrior, likelihood: str,
               lam: float) -> Dict[str, torch.Tensor]:
    """The negative ELBO of docs/METHODS.md §2, split into per-sample terms (each shape (B,)).

    ``log_pi`` is (K,) for a global mixture (VaDE) or (B, K) for per-sample weights (DGG).
    negative ELBO = recon + kl_z + kl_c - entropy.
    """
    s2 = prior.log_vars.exp()
    diff = mu.unsqueeze(1) - prior.means.unsqueeze(0)  # (B, K, M)
    per_component = 0.5 * (LOG_2PI + prior.log_vars + logvar.exp().unsqueeze(1) / s2 + diff.pow(2) / s2).sum(-1)
    kl_z = (gamma * per_component).sum(1)
    kl_c = -(gamma * (log_pi - torch.log(gamma + EPS))).sum(1)
    entropy = 0.5 * (1.0 + LOG_2PI + logvar).sum(1)
    recon = reconstruction_nll(x, decoded, likelihood, lam)
    return {"recon": recon, "kl_z": kl_z, "kl_c": kl_c, "entropy": entropy,
            "loss": recon + kl_z + kl_c - entropy}


# ----------------------------------------------------------------------------------------------
# Pretraining and its cache
# ----------------------------------------------------------------------------------------------

def cache_dir() -> Path:
    """Where pretrained autoencoders are cached: ``pretrained/`` under :func:`settings.cache_root`."""
    return settings.cache_root() / "pretrained"


def data_fingerprint(x: np.ndarray) -> str:
    digest = hashlib.sha1()
    digest.update(str(x.shape).encode())
    digest.update(np.ascontiguousarray(x).tobytes())
    return digest.hexdigest()[:16]


def pretrain_key(x: np.ndarray, architecture: Dict, seed: int, schedule: Dict) -> str:
    """Cache key from (data, architecture, seed, schedule)."""
    payload = json.dumps({"data": data_fingerprint(x), "arch": architecture, "seed": seed,
                          "schedule": schedule}, sort_keys=True, default=str)
    return hashlib.sha1(payload.encode()).hexdigest()[:20]


def pretraining_pair(batch: torch.Tensor, image_shape: Optional[Tuple[int, int]], noise: float,
                     generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
    """(target, encoder input) of one pretraining step: the batch, randomly shifted and rotated when
    ``image_shape`` (``image_side``'s answer) is given, and that plus Gaussian noise for the encoder."""
    if image_shape is not None:
        batch = random_affine(batch, *image_shape, generator=generator)
    return batch, (batch + noise * torch.randn_like(batch) if noise > 0 else batch)


def pretrain_autoencoder(model: Autoencoder, x: torch.Tensor, *, likelihood: str, epochs: int,
                         batch_size: int, lr: float, seed: int, noise: float = 0.0, augment: bool = False,
                         epoch_callback=None, should_stop=None) -> list:
    """Train the encoder means and decoder as a plain (optionally denoising) autoencoder.

    With ``augment`` (square images only) every minibatch is a random shift/rotation of the images
    (:func:`random_affine`), reconstructed as augmented, as DEC-DA pretrains its autoencoder.
    Returns the per-epoch mean reconstruction loss.
    """
    shape = image_side(x.shape[1]) if augment else None
    if augment and shape is None:
        raise ValueError(f"augmentation needs square images; {x.shape[1]} features are not side² or 3·side²")
    generator = torch.Generator(device=x.device).manual_seed(seed)
    params = [p for name, p in model.named_parameters() if not name.startswith("logvar_head")]
    optimizer = torch.optim.Adam(params, lr=lr)
    n = x.shape[0]
    losses = []
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(n, generator=generator, device=x.device)
        total = torch.zeros((), device=x.device)
        for start in range(0, n, batch_size):
            batch, inputs = pretraining_pair(x[order[start:start + batch_size]], shape, noise, generator)
            mu, _ = model.encode(inputs)
            decoded = model.decode(mu)
            if likelihood == "bernoulli":
                loss = F.binary_cross_entropy_with_logits(decoded, batch, reduction="none").sum(1).mean()
            else:
                loss = (decoded - batch).pow(2).sum(1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * batch.shape[0]
        losses.append(float(total) / n)
        if epoch_callback is not None:
            epoch_callback(epoch + 1, epochs, losses[-1])
        if should_stop is not None and should_stop():
            break
    return losses


def save_pretrained(path: Path, model: Autoencoder, meta: Dict) -> bool:
    """Cache a pretrained autoencoder; the cache is optional, so a folder that cannot be written (read-only,
    full, a file in its place) costs a warning, never the run. True when it was written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One temporary name per writer: two runs pretraining the same model at once must not share it.
        fileio.write_atomically(path, lambda stream: torch.save({"state_dict": model.state_dict(), "meta": meta},
                                                                stream))
    except OSError as exc:
        warnings.warn(f"The pretrained autoencoder was not cached ({path.parent} cannot be written: "
                      f"{exc.strerror or type(exc).__name__}); the run goes on without the cache.", CacheWarning)
        return False
    return True


def load_pretrained(path: Path, model: Autoencoder) -> Optional[Dict]:
    """Load a cached autoencoder (weights only, never arbitrary pickles); None when absent/broken."""
    if not path.exists():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(blob["state_dict"])
        return blob.get("meta", {})
    except Exception:  # a corrupted cache file is ignored and rebuilt
        return None
