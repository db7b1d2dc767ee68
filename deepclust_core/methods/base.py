"""The shared base of every deep clustering estimator.

Three layers, as in ClustPy but with hooks: the torch modules and losses live in ``nn``; the
training loop lives here (seeding, device, data on the device once, optimiser and schedule,
callbacks, NaN/collapse detection); each method is a thin dataclass estimator that supplies its
own parameters, initialisation, per-batch loss and prediction.
"""
from __future__ import annotations

import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..callbacks import Callback, EpochInfo
from ..errors import InputError, TrainingError
from ..metrics import evaluate
from ..params import AUTO, SEED_MAX, is_auto, param, param_specs, validate_params
from ..validation import check_features, check_labels, check_n_clusters
from ._common import (METHODS, _CallbackList, create_method, get_method_class, list_methods,  # noqa: F401
                      register_method, resolve_device, seed_everything)


@dataclass(eq=False, repr=False)
class BaseClusterer(ClusterMixin, BaseEstimator):
    """Hyperparameters every method has. Subclasses are dataclasses too: fields = __init__ args."""

    n_clusters: int = param(2, "Number of clusters K.", low=1, high=1000)
    random_state: int = param(0, "Seed for every random choice (weights, batches, sampling).", low=0,
                              high=SEED_MAX)

    method_name = "base"
    has_latent = False

    # -- sklearn plumbing ------------------------------------------------------------------
    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "labels_")
        return self._predict_tensor(self._to_device(X))

    def _to_device(self, X) -> torch.Tensor:
        """``X`` checked against the fitted width, as a tensor on the fitted device (torch-based methods)."""
        x_np = check_features(X, min_samples=1)
        if x_np.shape[1] != self.n_features_in_:
            raise InputError(f"X has {x_np.shape[1]} features, but this model was fitted with "
                             f"{self.n_features_in_}.")
        return torch.as_tensor(x_np, device=self.device_)

    @classmethod
    def param_specs(cls):
        return param_specs(cls)

    def check_input(self, X, y=None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Validate hyperparameters and data together without fitting (InputError on a problem).

        Returns the features as float32 and the encoded labels (or None).
        """
        validate_params(self)
        x = check_features(X, min_samples=2)
        check_n_clusters(self.n_clusters, x.shape[0])
        labels = check_labels(y, x.shape[0]) if y is not None else None
        with self._auto_resolved(x):
            self._check_method_params(x)
        return x, labels

    @contextmanager
    def _auto_resolved(self, x: np.ndarray, record: bool = False):
        """Within the block, every parameter set to "auto" holds the value :func:`deepclust_core.defaults.resolve`
        gives it for the data ``x``; afterwards it is "auto" again (``get_params`` and clones keep what the user
        chose). With ``record`` the values are kept as ``resolved_params_`` (recorded in the run folder).
        A method whose parameters have plain defaults resolves nothing."""
        from ..defaults import resolve

        resolved = resolve(self, x)
        if record:
            self.resolved_params_ = dict(resolved)
        saved = {name: getattr(self, name) for name in resolved}
        for name, value in resolved.items():
            setattr(self, name, value)
        try:
            yield resolved
        finally:
            for name, value in saved.items():
                setattr(self, name, value)

    def _effective(self, name: str):
        """A parameter's value, or what "auto" resolved to in the last fit (for code that runs after fit)."""
        value = getattr(self, name)
        if is_auto(value):
            return getattr(self, "resolved_params_", {}).get(name, value)
        return value


    def _check_method_params(self, x: np.ndarray) -> None:
        """Checks that depend on the data (e.g. N_s < n_samples)."""

    def fit_predict(self, X, y=None, **kwargs):
        return self.fit(X, y, **kwargs).labels_

    def _start_fit(self, x_np: np.ndarray, callbacks) -> Tuple[_CallbackList, torch.Generator, float]:
        """The head of every fit: the device, the seeds, empty records; (callbacks, a seeded torch generator
        on the device, the start time)."""
        self.device_ = resolve_device(self.device)
        seed_everything(self.random_state)
        generator = torch.Generator(device=self.device_).manual_seed(self.random_state)
        self.n_features_in_ = x_np.shape[1]
        self.history_: List[Dict] = []
        self.warnings_: List[str] = []
        self.stopped_early_ = False
        return _CallbackList(callbacks), generator, time.perf_counter()

    def _train_and_finish(self, x, labels, callbacks: _CallbackList, started: float):
        """The end of a torch method's fit: train (unless stopped during set-up), label, check for collapse."""
        if not self.stopped_early_:
            self._train(x, labels, callbacks)
        self.labels_ = self._predict_tensor(x)
        self._check_collapse(self.labels_)
        return self._finish_fit(labels, callbacks, started)

    def _finish_fit(self, labels, callbacks: _CallbackList, started: float):
        """Record the fit time and tell the callbacks the final scores (when labels were given)."""
        self.fit_seconds_ = time.perf_counter() - started
        final = {"seconds": self.fit_seconds_, "stopped_early": self.stopped_early_}
        if labels is not None:
            final.update(evaluate(labels, self.labels_))
        callbacks.fit_end(self, final)
        return self

    def _record(self, history: List[Dict], phase: str, epoch: int, n_epochs: int, metrics: Dict,
                callbacks: _CallbackList, latent_fn=None) -> bool:
        """Log one epoch, tell the callbacks, and return True when a callback asks to stop."""
        history.append({"phase": phase, "epoch": epoch, **metrics})
        callbacks.epoch_end(self, EpochInfo(phase=phase, epoch=epoch, n_epochs=n_epochs,
                                            metrics=dict(metrics), _latent_fn=latent_fn))
        return callbacks.should_stop(self)

    def _schedule_done(self, epoch: int) -> bool:
        """True when the method's own schedule has ended before ``epochs`` (a finished fit, not a stop)."""
        return False


@dataclass(eq=False, repr=False)
class DeepClusterer(TransformerMixin, BaseClusterer):
    """Autoencoder-based methods: pretraining (cached), then a method-specific objective."""

    hidden_dims: Tuple[int, ...] = param((500, 500, 2000), "Encoder hidden layer sizes (decoder mirrored).", low=1)
    latent_dim: int = param(10, "Latent dimension M.", low=1, high=1024)
    likelihood: str = param("auto", "p(x|z): Bernoulli for data in [0,1], Gaussian N(g(z), λI) otherwise.",
                            choices=("auto", "bernoulli", "gaussian"))
    lam: float = param(1.0, "λ: variance of the Gaussian likelihood (ignored for Bernoulli).",
                       low=0.0, low_inclusive=False, log=True)
    epochs: int = param(100, "Training epochs after pretraining.", low=1, high=100000)
    batch_size: int = param(100, "Anchors per minibatch.", low=1)
    lr: float = param(0.002, "Adam learning rate.", low=0.0, low_inclusive=False, log=True)
    lr_decay: float = param(0.9, "Learning-rate factor applied every lr_decay_every epochs.", low=0.0, high=1.0,
                            advanced=True)
    lr_decay_every: int = param(10, "Epochs between learning-rate decays.", low=1, advanced=True)
    weight_decay: float = param(0.0, "Adam weight decay.", low=0.0, advanced=True)
    pretrain_epochs: int = param(50, "Autoencoder pretraining epochs (0 = none).", low=0)
    pretrain_lr: float = param(0.001, "Pretraining learning rate.", low=0.0, low_inclusive=False, log=True,
                               advanced=True)
    pretrain_batch_size: int = param(256, "Pretraining minibatch size.", low=1, advanced=True)
    pretrain_noise: float = param(0.0, "Gaussian input noise while pretraining (denoising AE).", low=0.0,
                                  advanced=True)
    pretrain_augment: bool = param(False, "Pretrain on random shifts (up to 10 % of the width) and rotations (up to "
                                   "10°) of the images, as DEC-DA does; square grey or RGB images only. On 10,000 "
                                   "MNIST images (UMAP start) DGG then ends at 0.957 instead of 0.929 over three "
                                   "seeds.", advanced=True)
    gmm_restarts: int = param(5, "Fits of the Gaussian mixture that starts the clusters (on the latent, or on its "
                              "UMAP when init='umap'); the most likely is kept.", low=1,
                              advanced=True)
    cache_pretrained: bool = param(True, "Reuse a cached pretrained autoencoder with the same data, "
                                         "architecture, seed and schedule.", advanced=True)
    device: str = param("auto", "auto = CUDA, then MPS, then CPU.", choices=("auto", "cpu", "cuda", "mps"))

    has_latent = True

    def _check_method_params(self, x: np.ndarray) -> None:
        from ..nn import image_side

        if self.pretrain_augment and image_side(x.shape[1]) is None:
            raise InputError(f"pretrain_augment shifts and rotates images, but rows of {x.shape[1]} features are not "
                             f"square grey (side²) or RGB (3·side²) images; turn it off for this data.")

    # -- public API --------------------------------------------------------------------------
    def fit(self, X, y=None, callbacks: Optional[Sequence[Callback]] = None):
        """Learn the clustering of X. ``y`` is optional and only used to report ACC/NMI/ARI per epoch."""
        x_np, labels = self.check_input(X, y)
        with self._auto_resolved(x_np, record=True):
            return self._fit_resolved(x_np, labels, callbacks)

    def _fit_resolved(self, x_np: np.ndarray, labels, callbacks):
        callbacks, self.generator_, started = self._start_fit(x_np, callbacks)
        self.likelihood_ = self._resolve_likelihood(x_np)
        x = torch.as_tensor(x_np, device=self.device_)
        callbacks.fit_start(self, {"n_samples": x.shape[0], "device": str(self.device_)})
        self.autoencoder_ = self._pretrain(x_np, x, labels, callbacks)
        # Re-seed: a cached pretrain consumed no random numbers, a fresh one did; the rest of the fit
        # must not depend on which happened. A stop during pretraining still initialises the model
        # (so it can predict) but skips training.
        seed_everything(self.random_state + 1)
        self.generator_.manual_seed(self.random_state + 1)
        self._initialize(x_np, x, labels)
        return self._train_and_finish(x, labels, callbacks, started)

    def transform(self, X) -> np.ndarray:
        """Latent means mu(x)."""
        check_is_fitted(self, "labels_")
        return self._encode_means(self._to_device(X)).cpu().numpy()

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "labels_")
        return self._proba_tensor(self._to_device(X)).cpu().numpy()

    # -- hooks for subclasses ----------------------------------------------------------------
    def _initialize(self, x_np: np.ndarray, x: torch.Tensor, labels) -> None:
        raise NotImplementedError

    def _trainable_parameters(self) -> List[torch.nn.Parameter]:
        raise NotImplementedError

    def _batch_loss(self, x: torch.Tensor, index: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Per-batch mean loss terms; must contain "loss"."""
        raise NotImplementedError

    def _proba_tensor(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _on_epoch_start(self, x: torch.Tensor, epoch: int) -> None:
        pass

    # -- shared machinery --------------------------------------------------------------------
    def _resolve_likelihood(self, x: np.ndarray) -> str:
        in_unit = bool(x.min() >= 0.0 and x.max() <= 1.0)
        if self.likelihood == "auto":
            return "bernoulli" if in_unit else "gaussian"
        if self.likelihood == "bernoulli" and not in_unit:
            raise InputError("likelihood='bernoulli' needs features in [0, 1]; use 'gaussian' (with λ) "
                             "or rescale the data.")
        return self.likelihood

    @torch.no_grad()
    def _encode_means(self, x: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
        self.autoencoder_.eval()
        return torch.cat([self.autoencoder_.encode(x[i:i + chunk])[0] for i in range(0, x.shape[0], chunk)])

    @torch.no_grad()
    def _predict_tensor(self, x: torch.Tensor) -> np.ndarray:
        return self._proba_tensor(x).argmax(1).cpu().numpy()

    def _epoch_assignments(self, x: torch.Tensor, labels) -> Tuple[Optional[np.ndarray], Dict[str, float]]:
        """After each epoch: the labels to score (None when there are no true labels) and any extra
        per-epoch diagnostics of the method, recorded beside the scores."""
        return (self._predict_tensor(x) if labels is not None else None), {}

    def _architecture(self) -> Dict:
        return {"input_dim": self.n_features_in_, "hidden": list(self.hidden_dims), "latent": self.latent_dim}

    def _pretrain_schedule(self) -> Dict:
        """What the pretrained weights depend on besides data, architecture and seed (the cache key)."""
        from .. import nn as dnn

        schedule = {"epochs": self.pretrain_epochs, "lr": self.pretrain_lr, "batch": self.pretrain_batch_size,
                    "noise": self.pretrain_noise, "likelihood": self.likelihood_}
        if self.pretrain_augment:  # only then, so that the keys of earlier caches stay valid
            schedule["augment"] = dnn.AUGMENT_KEY
        return schedule

    def _pretrain(self, x_np: np.ndarray, x: torch.Tensor, labels, callbacks: _CallbackList):
        from .. import nn as dnn

        model = dnn.Autoencoder(self.n_features_in_, self.hidden_dims, self.latent_dim).to(self.device_)
        schedule = self._pretrain_schedule()
        self.pretrain_key_ = dnn.pretrain_key(x_np, self._architecture(), self.random_state, schedule)
        path = dnn.cache_dir() / f"{self.pretrain_key_}.pt"
        self.pretrain_cached_ = False
        if self.cache_pretrained and dnn.load_pretrained(path, model) is not None:
            model.to(self.device_)
            self.pretrain_cached_ = True
            return model
        if self.pretrain_epochs == 0:
            return model

        def on_epoch(epoch, n_epochs, loss):
            def latent():
                mu = self._encode_with(model, x)
                return mu.cpu().numpy(), None

            if self._record(self.history_, "pretrain", epoch, n_epochs, {"loss": loss}, callbacks, latent):
                self.stopped_early_ = True
            if not math.isfinite(loss):
                raise TrainingError(f"Pretraining diverged: loss is {loss} at epoch {epoch}. "
                                    f"Try a lower pretrain_lr.")

        seed_everything(self.random_state)
        dnn.pretrain_autoencoder(model, x, likelihood=self.likelihood_, epochs=self.pretrain_epochs,
                                 batch_size=self.pretrain_batch_size, lr=self.pretrain_lr, seed=self.random_state,
                                 noise=self.pretrain_noise, augment=self.pretrain_augment, epoch_callback=on_epoch,
                                 should_stop=lambda: self.stopped_early_)
        if self.cache_pretrained and not self.stopped_early_:
            dnn.save_pretrained(path, model, {"schedule": schedule, "architecture": self._architecture()})
        return model

    @staticmethod
    @torch.no_grad()
    def _encode_with(model, x: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
        was_training = model.training
        model.eval()
        out = torch.cat([model.encode(x[i:i + chunk])[0] for i in range(0, x.shape[0], chunk)])
        model.train(was_training)
        return out

    def _train(self, x: torch.Tensor, labels, callbacks: _CallbackList) -> None:
        params = self._trainable_parameters()
        optimizer = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=self.lr_decay_every, gamma=self.lr_decay)
        n = x.shape[0]
        self.n_iter_ = 0
        for epoch in range(1, self.epochs + 1):
            self._set_train_mode(True)
            self._on_epoch_start(x, epoch)
            order = torch.randperm(n, generator=self.generator_, device=self.device_)
            sums: Dict[str, torch.Tensor] = {}
            for start in range(0, n, self.batch_size):
                index = order[start:start + self.batch_size]
                terms = self._batch_loss(x, index)
                optimizer.zero_grad(set_to_none=True)
                terms["loss"].backward()
                optimizer.step()
                weight = index.shape[0]
                for key, value in terms.items():
                    sums[key] = sums.get(key, 0.0) + value.detach() * weight
            scheduler.step()
            self.n_iter_ = epoch
            metrics = {key: float(value) / n for key, value in sums.items()}
            if not all(math.isfinite(v) for v in metrics.values()):
                bad = ", ".join(f"{k}={v}" for k, v in metrics.items() if not math.isfinite(v))
                raise TrainingError(f"Training diverged at epoch {epoch}: {bad}. Try a lower lr or a "
                                    f"larger λ (lam).")
            self._set_train_mode(False)
            predicted, diagnostics = self._epoch_assignments(x, labels)
            if labels is not None:
                metrics.update(evaluate(labels, predicted))
                metrics["clusters_used"] = int(np.unique(predicted).size)
            metrics.update(diagnostics)
            metrics["lr"] = optimizer.param_groups[0]["lr"]

            def latent(predicted=predicted):
                mu = self._encode_means(x).cpu().numpy()
                return mu, predicted if predicted is not None else self._predict_tensor(x)

            if self._record(self.history_, "train", epoch, self.epochs, metrics, callbacks, latent):
                self.stopped_early_ = True
                break
            if self._schedule_done(epoch):
                break

    def _set_train_mode(self, training: bool) -> None:
        for module in self._modules():
            module.train(training)

    def _modules(self) -> List[torch.nn.Module]:
        return [self.autoencoder_]

    def _check_collapse(self, labels: np.ndarray) -> None:
        used = int(np.unique(labels).size)
        self.n_clusters_used_ = used
        self.collapsed_ = used < self.n_clusters
        if self.collapsed_:
            empty = sorted(set(range(self.n_clusters)) - set(np.unique(labels).tolist()))
            since = next((row["epoch"] for row in getattr(self, "history_", [])
                          if row.get("phase") == "train" and row.get("clusters_used", self.n_clusters)
                          < self.n_clusters), None)
            when = f"; first seen after training epoch {since}" if since is not None else ""
            message = (f"{type(self).__name__} used only {used} of {self.n_clusters} clusters "
                       f"(collapse): cluster(s) {', '.join(map(str, empty))} ended empty{when}.")
            self.warnings_.append(message)
            warnings.warn(message, RuntimeWarning, stacklevel=3)

    def scores(self, y) -> Dict[str, float]:
        """ACC, NMI and ARI of the fitted labels against ground truth."""
        check_is_fitted(self, "labels_")
        return evaluate(check_labels(y, len(self.labels_)), self.labels_)


@dataclass(eq=False, repr=False)
class AutoDeepClusterer(DeepClusterer):
    """A :class:`DeepClusterer` whose network, λ and schedule default to "auto": resolved from the data at fit
    time (:mod:`deepclust_core.defaults`, ``resolved_params_``). The project's own autoencoder methods derive
    from it; a method that derives from :class:`DeepClusterer` keeps the plain defaults (500-500-2000, λ = 1,
    ...) and opts in per parameter by declaring ``param(AUTO, ...)``. A subclass that declares its own plain
    ``epochs``/``batch_size``/``lr`` (its paper's) keeps those."""

    hidden_dims: Tuple[int, ...] = param(AUTO, "Encoder hidden layer sizes (decoder mirrored); auto: 64-64 for up to 50 "
                                         "features, 256-256-512 up to 500, the papers' 500-500-2000 beyond.", low=1)
    latent_dim: int = param(AUTO, "Latent dimension M; auto: min(10, max(K, features + 2)).", low=1, high=1024)
    lam: float = param(AUTO, "λ: variance of the Gaussian likelihood (ignored for Bernoulli); auto: 2 % of the data's "
                       "mean per-feature variance.", low=0.0, low_inclusive=False, log=True)
    epochs: int = param(AUTO, "Training epochs after pretraining; auto: 2,000 steps' worth, 10 to 200.", low=1,
                        high=100000)
    batch_size: int = param(AUTO, "Anchors per minibatch; auto: n/20 between 16 and 100.", low=1)
    lr: float = param(AUTO, "Adam learning rate; auto: 0.01 for networks up to 64 wide, else 0.002.", low=0.0,
                      low_inclusive=False, log=True)
    pretrain_epochs: int = param(AUTO, "Autoencoder pretraining epochs (0 = none); auto: 2,000 steps' worth, 10 to "
                                 "200.", low=0)
    pretrain_lr: float = param(AUTO, "Pretraining learning rate; auto: 0.01 for networks up to 64 wide, else 0.001.",
                               low=0.0, low_inclusive=False, log=True, advanced=True)
    pretrain_batch_size: int = param(AUTO, "Pretraining minibatch size; auto: n/20 between 16 and 100.", low=1,
                                     advanced=True)
