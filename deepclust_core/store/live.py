"""What a snapshot holds beyond the latent, for the live views of the Playground: the cluster probabilities γ
of the snapshot's points, their reconstructions (every snapshot for low-dimensional data, the final one for
images), the predicted cluster on a grid over 2-D inputs (decision regions), and the neighbour graph as soon as
it exists (so the views can draw the edges that join two predicted clusters while it trains).

Everything here is best effort: a method without γ or a decoder simply records less.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from .. import fileio
from .layout import RunFolder

GRID_SIZE = 80  # decision-region grid (GRID_SIZE² points) over 2-D inputs
GRID_MARGIN = 0.1  # of the data's range on each side
LOW_DIM_RECON = 3  # features up to which every snapshot keeps reconstructions
MAX_IMAGE_RECON = 2_000  # reconstructions of image data kept in the final snapshot (float16)


def grid_extent(x: np.ndarray) -> np.ndarray:
    """(x_min, x_max, y_min, y_max) of the decision-region grid over 2-D inputs ``x``."""
    low, high = x[:, :2].min(axis=0), x[:, :2].max(axis=0)
    pad = (high - low) * GRID_MARGIN + 1e-6
    return np.array([low[0] - pad[0], high[0] + pad[0], low[1] - pad[1], high[1] + pad[1]], dtype=np.float32)


def grid_points(extent: np.ndarray, size: int = GRID_SIZE) -> np.ndarray:
    """The grid's points, row-major from (x_min, y_min): (size², 2) float32."""
    xs = np.linspace(extent[0], extent[1], size, dtype=np.float32)
    ys = np.linspace(extent[2], extent[3], size, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def probabilities(estimator, x: np.ndarray) -> Optional[np.ndarray]:
    """γ = q(c|x) of the fitted-so-far model (mid-training, so not through ``predict_proba``, which wants a
    finished fit), or None for a method without it or a model not initialised yet."""
    proba = getattr(estimator, "_proba_tensor", None)
    to_device = getattr(estimator, "_to_device", None)
    if proba is None or to_device is None:
        return None
    import torch

    try:
        with torch.no_grad():
            return proba(to_device(x)).detach().cpu().numpy().astype(np.float32)
    except Exception:  # e.g. stopped during pretraining: no prior yet
        return None


def live_arrays(folder: RunFolder, estimator, inputs: Optional[np.ndarray], index: np.ndarray,
                latent: np.ndarray, final: bool) -> Dict[str, np.ndarray]:
    """Extra arrays of one snapshot (see the module docstring); ``latent`` are the snapshot's latent means."""
    arrays: Dict[str, np.ndarray] = {}
    if inputs is None:
        return arrays
    points = inputs[index]
    gamma = probabilities(estimator, points)
    if gamma is not None:
        arrays["gamma"] = gamma
    decode = getattr(estimator, "decode", None)
    if decode is not None and (inputs.shape[1] <= LOW_DIM_RECON or final):
        keep = np.arange(len(index)) if inputs.shape[1] <= LOW_DIM_RECON else np.arange(min(len(index),
                                                                                           MAX_IMAGE_RECON))
        try:
            recon = np.asarray(decode(latent[keep]), dtype=np.float32)
            arrays["recon"] = recon if inputs.shape[1] <= LOW_DIM_RECON else recon.astype(np.float16)
            arrays["recon_rows"] = keep.astype(np.int64)
        except Exception:
            pass
    if inputs.shape[1] == 2:
        extent = grid_extent(inputs)
        grid_gamma = probabilities(estimator, grid_points(extent))
        if grid_gamma is not None:
            arrays["grid_labels"] = grid_gamma.argmax(axis=1).astype(np.int16).reshape(GRID_SIZE, GRID_SIZE)
            arrays["grid_extent"] = extent
    save_graph(folder, estimator, inputs)
    return arrays


def save_graph(folder: RunFolder, estimator, inputs: np.ndarray) -> None:
    """graph.npz (neighbour indices, weights) once the method has built its graph, and inputs.npz for 2-D
    data, written once while training (the final artifacts rewrite them)."""
    if inputs.shape[1] == 2 and not folder.artifact("inputs").exists():
        fileio.save_npz(folder.artifact("inputs"), x=inputs)
    graph = getattr(estimator, "graph_", None)
    if graph is None or folder.artifact("graph").exists():
        return
    try:
        fileio.save_npz(folder.artifact("graph"), indices=graph.indices.cpu().numpy().astype(np.int32),
                        weights=graph.weights.cpu().numpy().astype(np.float32))
    except AttributeError:
        pass
