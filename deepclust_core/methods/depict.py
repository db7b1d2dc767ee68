"""DEPICT: DEep clustering via joint convolutional autoencoder embedding and relative entropy minimization
(Ghasedi Dizaji, Herandi, Deng, Cai, Huang, ICCV 2017). See docs/METHODS.md §8.

A denoising autoencoder (convolutional for square images whose side is a multiple of 4, an MLP otherwise) with a
soft-max clustering layer on its code: p_ik = softmax_k(w_kᵀ z_i + b_k). The clustering objective is

    min KL(Q ‖ P) + KL(f ‖ u),    f_k = (1/N) Σ_i q_ik,  u uniform (the balanced-assignment prior),

whose minimiser over Q the paper gives as q_ik ∝ p_ik / (Σ_i' p_i'k)^½; the authors' released code computes
q_ik ∝ p_ik² / Σ_i' p_i'k instead (DEC's sharpened target), and that is the default (``targets``): with the
paper's rule nothing sharpens the assignments, and on small problems we saw them drift to uniform. We compute them
on the whole data from the clean pathway at the start of every epoch (held fixed during the epoch), and train the
network on the cross-entropy −(1/N) Σ_ik q_ik log p̃_ik of the *noisy* pathway's p̃ (dropout on the input and every
hidden layer), plus the layer-wise reconstruction losses: each decoder layer must reproduce the clean encoder's
activations at the mirrored layer (mean squared error relative to that layer's mean square, weight 0.1 as in the
authors' code), and the output the input (Bernoulli cross-entropy for data in
[0, 1], squared error otherwise, averaged over features). The autoencoder is pretrained on the reconstruction
losses alone (cached like the other methods' pretraining); the clustering layer starts from k-means on the clean
code, written as a soft-max layer whose argmax is the nearest centre (so the start's labels are k-means').
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from .. import nn as dnn
from ..errors import InputError, TrainingError
from ..metrics import evaluate
from ..params import AUTO, param
from ._discriminative import kmeans_start, nearest_centre_logits
from .base import AutoDeepClusterer, register_method, seed_everything


class _ToImage(nn.Module):
    def __init__(self, side: int, channels: int):
        super().__init__()
        self.side, self.channels = side, channels

    def forward(self, x):
        n = x.shape[0]
        if self.channels == 1:
            return x.view(n, 1, self.side, self.side)
        return x.view(n, self.side, self.side, self.channels).permute(0, 3, 1, 2)


class _ToRows(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x):
        return (x if self.channels == 1 else x.permute(0, 2, 3, 1)).reshape(x.shape[0], -1)


class LadderAutoencoder(nn.Module):
    """Encoder and decoder as lists of blocks, so every layer's activation can be compared with its mirror."""

    def __init__(self, encoder: List[nn.Module], decoder: List[nn.Module]):
        super().__init__()
        self.encoder_blocks, self.decoder_blocks = nn.ModuleList(encoder), nn.ModuleList(decoder)

    def encode_layers(self, x: torch.Tensor, dropout: float = 0.0) -> List[torch.Tensor]:
        """[h_1, ..., h_{L-1}, z]; with ``dropout`` > 0 the input and every hidden layer are corrupted."""
        outputs, h = [], F.dropout(x, dropout, training=True) if dropout > 0 else x
        for i, block in enumerate(self.encoder_blocks):
            h = block(h)
            if dropout > 0 and i < len(self.encoder_blocks) - 1:
                h = F.dropout(h, dropout, training=True)
            outputs.append(h)
        return outputs

    def decode_layers(self, z: torch.Tensor) -> List[torch.Tensor]:
        """[ĥ_{L-1}, ..., ĥ_1, x̂]: the k-th output mirrors encoder layer L − k (the last mirrors the input)."""
        outputs, h = [], z
        for block in self.decoder_blocks:
            h = block(h)
            outputs.append(h)
        return outputs

    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, None]:
        return self.encode_layers(x)[-1], None

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode_layers(z)[-1]


