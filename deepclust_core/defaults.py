"""Automatic defaults: the rules that turn a parameter's "auto" into a value from the data, once, at fit time.

Every rule reads only the data's size, shape and kind (:class:`DataStats`: n samples, d features, K clusters,
whether the values lie in [0, 1], their mean per-feature variance) and the values already resolved before it
(the learning rate follows the network's width). None names a data set. The estimator calls
:func:`resolve` through ``BaseClusterer._auto_resolved`` and keeps what came out in ``resolved_params_``
(recorded in the run's result.json as ``resolved_params``).

What the rules say, and why (docs/METHODS.md, "Automatic defaults"):

- **Network**: low-dimensional data (d ≤ 50) gets a 64-64 encoder; wider data a 256-256-512 one (d ≤ 500)
  or the DEC/VaDE papers' 500-500-2000 (images, tf-idf). The latent has ``min(10, max(K, d + 2))``
  dimensions: two more than the input so that the encoder can lift non-convex groups apart (on circles a
  2-D latent could not hold the spectral start, a 4-D one kept 0.86 of it), at most the papers' 10.
- **λ** (Gaussian likelihood's variance) = 2 % of the data's mean per-feature variance, the moons recipe's
  ratio (0.01 for a variance of 0.5): reconstruction dominates, so the latent keeps the data's geometry.
- **Steps**: minibatches of ``clip(n / 20, 16, 100)``; epochs from a budget of 2,000 steps (pretraining and
  training alike), between 10 and 200, so that time stays roughly flat in n; Adam at 0.01 for the small
  networks and the papers' 0.002 (0.001 pretraining) for the large ones.
- **Graph** (DGG): N_s = ``clip(√n / 2, 5, 40)`` neighbours; neighbours' assignments recomputed every step
  ("fresh") while the encoder is small (d ≤ 50), cached otherwise; a non-linear f2 (20-20) on low-dimensional
  data, the paper's linear one otherwise.
- **Start**: spectral clustering of the pretrained latent's kNN graph (it does not cut a non-convex group in
  half), the mixture fitted to its clusters, and the encoder's variance head started at 1 % of the narrowest
  component's variance (``encoder_var_init="scaled"``: with the untrained head's variance ≈ 1 every point pays
  σ²/s²_k to a narrow component and all of them move to the widest one in the first epoch — the collapse we
  saw on circles).
- **Target refresh** (DEC, IDEC): the sharpened target P every half epoch, at most the authors' 140
  iterations (half an epoch of MNIST at batch 256); ``tol`` stays checked over 140 iterations (methods/dec.py).
  A fixed 140 on 1,500-4,000 points meant 6-9 epochs between targets and a stop at the first check: DEC
  ended where k-means on the pretrained latent began.
- **Augmentation** (DAC): on for square images of at least 8×8 (random shifts up to 10 % and rotations up to
  10°, as the authors' MNIST script trains), off for every other kind of row. On 10,000 MNIST images DAC went
  from 0.572 without it to 0.814 with it (the paper's pairs) and 0.950 (the script's pairs; docs/RESULTS.md §9).
- **Kept epoch** (DGG): the epoch whose labels have the lowest normalised cut of DGG's own graph (the start
  included; a partition with an empty cluster never wins), a label-free choice.
- **k-means phase** (DCN, DKM): when the latent is wider than the data (``latent_dim > d``: the 2-D shapes'
  4-D latent, iris' 6-D), the reconstruction term hardly holds the latent (in the first epoch it is 0.06-5 %
  of the k-means term) and the k-means term, unopposed, folds the latent onto stale centres and merges groups
  (DCN on skewed blobs: start 0.88, end 0.68). There the clustering phase runs at Adam 0.0001 (ClustPy's
  clustering rate, a tenth of the papers' 0.001), and the centres are re-made at each epoch's start as the
  means of the current latent's nearest-centre groups (``center_refresh="epoch"``; DCN's running mean
  averages codes of an encoder that has since moved, DKM's representatives follow by small gradient steps).
  Otherwise (images, tables wider than the latent: MNIST's path) the papers' 0.001 and centre updates.
- **Per method** (``METHOD_RULES``): the papers' networks of IMSAT (1200-1200), SpectralNet (1024-1024-512) and
  the GANs (1000-500), SpectralNet's normalised loss, DEPICT's dropout of 0.1 and the GANs' 20,000 updates on
  wide data (d > 50, so the MNIST reproductions are unchanged); small networks (IMSAT 256-256, the others
  64-64), the paper's unnormalised SpectralNet loss, no DEPICT dropout and 4,000 GAN updates on low-dimensional
  data (docs/RESULTS.md §8.6). LTVAE's facets come from ICA of the pretrained latent unless the latent is wider
  than the data; then they are contiguous groups of its dimensions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Tuple

import numpy as np

from . import nn as dnn
from .params import is_auto, param_specs


@dataclass(frozen=True)
class DataStats:
    """What the rules may look at."""

    n: int  # samples
    d: int  # features
    k: int  # clusters asked for
    in_unit: bool  # every value in [0, 1] (images): Bernoulli likelihood
    variance: float  # mean per-feature variance

    @classmethod
    def of(cls, x: np.ndarray, n_clusters: int) -> "DataStats":
        x = np.asarray(x)
        return cls(n=int(x.shape[0]), d=int(x.shape[1]), k=int(n_clusters),
                   in_unit=bool(x.min() >= 0.0 and x.max() <= 1.0), variance=float(np.var(x, axis=0).mean()))

    @property
    def low_dimensional(self) -> bool:
        return self.d <= 50


STEP_BUDGET = 2000  # minibatch steps of pretraining, and again of training


def _hidden(s: DataStats, r: Dict) -> Tuple[int, ...]:
    if s.low_dimensional:
        return (64, 64)
    return (256, 256, 512) if s.d <= 500 else (500, 500, 2000)


def _small_net(r: Dict) -> bool:
    return max(r.get("hidden_dims") or (64,)) <= 64


def _batch(s: DataStats, r: Dict) -> int:
    return int(np.clip(s.n // 20, 16, 100))


def _epochs_for(s: DataStats, batch: int) -> int:
    steps_per_epoch = math.ceil(s.n / max(1, batch))
    return int(np.clip(math.ceil(STEP_BUDGET / steps_per_epoch), 10, 200))


PAPER_INTERVAL = 140  # DEC's authors: a target every 140 steps of 256, half an epoch of MNIST


def _numeric(value: Any, fallback: Any) -> Any:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else fallback


def _target_interval(s: DataStats, r: Dict) -> int:
    """DEC's target refresh: half an epoch, at most the authors' 140 iterations."""
    batch = _numeric(r.get("batch_size"), _batch(s, r))
    return int(np.clip(math.ceil(s.n / (2 * max(1, batch))), 1, PAPER_INTERVAL))


def _latent_wider(s: DataStats, r: Dict) -> bool:
    """The resolved latent has more dimensions than the data: reconstruction leaves it free to fold."""
    latent = _numeric(r.get("latent_dim"), RULES["latent_dim"](s, r))
    return latent > s.d


KMEANS_PHASE_LR, PAPER_KMEANS_LR = 1e-4, 1e-3  # DCN/DKM clustering phase: ClustPy's rate, the papers'


def _kmeans_lr(s: DataStats, r: Dict) -> float:
    """DCN/DKM: Adam 0.0001 when the latent is wider than the data, else the papers' 0.001."""
    return KMEANS_PHASE_LR if _latent_wider(s, r) else PAPER_KMEANS_LR


