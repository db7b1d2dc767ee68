"""The app's session: the runs folder (from :mod:`deepclust_core.settings`), starting the job supervisor once
per server, the session-state keys the ui modules share, the current set-up and the current run."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Optional

import streamlit as st

from deepclust_core import jobs, settings, store

REFRESH_SECONDS = 1.5  # how often a page redraws a run while it trains
STORAGE_CHECK_SECONDS = 5.0  # how long the answer "can the runs folder be written?" is reused
KEY_CONFIG = "config"  # the sidebar's validated run config, or None (app.py sets it on every rerun)
KEY_RUN = "run"  # the run the pages show (also a query parameter)
KEY_DATASET, KEY_METHOD, KEY_SEED = "cfg.dataset", "cfg.method", "cfg.seed"
KEY_DEFAULTS_FOR = "cfg.defaults_for"  # the (dataset, method) whose recipe filled the form
KEY_URL_DONE, KEY_URL_WARNINGS = "cfg.url_applied", "cfg.url_warnings"
KEY_UPLOAD, KEY_UPLOAD_DONE, KEY_UPLOAD_RESULT = "cfg.upload", "cfg.upload_done", "cfg.upload_result"


def option_key(dataset: str, name: str) -> str:
    """The widget key of a dataset option."""
    return f"d.{dataset}.{name}"


def param_key(method: str, name: str) -> str:
    """The widget key of a method parameter."""
    return f"p.{method}.{name}"


def runs_dir() -> Path:
    """``$DEEPCLUST_RUNS``, else ./runs (created on first use, when it can be)."""
    path = settings.runs_dir().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # a read-only parent or a file in its place: the banner of ensure_started() says so
    return path


@st.cache_resource(show_spinner=False)
def _started(path: str) -> float:
    # Once per server and runs folder: workers that died while the app was down become "failed", and the
    # supervisor thread (which also drains the queue from then on) starts. Never raises (see jobs.startup).
    jobs.startup(path)
    return time.time()


@st.cache_data(ttl=STORAGE_CHECK_SECONDS, show_spinner=False)
def _storage_problem(path: str) -> Optional[str]:
    return store.storage_problem(path)


def storage_problem() -> Optional[str]:
    """Why the runs folder cannot take new runs now (checked every few seconds), or None."""
    return _storage_problem(str(runs_dir()))


def ensure_started() -> None:
    """Start the queue once per server, and say at the top of every page when the runs folder cannot be
    written (read-only, full, not a folder) and what still works."""
    _started(str(runs_dir()))
    problem = storage_problem()
    if problem:
        st.warning(f"Read-only mode: {problem}. Finished runs can still be viewed and exported; new runs cannot "
                   "start until the folder can be written again. Deleting runs frees space on a full disk.",
                   icon=":material/warning:")


def current_config() -> Optional[Dict[str, Any]]:
    """The sidebar's run config, or None while it is invalid."""
    return st.session_state.get(KEY_CONFIG)


def select_run(run_id: Optional[str]) -> None:
    """Make ``run_id`` the run every page shows (and put it in the URL)."""
    st.session_state[KEY_RUN] = run_id
    if run_id:
        st.query_params[KEY_RUN] = run_id