def conv_autoencoder(side: int, channels: int, widths: Tuple[int, int], latent_dim: int,
                     layout: str = "small") -> LadderAutoencoder:
    """The authors' MNIST network (``layout="paper"``; herandy/DEPICT, ``build_depict`` with MNIST's settings): a
    4×4 stride-2 convolution without padding and a 5×5 stride-2 one with padding 2 (side 4m → 2m − 1 → m), leaky
    ReLU (slope 0.01), a dense tanh code; the decoder mirrors them with transposed convolutions and ends linear
    (logits, or values for squared error). ``"small"``: two 4×4 stride-2 convolutions with padding 1 (side → side/4),
    ReLU and a linear code (our first network)."""
    a, b = widths
    quarter = side // 4
    if layout == "small":
        act, first, second, code = nn.ReLU, (4, 1), (4, 1), nn.Identity()
    else:
        act, first, second, code = (lambda: nn.LeakyReLU(0.01)), (4, 0), (5, 2), nn.Tanh()
    encoder = [nn.Sequential(_ToImage(side, channels), nn.Conv2d(channels, a, first[0], 2, first[1]), act()),
               nn.Sequential(nn.Conv2d(a, b, second[0], 2, second[1]), act()),
               nn.Sequential(nn.Flatten(), nn.Linear(b * quarter * quarter, latent_dim), code)]
    decoder = [nn.Sequential(nn.Linear(latent_dim, b * quarter * quarter), act(),
                             nn.Unflatten(1, (b, quarter, quarter))),
               nn.Sequential(nn.ConvTranspose2d(b, a, second[0], 2, second[1]), act()),
               nn.Sequential(nn.ConvTranspose2d(a, channels, first[0], 2, first[1]), _ToRows(channels))]
    return LadderAutoencoder(encoder, decoder)


def mlp_autoencoder(input_dim: int, hidden: Tuple[int, ...], latent_dim: int) -> LadderAutoencoder:
    dims = [input_dim, *hidden, latent_dim]
    encoder = [nn.Sequential(nn.Linear(a, b), nn.ReLU()) for a, b in zip(dims[:-2], dims[1:-1])]
    encoder.append(nn.Linear(dims[-2], dims[-1]))
    back = dims[::-1]
    decoder = [nn.Sequential(nn.Linear(a, b), nn.ReLU()) for a, b in zip(back[:-2], back[1:-1])]
    decoder.append(nn.Linear(back[-2], back[-1]))
    return LadderAutoencoder(encoder, decoder)


def balanced_targets(p: torch.Tensor, rule: str = "code") -> torch.Tensor:
    """DEPICT's targets: q_ik ∝ p_ik / (Σ_i p_ik)^½ (``"paper"``, eq. of the paper's §3.1), or
    q_ik ∝ p_ik² / Σ_i p_ik (``"code"``, what the authors' released code computes; the paper's line is commented
    out there). Both divide by a power of the cluster's size (balance); only the second also sharpens."""
    size = p.sum(0, keepdim=True).clamp_min(dnn.EPS)
    weight = p.pow(2) / size if rule == "code" else p / size.sqrt()
    return weight / weight.sum(1, keepdim=True)