def _center_refresh(s: DataStats, r: Dict) -> str:
    """DCN/DKM: centres re-made each epoch when the latent is wider than the data, else the papers' updates."""
    return "epoch" if _latent_wider(s, r) else "none"


# Rules that replace a shared one for a family of methods (an estimator's ``auto_rule_family``).
FAMILY_RULES: Dict[str, Dict[str, Callable[[DataStats, Dict], Any]]] = {
    "kmeans_autoencoder": {"lr": _kmeans_lr},
}

RULES: Dict[str, Callable[[DataStats, Dict], Any]] = {
    "hidden_dims": _hidden,
    "latent_dim": lambda s, r: int(min(10, max(s.k, s.d + 2))),
    "likelihood": lambda s, r: "bernoulli" if s.in_unit else "gaussian",
    "lam": lambda s, r: float(f"{max(0.02 * s.variance, 1e-6):.3g}"),
    "batch_size": _batch,
    "epochs": lambda s, r: _epochs_for(s, r.get("batch_size") if isinstance(r.get("batch_size"), int)
                                       else _batch(s, r)),
    "lr": lambda s, r: 0.01 if _small_net(r) else 0.002,
    "pretrain_batch_size": _batch,
    "pretrain_epochs": lambda s, r: _epochs_for(s, r.get("pretrain_batch_size")
                                                if isinstance(r.get("pretrain_batch_size"), int) else _batch(s, r)),
    "pretrain_lr": lambda s, r: 0.01 if _small_net(r) else 0.001,
    "center_refresh": _center_refresh,
    "n_neighbors": lambda s, r: int(min(max(5, round(math.sqrt(s.n) / 2)), 40, s.n - 1)),
    "neighbor_gammas": lambda s, r: "fresh" if s.low_dimensional else "cached",
    "classifier_hidden": lambda s, r: (20, 20) if s.low_dimensional else (),
    "init": lambda s, r: "spectral",
    "encoder_var_init": lambda s, r: "scaled",
    "keep_epoch": lambda s, r: "graph_cut",
    "update_interval": _target_interval,
    "augment": lambda s, r: dnn.auto_image_side(s.d) is not None,
}


