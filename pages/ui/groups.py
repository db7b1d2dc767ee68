"""Groups of runs started together (a comparison, a sweep): the sidebar's set-up carried over to each
method, and submission all or nothing (every config is validated before any run is queued)."""
from __future__ import annotations

from typing import Any, Callable, Dict, List

import streamlit as st

from deepclust_core import DeepClustError, InputError, jobs, settings, store
from deepclust_core import config as dconfig

from .session import current_config, runs_dir


def config_for_method(config: Dict[str, Any], method: str, **overrides: Any) -> Dict[str, Any]:
    """The sidebar set-up carried over to another method: its recipe, then every parameter both share,
    then ``overrides``."""
    specs = dconfig.method_specs(method)
    shared = {name: value for name, value in config["params"].items() if name in specs}
    params = dconfig.resolve_params(config["dataset"], method, {**shared, **overrides})
    return {"dataset": config["dataset"], "dataset_options": dict(config["dataset_options"]), "method": method,
            "params": params}


def new_group_id(prefix: str) -> str:
    return f"{prefix}-{store.new_run_id()}"


def submit_group(key: str, build: Callable[[Dict[str, Any], str], List[Dict[str, Any]]], prefix: str) -> None:
    """Queue a group of runs all or nothing: ``build(config, group_id)`` makes the configs from the sidebar's
    set-up, every one is validated before any is submitted; the error (or None) goes to ``{key}.error``,
    the new group to ``{key}.group``."""
    config = current_config()
    group = new_group_id(prefix)
    try:
        if config is None:
            raise InputError("Fix the set-up in the sidebar first.")
        configs = build(config, group)
        if len(configs) > settings.max_group():
            raise InputError(f"This would queue {len(configs)} runs; one click may queue at most "
                             f"{settings.max_group()} on this server ({settings.MAX_GROUP_ENV}). Use fewer values "
                             "or seeds.")
        jobs.submit_many(runs_dir(), configs, address=cluster_address())  # validated all before any is queued
    except DeepClustError as exc:
        st.session_state[f"{key}.error"] = str(exc)
        return
    st.session_state[f"{key}.error"] = None
    st.session_state[f"{key}.group"] = group


ADDRESS_KEY = "executor.address"


def cluster_address() -> str:
    """The app's cluster setting: a Ray address, or "" for this machine's queue (default: the environment)."""
    if ADDRESS_KEY not in st.session_state:
        st.session_state[ADDRESS_KEY] = settings.ray_address()
    return str(st.session_state[ADDRESS_KEY]).strip()


def cluster_setting(column=None) -> None:
    """A text field for the cluster the group's runs go to (empty: this machine's queue)."""
    cluster_address()
    (column or st).text_input("Ray cluster (empty: this machine)", key=ADDRESS_KEY, placeholder="host:port",
                              help="Runs go to the Ray cluster at this address (e.g. 10.0.0.5:6379), one task each; "
                                   "they appear here live as on this machine. Empty: this machine's queue "
                                   "(DEEPCLUST_MAX_JOBS at once). Default: DEEPCLUST_RAY_ADDRESS or RAY_ADDRESS.")
