"""The app's session: the runs folder (from :mod:`deepclust_core.settings`), starting the job supervisor once
per server, the session-state keys the ui modules share, the current set-up and the current run."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Optional

import streamlit as st

from deepclust_core import jobs, settings

REFRESH_SECONDS = 1.5  # how often a page redraws a run while it trains
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
    """``$DEEPCLUST_RUNS``, else ./runs (created on first use)."""
    path = settings.runs_dir().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@st.cache_resource(show_spinner=False)
def _started(path: str) -> float:
    # Once per server and runs folder: workers that died while the app was down become "failed", and the
    # supervisor thread (which also drains the queue from then on) starts.
    jobs.startup(path)
    return time.time()


def ensure_started() -> None:
    _started(str(runs_dir()))


def current_config() -> Optional[Dict[str, Any]]:
    """The sidebar's run config, or None while it is invalid."""
    return st.session_state.get(KEY_CONFIG)


def select_run(run_id: Optional[str]) -> None:
    """Make ``run_id`` the run every page shows (and put it in the URL)."""
    st.session_state[KEY_RUN] = run_id
    if run_id:
        st.query_params[KEY_RUN] = run_id