# -- Methods that train their own network from scratch with a paper's fixed architecture ------------------------
# IMSAT's 1200-1200 classifier, SpectralNet's 1024-1024-512 map and the GANs' 1000-500 networks are the papers'
# for images. On wide data (d > 50: images, tf-idf) "auto" is exactly the paper's network and schedule, so the MNIST
# reproductions (benchmarks/survey.py, benchmarks/generative.py) are unchanged; on low-dimensional data it is the
# autoencoders' small-network rule (64-64), which took a fit on a few thousand 2-D points from 1-6 minutes to
# seconds. The GANs' update budget: 20,000 minibatch updates on wide data (the rule they had), the autoencoders'
# 2,000-step budget twice over (pretraining + training) on low-dimensional data; 20 to 300 epochs either way.
SMALL_NET = (64, 64)
IMSAT_SMALL_NET = (256, 256)
GAN_UPDATES_WIDE = 20_000
GAN_UPDATES_LOW = 2 * STEP_BUDGET
GAN_EPOCHS = (20, 300)


def paper_network_unless_low_dimensional(paper: Tuple[int, ...], small: Tuple[int, ...] = SMALL_NET
                                         ) -> Callable[[DataStats, Dict], Tuple[int, ...]]:
    """A rule: ``small`` on low-dimensional data (d ≤ 50), the paper's network ``paper`` on wider data."""
    def rule(s: DataStats, r: Dict) -> Tuple[int, ...]:
        return tuple(small) if s.low_dimensional else tuple(paper)

    rule.__doc__ = f"{'-'.join(map(str, small))} for up to 50 features, the paper's {'-'.join(map(str, paper))} beyond."
    return rule


def gan_epochs(s: DataStats, r: Dict) -> int:
    """Epochs of a GAN: 20,000 minibatch updates on wide data, 4,000 on low-dimensional data, 20 to 300 epochs."""
    batch = _numeric(r.get("batch_size"), 100)
    per_epoch = max(1, math.ceil(s.n / max(1, batch)))
    updates = GAN_UPDATES_LOW if s.low_dimensional else GAN_UPDATES_WIDE
    return int(np.clip(math.ceil(updates / per_epoch), *GAN_EPOCHS))


def depict_dropout(s: DataStats, r: Dict) -> float:
    """DEPICT's corruption: the paper's dropout of 0.1 on images (d > 50), none on low-dimensional data, where a
    dropped input is one of a handful of coordinates (blobs, seeds 0-1: k-means on the pretrained code 0.527 and
    0.897 with 0.1, 0.996 and 0.992 without)."""
    return 0.0 if s.low_dimensional else 0.1


def depict_layer_weight(s: DataStats, r: Dict) -> float:
    """DEPICT's hidden-layer reconstruction losses: none on images in the default (small) convolutional network,
    the authors' 0.1 otherwise. Small network: on 10,000 MNIST images (seeds 0-2) the clusters merged with them
    (0.467 ± 0.200 from a 0.575 start) and held without (0.644 ± 0.010); on scikit-learn's 8×8 digits (seeds 0-4)
    0.770 ± 0.035 with, 0.789 ± 0.042 without. The authors' layout (tanh code) needs them: on the digits without
    them its code went constant (start 0.10, with them 0.73). On the gallery's shapes and tables they help (mean
    0.848 with, 0.839 without)."""
    small_conv = (dnn.auto_conv_side(s.d) is not None and r.get("network") != "mlp"
                  and r.get("conv_layout", "small") == "small")
    return 0.0 if small_conv else 0.1


