"""DAC: Deep Adaptive image Clustering (Chang, Wang, Meng, Xiang, Pan, ICCV 2017). See docs/METHODS.md §8.

Clustering recast as binary pairwise classification. A network gives each image a label feature
l_i = softmax(f(x_i)) / ‖softmax(f(x_i))‖₂ (non-negative, unit length), and the similarity of two images is
g_ij = l_i · l_j ∈ [0, 1]. Within each minibatch, pairs with g_ij ≥ u(λ) are taken as "same cluster" (r_ij = 1),
pairs with g_ij < l(λ) as "different" (r_ij = 0), the rest are left out, and the selected pairs are trained with
binary cross-entropy −r_ij log g_ij − (1 − r_ij) log(1 − g_ij). The thresholds u(λ) = 0.95 − λ and
l(λ) = 0.455 + 0.1 λ move towards each other (the curriculum: first the most confident pairs, then more). As in the
authors' code, the step itself grows: after e rounds the thresholds have moved by λ_e = s·e(e+1)/2 with
s = ``threshold_step`` = 1.1 × 0.009, so they meet after 10 rounds; training ends then or after ``epochs``. The code
runs 1,000 minibatches per round; here a round is one epoch. Because the label
features are unit-length and non-negative, l_i · l_j = 1 forces one-hot-like features, so the cluster is
argmax_k l_ik. The logits pass through batch norm before the softmax, as in the paper's networks, so a fresh
network already spreads its label features (a uniform output would make every pair "same").

The authors' released MNIST script (``MNIST/mnist.py`` of vector-1127/DAC) trains differently from the paper's
text, and ``pairs="one_threshold"``, ``augment`` and ``batch_steps`` reproduce its three differences: every pair
is used, with target 1 when g_ij > t and 0 otherwise, t = 0.9 in the first epoch and lowered by 0.4 / epochs
after each (squared error instead of cross-entropy, nothing left out); the targets come from the images as they
are, the steps train on random shifts and rotations of them (the script also zooms by ±5 %); and each group of images is trained on five
times before the next (its groups exactly: ``batch_size=1000, pair_batch=128, batch_steps=40``). Its network is a
deeper all-convolutional one (not reproduced) trained with RMSprop (``optimizer="rmsprop"``), with batch norm and
ReLU before the softmax (``head="relu"``). None of these kept all 70,000 MNIST images from falling after the first
epochs (docs/RESULTS.md §9); the recipe keeps Adam and the batch-norm head.

Network: a small convolutional net for square images (the paper uses a deeper all-convolutional one), an MLP
with batch norm for other rows. The start is the randomly initialised network.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from .. import nn as dnn
from ..errors import InputError
from ..params import AUTO, param
from ._discriminative import ConvNet, DiscriminativeClusterer, bn_mlp, choose_network
from .base import register_method

UPPER_START, LOWER_START, LOWER_SLOPE = 0.95, 0.455, 0.1
ONE_START, ONE_END = 0.9, 0.5  # the authors' MNIST script: one threshold, from 0.9 towards 0.5


def thresholds(lam: float) -> Tuple[float, float]:
    """(u(λ), l(λ)) = (0.95 − λ, 0.455 + 0.1 λ)."""
    return UPPER_START - lam, LOWER_START + LOWER_SLOPE * lam


def curriculum_lambda(rounds: int, step: float) -> float:
    """λ after ``rounds`` completed rounds: the authors' code adds λ_e = e·s to the shift each round, Σ = s·e(e+1)/2."""
    return step * rounds * (rounds + 1) / 2.0


def one_threshold(epoch: int, epochs: int) -> float:
    """The authors' MNIST script's threshold in ``epoch`` (1-based): 0.9, lowered by 0.4 / epochs after each."""
    return ONE_START - (ONE_START - ONE_END) * (epoch - 1) / max(1, epochs)