@register_method("depict")
@dataclass(eq=False, repr=False)
class DEPICT(AutoDeepClusterer):
    """DEPICT: soft-max clustering on a denoising (conv) autoencoder, balanced relative-entropy targets."""

    epochs: int = param(50, "Clustering epochs after pretraining.", low=1, high=100000)
    batch_size: int = param(100, "Minibatch size (authors' code: 100).", low=1)
    lr: float = param(0.0001, "Adam learning rate (authors' code: 1e-4).", low=0.0, low_inclusive=False, log=True)
    lr_decay: float = param(1.0, "Learning-rate factor every lr_decay_every epochs (1 = constant).", low=0.0,
                            high=1.0, advanced=True)
    network: str = param("auto", "auto: convolutional autoencoder for square images whose side is a multiple of "
                                 "4, else an MLP (hidden_dims).", choices=("auto", "conv", "mlp"))
    conv_channels: Tuple[int, ...] = param((32, 64), "Channels of the two stride-2 convolutions (the authors' "
                                                     "code: 50, 50).", low=1, advanced=True)
    conv_layout: str = param("small", "small: two 4×4 convolutions, ReLU, a linear code; paper: the authors' "
                                      "network (4×4 then 5×5, leaky ReLU, a tanh code; with conv_channels 50, 50). "
                                      "Equal k-means starts on MNIST after 50 pretraining epochs, small in 2.4× less "
                                      "time (docs/RESULTS.md §9).", choices=("small", "paper"), advanced=True)
    dropout: float = param(AUTO, "Corruption of the noisy pathway: dropout rate on the input and every hidden "
                                 "layer; auto: the paper's 0.1 for more than 50 features (pixels), 0 for fewer "
                                 "(dropping one of a handful of features is not small noise).", low=0.0, high=0.9)
    recon_weight: float = param(1.0, "Weight of the reconstruction losses beside the clustering loss.", low=0.0)
    layer_weight: float = param(AUTO, "Weight of each hidden layer's reconstruction loss relative to the output's; "
                                      "auto: none for square images (8×8 up) in the small convolutional network, "
                                      "the authors' 0.1 otherwise (docs/METHODS.md §7).", low=0.0, advanced=True)
    targets: str = param("code", "Target rule: 'code' q ∝ p²/Σp (the authors' code, sharpens), 'paper' q ∝ p/√Σp "
                                 "(the paper's equation, balances only).", choices=("code", "paper"))
    kmeans_restarts: int = param(20, "k-means restarts on the pretrained code (the start).", low=1, advanced=True)

    def _check_method_params(self, x) -> None:
        super()._check_method_params(x)
        if self.network == "conv" and self._image_shape(x.shape[1]) is None:
            raise InputError(f"network='conv' needs square images whose side is a multiple of 4; rows of "
                             f"{x.shape[1]} features are not. Use 'mlp' or 'auto'.")
        if len(self.conv_channels) != 2:
            raise InputError(f"conv_channels needs two entries (one per convolution); got {self.conv_channels}.")

    @staticmethod
    def _image_shape(n_features: int):
        shape = dnn.image_side(n_features)
        return shape if shape is not None and shape[0] % 4 == 0 else None

    def _uses_conv(self) -> bool:
        if self.network == "auto":  # a table of 16 columns is not a 4×4 picture
            return dnn.auto_conv_side(self.n_features_in_) is not None
        return self.network == "conv" and self._image_shape(self.n_features_in_) is not None

    def _architecture(self) -> Dict:
        if self._uses_conv():
            return {"input_dim": self.n_features_in_, "conv": list(self.conv_channels), "latent": self.latent_dim,
                    **({"layout": self.conv_layout} if self.conv_layout != "small" else {})}
        return super()._architecture()

    def _new_autoencoder(self) -> LadderAutoencoder:
        if self._uses_conv():
            side, channels = self._image_shape(self.n_features_in_)
            return conv_autoencoder(side, channels, tuple(self.conv_channels), self.latent_dim, self.conv_layout)
        return mlp_autoencoder(self.n_features_in_, tuple(self.hidden_dims), self.latent_dim)

    # -- the layer-wise reconstruction loss ------------------------------------------------------
    def _reconstruction(self, model: LadderAutoencoder, target: torch.Tensor, inputs: torch.Tensor):
        """(reconstruction loss, noisy code): decoder layers against the clean encoder's, output against x."""
        with torch.no_grad():
            clean = model.encode_layers(target)
        noisy = model.encode_layers(inputs, self.dropout)
        decoded = model.decode_layers(noisy[-1])
        if self.likelihood_ == "bernoulli":
            loss = F.binary_cross_entropy_with_logits(decoded[-1], target)
        else:
            loss = (decoded[-1] - target).pow(2).mean()
        for mirror, reference in zip(decoded[:-1], reversed(clean[:-1])):
            # Relative to the layer's mean square: shrinking every activation would otherwise lower this term
            # (the clean and noisy pathways share their weights), and with it the code and the head's logits.
            loss = loss + self.layer_weight * (mirror - reference).pow(2).mean() / reference.pow(2).mean().clamp_min(
                dnn.EPS)
        return loss, noisy[-1]

    def _pretrain(self, x_np, x, labels, callbacks):
        model = self._new_autoencoder().to(self.device_)
        schedule = {**self._pretrain_schedule(), "objective": "depict-ladder", "dropout": self.dropout,
                    "layer_weight": self.layer_weight}
        self.pretrain_key_ = dnn.pretrain_key(x_np, self._architecture(), self.random_state, schedule)
        path = dnn.cache_dir() / f"{self.pretrain_key_}.pt"
        self.pretrain_cached_ = False
        if self.cache_pretrained and dnn.load_pretrained(path, model) is not None:
            self.pretrain_cached_ = True
            return model.to(self.device_)
        seed_everything(self.random_state)
        generator = torch.Generator(device=self.device_).manual_seed(self.random_state)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.pretrain_lr)
        shape = dnn.image_side(x.shape[1]) if self.pretrain_augment else None
        n = x.shape[0]
        model.train()
        for epoch in range(1, self.pretrain_epochs + 1):
            order = torch.randperm(n, generator=generator, device=self.device_)
            total = torch.zeros((), device=self.device_)
            for start in range(0, n, self.pretrain_batch_size):
                target, inputs = dnn.pretraining_pair(x[order[start:start + self.pretrain_batch_size]], shape,
                                                      self.pretrain_noise, generator)
                loss, _ = self._reconstruction(model, target, inputs)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.detach() * target.shape[0]
            value = float(total) / n
            if not math.isfinite(value):
                raise TrainingError(f"Pretraining diverged: loss is {value} at epoch {epoch}. Try a lower pretrain_lr.")

            def latent(model=model):
                return self._encode_with(model, x).cpu().numpy(), None

            if self._record(self.history_, "pretrain", epoch, self.pretrain_epochs, {"loss": value}, callbacks,
                            latent):
                self.stopped_early_ = True
                break
        if self.cache_pretrained and not self.stopped_early_ and self.pretrain_epochs > 0:
            dnn.save_pretrained(path, model, {"schedule": schedule, "architecture": self._architecture()})
        return model

    # -- clustering ------------------------------------------------------------------------------
    def _initialize(self, x_np, x, labels) -> None:
        code = self._encode_means(x).cpu().numpy()
        km = kmeans_start(code, self.n_clusters, self.random_state, self.kmeans_restarts)
        self._start_at(km.cluster_centers_, code, km.labels_, labels)

    def _start_at(self, centres, code, start_labels, labels) -> None:
        """The clustering layer as the nearest-centre soft-max of ``centres``; ``start_labels`` is the start."""
        weight, bias = nearest_centre_logits(centres, code.astype("float64"))
        self.head_ = nn.Linear(self.latent_dim, self.n_clusters).to(self.device_)
        with torch.no_grad():
            self.head_.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
            self.head_.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
        self.init_labels_ = start_labels
        self.init_scores_ = evaluate(labels, start_labels) if labels is not None else None
        self.target_ = None

    def _modules(self):
        return [self.autoencoder_, self.head_]

    def _trainable_parameters(self):
        return list(self.autoencoder_.parameters()) + list(self.head_.parameters())

    @torch.no_grad()
    def _on_epoch_start(self, x, epoch) -> None:
        self.target_ = balanced_targets(self._proba_tensor(x), self.targets)

    def _batch_loss(self, x, index) -> Dict[str, torch.Tensor]:
        batch = x[index]
        recon, noisy_code = self._reconstruction(self.autoencoder_, batch, batch)
        log_p = F.log_softmax(self.head_(noisy_code), 1)
        cluster = -(self.target_[index] * log_p).sum(1).mean()
        return {"loss": cluster + self.recon_weight * recon, "cluster": cluster, "recon": recon}

    @torch.no_grad()
    def _proba_tensor(self, x) -> torch.Tensor:
        return torch.softmax(self.head_(self._encode_means(x)), 1)