def spectralnet_laplacian(s: DataStats, r: Dict) -> str:
    """SpectralNet's loss: normalised by the degrees on wide data (MNIST codes: ACC 0.71 against 0.64), the paper's
    unnormalised one on low-dimensional data, where the normalised one saturated the tanh outputs (moons, seeds
    0-1: 0.818 / 0.955 normalised, 1.000 / 1.000 unnormalised; circles 0.700 / 0.679 against 0.718 / 0.707)."""
    return "unnormalized" if s.low_dimensional else "normalized"


# Per method: rules for parameters only that method has, or that replace the shared rule of the same name.
def tenth_of_pretraining_rate(s: DataStats, r: Dict) -> float:
    """DEN's fine-tuning rate: a tenth of the pretraining rate (the paper's MNIST setting, 1e-4 after 1e-3,
    and 1e-3 after the small networks' 0.01)."""
    pretrain = r.get("pretrain_lr")
    if not isinstance(pretrain, (int, float)) or isinstance(pretrain, bool):
        pretrain = RULES["pretrain_lr"](s, r)
    return float(f"{pretrain / 10:.3g}")


def facet_structure(s: DataStats, r: Dict) -> str:
    """LTVAE's facets: ICA of the pretrained latent unless the latent is wider than the data, then contiguous
    groups (whitening a latent that lies near a d-dimensional surface inflates its near-empty directions)."""
    return "split" if _latent_wider(s, r) else "ica"


METHOD_RULES: Dict[str, Dict[str, Callable[[DataStats, Dict], Any]]] = {
    # IMSAT's classifier learns from scratch under VAT: 64-64 lost most of it on the small tables (seed 0: wine
    # 0.697, iris 0.673), 256-256 kept it (0.955, 0.933; 1200-1200: 0.978, 0.953 at 8× the time).
    "imsat": {"hidden_layers": paper_network_unless_low_dimensional((1200, 1200), small=IMSAT_SMALL_NET)},
    "spectralnet": {"map_hidden": paper_network_unless_low_dimensional((1024, 1024, 512)),
                    "laplacian": spectralnet_laplacian},
    "catgan": {"hidden_dims": paper_network_unless_low_dimensional((1000, 500)), "epochs": gan_epochs},
    "infogan": {"hidden_dims": paper_network_unless_low_dimensional((1000, 500)), "epochs": gan_epochs},
    "depict": {"dropout": depict_dropout, "layer_weight": depict_layer_weight},
    # DEN fine-tuned the 64-64 networks at 1e-4 after pretraining them at 0.01: seeds 0-1, moons 0.72 → 0.78,
    # spirals 0.70 → 0.76, blobs 0.97 → 0.99, skewed 0.92 → 0.96 at 1e-3 (docs/RESULTS.md §8.6).
    "den": {"lr": tenth_of_pretraining_rate},
    # LTVAE with ICA facets on the 2-D shapes' 4-D and iris' 6-D latents left a cluster empty in 11 of 35 gallery
    # runs; contiguous facets there: 1 of 35, moons 0.746 → 0.874, blobs 0.666 → 0.999, iris 0.593 → 0.852
    # (seeds 0-4; the rule was chosen on seeds 0-2; docs/RESULTS.md §8.6).
    "ltvae": {"structure": facet_structure},
}


def rules_for(estimator) -> Dict[str, Callable[[DataStats, Dict], Any]]:
    """The shared rules, with the method's own (METHOD_RULES) in place of or after them."""
    return {**RULES, **METHOD_RULES.get(getattr(estimator, "method_name", ""), {})}


def resolve(estimator, x: np.ndarray) -> Dict[str, Any]:
    """The value of every parameter of ``estimator`` that is "auto", from the data ``x`` (in the order the
    estimator declares them, so later rules see earlier answers). Parameters set to a value are not listed."""
    stats = DataStats.of(x, getattr(estimator, "n_clusters", 2))
    current = {spec.name: getattr(estimator, spec.name) for spec in param_specs(type(estimator))}
    family = FAMILY_RULES.get(getattr(type(estimator), "auto_rule_family", None), {})
    resolved: Dict[str, Any] = {}
    rules = rules_for(estimator)
    for name, rule in rules.items():  # the rules' order: architecture, then steps, then graph and start
        if name in current and is_auto(current[name]):
            resolved[name] = family.get(name, rule)(stats, {**current, **resolved})
    return resolved


def describe() -> Dict[str, str]:
    """One line per rule, for the docs and the CLI."""
    lines = {name: (rule.__doc__ or "").strip() for name, rule in RULES.items()}
    for family, rules in FAMILY_RULES.items():
        lines.update({f"{name} ({family})": (rule.__doc__ or "").strip() for name, rule in rules.items()})
    return lines
