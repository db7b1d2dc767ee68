"""Cached readers of a run's files for the pages: snapshots and artifacts (cached by path and modification
time, so a file rewritten by a worker is read again), and 2-D embeddings of a snapshot's latent (t-SNE/UMAP
are stored in the run's cache by :func:`deepclust_core.store.save_embedding`, which never fails on a
read-only runs folder). Every file name comes from :class:`deepclust_core.store.RunFolder`."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
import streamlit as st

from deepclust_core import store, viz

CHEAP_VIEWS = ("raw", "pca")  # computed on the fly, never cached on disk


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(max_entries=32, show_spinner=False)
def _snapshot(run_path: str, epoch: int, mtime: float) -> Optional[Dict[str, np.ndarray]]:
    return store.load_snapshot(run_path, epoch)


def snapshot(run: store.Run, epoch: int) -> Optional[Dict[str, np.ndarray]]:
    """The snapshot of ``epoch`` (latent means, labels, GMM), or None when absent or unreadable."""
    return _snapshot(str(run.path), epoch, _mtime(run.folder.snapshot(epoch)))


@st.cache_data(max_entries=32, show_spinner=False)
def _artifact(run_path: str, name: str, mtime: float) -> Optional[Dict[str, np.ndarray]]:
    return store.load_artifact(run_path, name)


def artifact(run: store.Run, name: str) -> Optional[Dict[str, np.ndarray]]:
    """A final artifact (labels, gmm, traversals, graph, inputs), or None when absent or unreadable; a file
    that is there but damaged is named in a warning."""
    arrays = _artifact(str(run.path), name, _mtime(run.folder.artifact(name)))
    if arrays is None and run.folder.artifact(name).exists():
        damaged(run, run.folder.artifact(name).name)
    return arrays


def damaged(run: store.Run, file_name: str) -> None:
    """Say that one of the run's files is damaged and is left out."""
    st.warning(f"{file_name} of run {run.id} is damaged or unreadable; it is left out.")


def has_artifact(run: store.Run, name: str) -> bool:
    """Whether the run wrote ``name`` (without reading it)."""
    return run.folder.artifact(name).exists()


def embedding(run: store.Run, epoch: int, method: str, latent: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(coords, index) of a snapshot's latent under ``method``; t-SNE/UMAP are cached in the run's folder."""
    if method in CHEAP_VIEWS:
        return viz.embed(latent, method)
    cached = store.load_embedding(run.path, method, epoch)
    if cached is not None:
        return cached
    with st.spinner(f"Computing the {method.upper()} embedding (cached for next time)…"):
        coords, index = viz.embed(latent, method)
    store.save_embedding(run.path, method, epoch, coords, index)  # a read-only runs folder only costs the cache
    return coords, index
