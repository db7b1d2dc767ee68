"""Run controls shared by the pages: Pause, Resume, Step and Stop for one run or a group of runs (the worker
keeps its model while paused; see :func:`deepclust_core.jobs.pause`)."""
from __future__ import annotations

from typing import Sequence

import streamlit as st

from deepclust_core import jobs, store
from pages.ui.guard import callback


def _pause(paths) -> None:
    for path in paths:
        jobs.pause(path)


def _resume(paths) -> None:
    for path in paths:
        jobs.resume(path)


def _step(paths) -> None:
    for path in paths:
        jobs.step(path)


def _stop(paths) -> None:
    for path in paths:
        jobs.stop(path)
    st.toast("Stop requested: the run ends after its current epoch.")


def run_controls(runs: Sequence[store.Run], key: str) -> None:
    """Buttons named "Pause", "Resume", "Step", "Stop" for the active runs among ``runs`` (all of them at once);
    nothing when none is active. Pause holds after the current epoch, Step trains exactly one epoch of a
    paused run and pauses again, Resume goes on, Stop ends the run keeping its partial results."""
    active = [run for run in runs if run.active]
    if not active:
        return
    paths = tuple(str(run.path) for run in active)
    paused = [run for run in active if run.state == "paused"]
    requested = any(run.folder.pause_file.exists() for run in active)
    columns = st.columns(4)
    columns[0].button("Pause", key=f"{key}.pause", on_click=callback(_pause), args=(paths,), disabled=requested,
                      help="Hold after the current epoch; the worker keeps the model and waits.")
    columns[1].button("Resume", key=f"{key}.resume", on_click=callback(_resume), args=(paths,), disabled=not requested,
                      help="Go on training from where it stopped.")
    columns[2].button("Step", key=f"{key}.step", on_click=callback(_step), args=(paths,), disabled=not paused,
                      help="Train exactly one more epoch, then pause again.")
    columns[3].button("Stop", key=f"{key}.stop", on_click=callback(_stop), args=(paths,),
                      help="End the run after its current epoch; partial results are kept.")
    if paused:
        epochs = ", ".join(f"{run.progress.get('phase')} epoch {run.progress.get('epoch')}" for run in paused)
        st.caption(f"Paused at {epochs}.")
    elif requested:
        st.caption("Pausing after the current epoch…")
