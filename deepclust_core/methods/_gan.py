"""The shared base of the GAN clusterers (CatGAN, InfoGAN): networks, the alternating training loop, batch-norm
recalibration on real data, and the instability checks (divergence, mode collapse) that are reported, not hidden.

A subclass supplies its networks (``_build``), one discriminator step and one generator step (``_d_step``,
``_g_step``: loss terms as tensors, "loss" among them), the cluster posterior of real data
(``_cluster_logits``) and per-cluster samples (``cluster_samples``).
"""
from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .. import nn as dnn
from ..callbacks import Callback
from ..errors import InputError, TrainingError
from ..metrics import evaluate
from ..params import AUTO, param
from .base import BaseClusterer, _CallbackList

# A generator loss this many nats above its start, for the last epochs, means the discriminator has won.
DIVERGED_G_LOSS = 10.0


def gan_mlp(dims: Sequence[int], batch_norm: bool, leaky: bool) -> nn.Sequential:
    """Linear layers with (batch norm and) ReLU / LeakyReLU(0.2) between them, none after the last."""
    layers: List[nn.Module] = []
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(d_in, d_out))
        if i < len(dims) - 2:
            if batch_norm:
                layers.append(nn.BatchNorm1d(d_out))
            layers.append(nn.LeakyReLU(0.2) if leaky else nn.ReLU())
    return nn.Sequential(*layers)


CONV_CHANNELS = (64, 128)  # InfoGAN's MNIST networks (Chen et al. 2016, Appendix C.1)
CONV_FC = 1024  # the width of the convolutional discriminator's trunk


def _block(layer: nn.Module, width: int, batch_norm: bool, activation: nn.Module) -> List[nn.Module]:
    """``layer``, (batch norm over its ``width`` outputs: 2-D after a convolution, else 1-D) and ``activation``."""
    if not batch_norm:
        return [layer, activation]
    norm = nn.BatchNorm1d(width) if isinstance(layer, nn.Linear) else nn.BatchNorm2d(width)
    return [layer, norm, activation]


