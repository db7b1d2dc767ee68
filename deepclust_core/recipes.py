"""Recommended hyperparameters per dataset (DESIGN.md §3 reference recipes, plus what our
measurements support). A recipe only fills parameters the method has; users override any."""
from __future__ import annotations

from typing import Dict

from .methods.base import get_method_class

_RECIPES: Dict[str, Dict] = {
    # Paper: 2-20-20-2 networks, N_s = 40, Adam 0.02 decayed ×0.9 every 10 epochs. λ = 0.01, the
    # pretraining schedule, f2 = 2-20-20-2, fresh neighbour assignments and 100 epochs are our
    # measured choices: λ = 0.1 leaves DGG at 0.88 (and collapses VaDE), a linear f2 collapses,
    # cached assignments need ~200 epochs (benchmarks/results/moons*.json).
    "moons": {"n_clusters": 2, "hidden_dims": (20, 20), "latent_dim": 2, "likelihood": "gaussian", "lam": 0.01,
              "lr": 0.02, "batch_size": 100, "epochs": 100, "pretrain_epochs": 100, "pretrain_lr": 0.01,
              "pretrain_batch_size": 100, "n_neighbors": 40, "classifier_hidden": (20, 20),
              "neighbor_gammas": "fresh"},
    # Paper: D-500-500-2000-10, batch 100, Adam 0.002, weight decay 1e-4, ×0.9 every 10 epochs.
    "mnist": {"n_clusters": 10, "hidden_dims": (500, 500, 2000), "latent_dim": 10, "likelihood": "bernoulli",
              "lr": 0.002, "weight_decay": 1e-4, "batch_size": 100, "epochs": 50, "pretrain_epochs": 50,
              "pretrain_lr": 0.001, "pretrain_batch_size": 256, "n_neighbors": 20, "classifier_hidden": ()},
    "reuters10k": {"n_clusters": 4, "hidden_dims": (500, 500, 2000), "latent_dim": 10, "likelihood": "gaussian",
                   "lam": 10.0, "lr": 0.002, "weight_decay": 1e-4, "batch_size": 100, "epochs": 50,
                   "pretrain_epochs": 50, "n_neighbors": 20, "classifier_hidden": (4,)},
}


def recipe(dataset: str, method: str) -> Dict:
    """Parameters recommended for ``method`` on ``dataset`` (empty when there is no recipe)."""
    accepted = {spec.name for spec in get_method_class(method).param_specs()}
    return {key: value for key, value in _RECIPES.get(dataset, {}).items() if key in accepted}