def pair_loss(features: torch.Tensor, upper: float, lower: float,
              reference: torch.Tensor = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mean binary cross-entropy over the selected pairs i ≠ j, and the fraction of pairs selected.

    ``features`` are unit-length label features (B, K). Pairs with similarity in [lower, upper) are left out;
    the similarity that selects them is that of ``reference`` features when given (the same images before
    augmentation), else of ``features``.
    """
    similarity = (features @ features.T).clamp(1e-7, 1.0 - 1e-7)
    off_diagonal = ~torch.eye(features.shape[0], dtype=torch.bool, device=features.device)
    with torch.no_grad():
        chosen_by = similarity if reference is None else reference @ reference.T
        same = (chosen_by >= upper) & off_diagonal
        different = (chosen_by < lower) & off_diagonal
        selected = same | different
    losses = -torch.where(same, torch.log(similarity), torch.log1p(-similarity))
    count = selected.sum()
    loss = (losses * selected).sum() / count.clamp_min(1)
    return loss, count.float() / off_diagonal.sum()


def all_pairs_loss(features: torch.Tensor, target: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mean squared error between the similarities of every pair i ≠ j and their 0/1 targets (authors' script),
    and the fraction of those pairs whose target is "same"."""
    off_diagonal = ~torch.eye(features.shape[0], dtype=torch.bool, device=features.device)
    return ((features @ features.T - target) ** 2)[off_diagonal].mean(), target[off_diagonal].mean()


def softmax_head(kind: str, k: int) -> Tuple[nn.Module, ...]:
    """The layers on the network's K outputs before the softmax: batch norm ("bn"), or the authors' MNIST
    script's batch norm and ReLU, a K×K dense layer started at the identity, batch norm and ReLU ("relu")."""
    if kind == "bn":
        return (nn.BatchNorm1d(k),)
    dense = nn.Linear(k, k)
    with torch.no_grad():
        dense.weight.copy_(torch.eye(k))
        dense.bias.zero_()
    return nn.BatchNorm1d(k), nn.ReLU(), dense, nn.BatchNorm1d(k), nn.ReLU()


@register_method("dac")
@dataclass(eq=False, repr=False)
class DAC(DiscriminativeClusterer):
    """Deep Adaptive Clustering: pairwise same/different classification of confident pairs, with a curriculum."""

    epochs: int = param(10, "Training epochs at most (one curriculum round each; the thresholds meet after 10 "
                            "rounds at the default step).", low=1, high=100000)
    batch_size: int = param(128, "Minibatch size: pairs are formed within a batch (at most the number of "
                                 "samples).", low=2)
    lr: float = param(0.001, "Learning rate of the optimizer.", low=0.0, low_inclusive=False, log=True)
    optimizer: str = param("adam", "adam, or rmsprop as in the authors' MNIST script (Keras defaults: ρ = 0.9, "
                                   "ε = 1e-7).", choices=("adam", "rmsprop"), advanced=True)
    head: str = param("bn", "What lies between the network and the softmax: bn (batch norm of the K outputs) "
                            "or relu (the authors' MNIST script: batch norm and ReLU, then a K×K dense layer "
                            "started at the identity, batch norm and ReLU, so the softmax sees non-negative "
                            "inputs).", choices=("bn", "relu"), advanced=True)
    threshold_step: float = param(0.0099, "s: after e rounds λ = s·e(e+1)/2, u(λ) = 0.95 − λ, l(λ) = 0.455 + 0.1 λ "
                                          "(authors' code: 1.1 × 0.009).", low=0.0, low_inclusive=False, high=0.5)
    pairs: str = param("two_thresholds", "Which pairs train, and how: two_thresholds (the paper: g ≥ u(λ) same, "
                                         "g < l(λ) different, the rest left out; cross-entropy) or one_threshold "
                                         "(the authors' MNIST script: every pair, target g > t, t from 0.9 down "
                                         "towards 0.5 over the epochs; squared error).",
                       choices=("two_thresholds", "one_threshold"))
    augment: bool = param(AUTO, "Train on random shifts (up to 10 %) and rotations (up to 10°) of each batch, "
                                "its pairs chosen from the images as they are (square images only; the authors' "
                                "MNIST script); auto: on for square images of at least 8×8.")
    batch_steps: int = param(1, "Gradient steps on each minibatch's pairs (new augmentations each time); the "
                                "authors' MNIST script trains five times on every 1,000 images.", low=1, high=100,
                             advanced=True)
    pair_batch: int = param(0, "Images per step when smaller than the batch: each of the batch_steps steps trains "
                               "on this many images drawn from the batch, with the pairs' targets made once for the "
                               "whole batch (the authors' MNIST script: targets per group of 1,000 images, then "
                               "5 passes in minibatches of 128); 0 = the whole batch.", low=0, advanced=True)
    network: str = param("auto", "auto: convolutional for square images, else an MLP.",
                         choices=("auto", "conv", "mlp"))
    conv_channels: Tuple[int, ...] = param((32, 64), "Channels of the 3×3 convolution blocks (conv net).", low=1,
                                           advanced=True)
    hidden_dims: Tuple[int, ...] = param((500, 500), "Hidden layers of the MLP (non-image rows), and the conv "
                                                     "net's dense layer (its first entry).", low=1, advanced=True)

    def _check_method_params(self, x) -> None:
        choose_network(self.network, x.shape[1])  # network='conv' on rows that are not square images: InputError
        if self.augment and dnn.image_side(x.shape[1]) is None:
            raise InputError(f"augment shifts and rotates images, but rows of {x.shape[1]} features are not square "
                             f"images (side² or 3·side²); set augment=False.")

    def _build(self, x_np, x, labels) -> None:
        image = choose_network(self.network, x_np.shape[1])
        width = self.hidden_dims[0]
        if image is not None:
            body = nn.Sequential(ConvNet(image[0], image[1], self.conv_channels, width), nn.BatchNorm1d(width),
                                 nn.ReLU(), nn.Linear(width, self.n_clusters))
        else:
            body = bn_mlp([x_np.shape[1], *self.hidden_dims, self.n_clusters])
        self.network_ = nn.Sequential(body, *softmax_head(self.head, self.n_clusters))
        self.network_kind_ = "conv" if image is not None else "mlp"
        self.lambda_ = 0.0
        self.upper_, self.lower_ = thresholds(0.0)
        self.threshold_ = one_threshold(1, self.epochs)
        self.image_shape_ = dnn.image_side(x_np.shape[1]) if self.augment else None
        self.reference_ = self.targets_ = None

    def _on_epoch_start(self, epoch: int) -> None:
        self.lambda_ = curriculum_lambda(epoch - 1, self.threshold_step)
        self.upper_, self.lower_ = thresholds(self.lambda_)
        self.threshold_ = one_threshold(epoch, self.epochs)

    def _start_batch(self, x, index) -> None:
        """The batch's label features before any step and augmentation: they choose (and label) the pairs of
        every step on it, when the images are augmented or several steps are taken; with one threshold, the
        pairs' 0/1 targets once for all those steps."""
        self.reference_ = self.targets_ = None
        if self.augment or self.batch_steps > 1 or self.pairs == "one_threshold" or self.pair_batch:
            with torch.no_grad():
                self.reference_ = self._latent(x[index])
        if self.pairs == "one_threshold":
            self.targets_ = (self.reference_ @ self.reference_.T > self.threshold_).float()

    def _steps_per_batch(self) -> int:
        return self.batch_steps

    def _optimizer(self, params):
        if self.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=self.lr, alpha=0.9, eps=1e-7, weight_decay=self.weight_decay)
        return super()._optimizer(params)

    def _latent(self, x: torch.Tensor) -> torch.Tensor:
        """The unit-length label features l_i."""
        return F.normalize(torch.softmax(self._logits(x), 1), dim=1)

    def _batch_loss(self, x, index) -> Dict[str, torch.Tensor]:
        targets, reference = self.targets_, self.reference_
        if 0 < self.pair_batch < index.shape[0]:  # a minibatch of the group, its targets a block of the group's
            pick = torch.randperm(index.shape[0], generator=self.generator_, device=index.device)[:self.pair_batch]
            index = index[pick]
            targets = targets[pick][:, pick] if targets is not None else None
            reference = reference[pick] if reference is not None else None
        images = x[index]
        if self.image_shape_ is not None:
            images = dnn.random_affine(images, *self.image_shape_, generator=self.generator_)
        features = self._latent(images)
        if self.pairs == "one_threshold":
            loss, same = all_pairs_loss(features, targets)
            return {"loss": loss, "same_pairs": same}
        loss, selected = pair_loss(features, self.upper_, self.lower_, reference)
        return {"loss": loss, "selected_pairs": selected}

    def _epoch_diagnostics(self) -> Dict[str, float]:
        if self.pairs == "one_threshold":
            return {"threshold": self.threshold_}
        return {"upper": self.upper_, "lower": self.lower_}

    def _schedule_done(self, epoch: int) -> bool:
        if self.pairs == "one_threshold":
            return False  # the threshold only moves towards 0.5: all epochs run
        upper, lower = thresholds(curriculum_lambda(epoch, self.threshold_step))
        return upper < lower  # the next epoch's thresholds would cross: the curriculum is over