def conv_trunk(side: int, channels: int, batch_norm: bool) -> nn.Sequential:
    """The discriminator's trunk of InfoGAN's MNIST network: 4×4 convolution (64, stride 2), LeakyReLU (0.1, the
    paper's); 4×4 convolution (128, stride 2), batch norm, LeakyReLU; a dense layer of 1,024 (``CONV_FC``), batch
    norm, LeakyReLU. Takes flat rows, returns (N, 1,024) features."""
    c1, c2 = CONV_CHANNELS
    return nn.Sequential(nn.Unflatten(1, (channels, side, side)),
                         nn.Conv2d(channels, c1, 4, stride=2, padding=1), nn.LeakyReLU(0.1),
                         *_block(nn.Conv2d(c1, c2, 4, stride=2, padding=1), c2, batch_norm, nn.LeakyReLU(0.1)),
                         nn.Flatten(),
                         *_block(nn.Linear(c2 * (side // 4) ** 2, CONV_FC), CONV_FC, batch_norm, nn.LeakyReLU(0.1)))


def conv_generator(in_dim: int, side: int, channels: int, batch_norm: bool) -> nn.Sequential:
    """InfoGAN's MNIST generator: dense 1,024 and 128·(side/4)², each with batch norm and ReLU, then 4×4
    transposed convolutions (64, stride 2, batch norm, ReLU; ``channels``, stride 2). Returns flat rows (before
    the output activation)."""
    c1, c2 = CONV_CHANNELS
    quarter = side // 4
    return nn.Sequential(*_block(nn.Linear(in_dim, CONV_FC), CONV_FC, batch_norm, nn.ReLU()),
                         *_block(nn.Linear(CONV_FC, c2 * quarter * quarter), c2 * quarter * quarter, batch_norm,
                                 nn.ReLU()),
                         nn.Unflatten(1, (c2, quarter, quarter)),
                         *_block(nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), c1, batch_norm, nn.ReLU()),
                         nn.ConvTranspose2d(c1, channels, 4, stride=2, padding=1), nn.Flatten())


@torch.no_grad()
def recalibrate_batchnorm(module: nn.Module, batches: Sequence[torch.Tensor]) -> None:
    """Replace the running statistics of every BatchNorm layer by the exact averages over ``batches`` of real
    data. During training the discriminator's running statistics mix real and generated minibatches; its
    predictions on real data must use the statistics of real data."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    was_training = module.training
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    module.train(True)
    for batch in batches:
        if batch.shape[0] > 1:
            module(batch)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    module.train(was_training)


@contextmanager
def batch_statistics(module: nn.Module):
    """Run ``module`` with each minibatch's own batch-norm statistics, as in training, without changing its
    running statistics (momentum 0): how the discriminator judged generated minibatches while it trained."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    was_training, momenta = module.training, [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    module.train(True)
    try:
        yield module
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        module.train(was_training)


@dataclass(eq=False, repr=False)
class GANClusterer(BaseClusterer):
    """Hyperparameters and training loop every GAN clusterer shares."""

    noise_dim: int = param(62, "Dimension of the generator's noise z.", low=1, high=4096)
    hidden_dims: Tuple[int, ...] = param(AUTO, "Discriminator hidden layer sizes (the generator mirrors them from "
                                         "the noise up); auto: 64-64 for up to 50 features, the papers' 1000-500 "
                                         "beyond.", low=1)
    network: str = param("auto", "auto: InfoGAN's convolutional networks for square images whose side is a multiple "
                                 "of 4, from 8×8 (hidden_dims unused), else MLPs (hidden_dims).",
                         choices=("auto", "conv", "mlp"))
    batch_norm: bool = param(True, "Batch normalisation in both networks (the papers' choice). The "
                             "discriminator's statistics are recomputed on real data before it predicts.")
    epochs: int = param(AUTO, "Training epochs; auto (or 0): about 20,000 minibatch updates for more than 50 "
                        "features, 4,000 for fewer, between 20 and 300 epochs (a rule on the data's size).", low=0,
                        high=100000)
    batch_size: int = param(100, "Minibatch size (real and generated).", low=2)
    lr_d: float = param(2e-4, "Adam learning rate of the discriminator.", low=0.0, low_inclusive=False, log=True)
    lr_g: float = param(2e-4, "Adam learning rate of the generator.", low=0.0, low_inclusive=False, log=True)
    beta1: float = param(0.5, "Adam β1 of both networks (DCGAN's 0.5).", low=0.0, high=1.0, advanced=True)
    device: str = param("auto", "auto = CUDA, then MPS, then CPU.", choices=("auto", "cpu", "cuda", "mps"))

    has_latent = True  # the discriminator's cluster logits (K values per point)
    conv_when_auto = True  # network="auto" picks the convolutional pair on square images

    # -- hooks -------------------------------------------------------------------------------------
    def _build(self, n_features: int) -> None:
        """Create ``self.discriminator_`` / ``self.generator_net_`` (and any other module)."""
        raise NotImplementedError

    def _d_step(self, real: torch.Tensor) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    def _g_step(self, n: int) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    def _cluster_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the cluster posterior p(c | x) of real data (discriminator in eval mode)."""
        raise NotImplementedError

    def _fake_clusters(self, n: int) -> np.ndarray:
        """Clusters the discriminator gives ``n`` generated samples (mode-collapse check)."""
        raise NotImplementedError

    def _modules(self) -> List[nn.Module]:
        raise NotImplementedError

    # -- sizes ---------------------------------------------------------------------------------------
    def resolved_epochs(self, x: np.ndarray) -> int:
        """``epochs``, or (0, or "auto" outside a fit) the automatic rule of :func:`deepclust_core.defaults.gan_epochs`."""
        from ..defaults import DataStats, gan_epochs

        if isinstance(self.epochs, int) and self.epochs > 0:
            return self.epochs
        return gan_epochs(DataStats.of(x, self.n_clusters), {"batch_size": self.batch_size})

    def _check_method_params(self, x: np.ndarray) -> None:
        if self.batch_size > x.shape[0]:
            raise InputError(f"batch_size {self.batch_size} is larger than the {x.shape[0]} samples.")
        if self.network == "conv" and dnn.auto_conv_side(x.shape[1]) is None:
            raise InputError(f"network='conv' needs square images of 8×8 or more whose side is a multiple of 4; rows "
                             f"of {x.shape[1]} features are not. Use 'mlp' or 'auto'.")

    def _conv_networks(self, n_features: int, generator_inputs: int,
                       discriminator: Callable[[nn.Module], nn.Module]) -> Optional[Tuple[nn.Module, nn.Module]]:
        """(discriminator, generator) of the convolutional pair, on the device, when this fit uses it (None: MLPs).
        ``discriminator`` puts the method's heads on the trunk (width ``CONV_FC``); it is built before the
        generator, so a seed gives the same weights as ever."""
        if self.network == "mlp" or (self.network == "auto" and not self.conv_when_auto):
            return None
        shape = dnn.auto_conv_side(n_features)
        if shape is None:
            return None
        return (discriminator(conv_trunk(*shape, self.batch_norm)).to(self.device_),
                conv_generator(generator_inputs, *shape, self.batch_norm).to(self.device_))

    def _output_activation(self, x: np.ndarray) -> str:
        """The generator ends in a sigmoid for data in [0, 1], else it is linear."""
        return "sigmoid" if (x.min() >= 0.0 and x.max() <= 1.0) else "linear"

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.noise_dim, generator=self.torch_rng_, device=self.device_)

    def _generate(self, inputs: torch.Tensor) -> torch.Tensor:
        out = self.generator_net_(inputs)
        return torch.sigmoid(out) if self.output_ == "sigmoid" else out

    # -- fit -------------------------------------------------------------------------------------
    def fit(self, X, y=None, callbacks: Optional[Sequence[Callback]] = None):
        """Train the GAN on X; ``y`` is optional and only used to report ACC/NMI/ARI per epoch."""
        x_np, labels = self.check_input(X, y)
        with self._auto_resolved(x_np, record=True):
            return self._fit_resolved(x_np, labels, callbacks)

    def _fit_resolved(self, x_np: np.ndarray, labels, callbacks):
        callbacks, self.torch_rng_, started = self._start_fit(x_np, callbacks)  # (generator_ would mean G here)
        self.output_ = self._output_activation(x_np)
        self.n_iter_ = 0
        x = torch.as_tensor(x_np, device=self.device_)
        self.epochs_ = self.resolved_epochs(x_np)
        callbacks.fit_start(self, {"n_samples": x.shape[0], "device": str(self.device_)})
        self._build(self.n_features_in_)
        self._train(x, labels, callbacks)
        self._recalibrate(x)
        self.labels_ = self._predict_tensor(x)
        self._check_instability()
        return self._finish_fit(labels, callbacks, started)

    def _optimizers(self) -> Tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        betas = (self.beta1, 0.999)
        return (torch.optim.Adam(self._d_parameters(), lr=self.lr_d, betas=betas),
                torch.optim.Adam(self._g_parameters(), lr=self.lr_g, betas=betas))

    def _d_parameters(self) -> List[nn.Parameter]:
        return list(self.discriminator_.parameters())

    def _g_parameters(self) -> List[nn.Parameter]:
        return list(self.generator_net_.parameters())

    def _train(self, x: torch.Tensor, labels, callbacks: _CallbackList) -> None:
        opt_d, opt_g = self._optimizers()
        n = x.shape[0]
        for epoch in range(1, self.epochs_ + 1):
            for module in self._modules():
                module.train(True)
            order = torch.randperm(n, generator=self.torch_rng_, device=self.device_)
            sums: Dict[str, float] = {}
            steps = 0
            for start in range(0, n - self.batch_size + 1, self.batch_size):  # full batches (batch norm)
                real = x[order[start:start + self.batch_size]]
                d_terms = self._d_step(real)
                opt_d.zero_grad(set_to_none=True)
                d_terms["loss"].backward()
                opt_d.step()
                g_terms = self._g_step(real.shape[0])
                opt_g.zero_grad(set_to_none=True)
                g_terms["loss"].backward()
                opt_g.step()
                terms = {"d_loss": d_terms.pop("loss"), "g_loss": g_terms.pop("loss"), **d_terms, **g_terms}
                for key, value in terms.items():
                    sums[key] = sums.get(key, 0.0) + value.detach()
                steps += 1
            metrics = {key: float(value) / steps for key, value in sums.items()}
            self.n_iter_ = epoch
            if not all(math.isfinite(v) for v in metrics.values()):
                bad = ", ".join(f"{k}={v}" for k, v in metrics.items() if not math.isfinite(v))
                raise TrainingError(f"GAN training diverged at epoch {epoch}: {bad}. Try lower learning rates "
                                    f"(lr_d, lr_g).")
            self._recalibrate(x)
            predicted = self._predict_tensor(x)
            metrics["clusters_used"] = int(np.unique(predicted).size)
            metrics["fake_clusters_used"] = int(np.unique(self._fake_clusters(max(1000, 20 * self.n_clusters)))
                                                .size)
            if labels is not None:
                metrics.update(evaluate(labels, predicted))

            def latent(predicted=predicted):
                return self._logits(x).cpu().numpy(), predicted

            if self._record(self.history_, "train", epoch, self.epochs_, metrics, callbacks, latent):
                self.stopped_early_ = True
                break

    def _recalibrate(self, x: torch.Tensor) -> None:
        chunks = [x[i:i + self.batch_size] for i in range(0, x.shape[0] - self.batch_size + 1, self.batch_size)]
        recalibrate_batchnorm(self.discriminator_, chunks)

    @torch.no_grad()
    def _judge_generated(self, images: torch.Tensor) -> torch.Tensor:
        """The discriminator's output for generated samples, minibatch by minibatch with their own batch-norm
        statistics (as it saw them in training; the recalibrated real-data statistics would misjudge them)."""
        if images.shape[0] < 2:
            return self._cluster_logits(images)  # eval mode: one sample has no batch statistics
        step = self.batch_size
        starts = list(range(0, images.shape[0], step))
        if images.shape[0] - starts[-1] < 2:  # never a minibatch of one
            starts[-1] -= 1
        ends = starts[1:] + [images.shape[0]]
        with batch_statistics(self.discriminator_):
            return torch.cat([self._cluster_logits(images[a:b]) for a, b in zip(starts, ends)])

    def _check_instability(self) -> None:
        """Mode collapse (clusters of real data or of generated samples left empty) and a discriminator that won
        (generator loss far above its first epoch's) become warnings, collapsed_ and n_clusters_used_."""
        used = int(np.unique(self.labels_).size)
        self.n_clusters_used_ = used
        self.collapsed_ = used < self.n_clusters
        messages = []
        if self.collapsed_:
            messages.append(f"{type(self).__name__} put the data into only {used} of {self.n_clusters} clusters "
                            f"(mode collapse).")
        train = [r for r in self.history_ if r.get("phase") == "train"]
        if train:
            fake_used = train[-1].get("fake_clusters_used", self.n_clusters)
            if fake_used < self.n_clusters:
                messages.append(f"The generator's samples fall into only {fake_used} of {self.n_clusters} clusters "
                                f"(mode collapse of the generator).")
            tail = [r["g_loss"] for r in train[-3:]]
            if len(train) > 3 and min(tail) > train[0]["g_loss"] + DIVERGED_G_LOSS:
                messages.append(f"The generator loss rose from {train[0]['g_loss']:.3g} to {tail[-1]:.3g}: the "
                                f"discriminator won and training diverged; try lower lr_d or fewer epochs.")
        for message in messages:
            self.warnings_.append(message)
            warnings.warn(message, RuntimeWarning, stacklevel=3)

    # -- prediction ----------------------------------------------------------------------------------
    @torch.no_grad()
    def _logits(self, x: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
        for module in self._modules():
            module.eval()
        return torch.cat([self._cluster_logits(x[i:i + chunk]) for i in range(0, x.shape[0], chunk)])

    def _predict_tensor(self, x: torch.Tensor) -> np.ndarray:
        return self._logits(x).argmax(1).cpu().numpy()

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "labels_")
        return torch.softmax(self._logits(self._to_device(X)), 1).cpu().numpy()

    def transform(self, X) -> np.ndarray:
        """The discriminator's cluster logits (N, K): the space its posterior lives in."""
        check_is_fitted(self, "labels_")
        return self._logits(self._to_device(X)).cpu().numpy()

    @torch.no_grad()
    def sample(self, n: int) -> np.ndarray:
        """``n`` generated samples (data space)."""
        check_is_fitted(self, "labels_")
        return self._sample_inputs_and_images(n)[1].cpu().numpy()

    def _sample_inputs_and_images(self, n: int) -> Tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def scores(self, y) -> Dict[str, float]:
        from ..validation import check_labels

        check_is_fitted(self, "labels_")
        return evaluate(check_labels(y, len(self.labels_)), self.labels_)


def fill_rows(rows: Sequence[np.ndarray], n_per_cluster: int, n_features: int) -> np.ndarray:
    """Stack per-cluster sample sets (each up to n rows) into (K, n, D), NaN where a cluster had fewer."""
    out = np.full((len(rows), n_per_cluster, n_features), np.nan, dtype=np.float32)
    for k, row in enumerate(rows):
        out[k, :len(row)] = row[:n_per_cluster]
    return out
