"""The papers' figures in one click from the Playground: Fig. 1 (VaDE and DGG on the same data, pretrained
autoencoder and seed, both queued at once) and Table 2 (the N_s sweep, shown on the Ablation page with the
paper's numbers beside ours)."""
from __future__ import annotations

from typing import Any, Dict, List

from deepclust_core import config as dconfig

from .groups import config_for_method, submit_group

FIG1_PREFIX = "compare-fig1"  # a Compare group: the Compare page lists it too
TABLE2_PREFIX = "ablation-table2"  # an Ablation group
TABLE2_NS = (0, 1, 3, 10, 20, 30)  # the paper's Table 2 rows
TABLE2_SEEDS = (0, 1, 2)


def fig1_configs(config: Dict[str, Any], group: str) -> List[Dict[str, Any]]:
    """VaDE and DGG with the set-up's data, seed and shared parameters (same architecture and pretraining
    schedule, so both start from the same cached autoencoder and mixture)."""
    configs = []
    for method in ("vade", "dgg"):
        overrides = {}
        if method == "dgg" and "n_neighbors" in config["params"] and config["params"]["n_neighbors"] == 0:
            overrides["n_neighbors"] = dconfig.resolve_params(config["dataset"], "dgg").get("n_neighbors", 20)
        configs.append({**config_for_method(config, method, **overrides), "group": group,
                        "label": f"Fig. 1: {method}"})
    return configs


def table2_configs(config: Dict[str, Any], group: str) -> List[Dict[str, Any]]:
    """DGG for each N_s of the paper's Table 2 and seeds 0-2, seeds inside N_s (each row gets a number early)."""
    return [{**config_for_method(config, "dgg", n_neighbors=n, random_state=seed), "group": group,
             "label": f"N_s={n} seed={seed}"} for n in TABLE2_NS for seed in TABLE2_SEEDS]


def queue_fig1() -> None:
    submit_group("play", fig1_configs, FIG1_PREFIX)


def queue_table2() -> None:
    submit_group("play.table2", table2_configs, TABLE2_PREFIX)
