"""The sidebar form's state and checks: filling its widgets from a dataset's recipe (plus a preset's or a run's
values), loading a run's set-up into it, and the checks that need the data before a run is queued.

The widgets' values live in ``st.session_state`` under :func:`~.session.option_key` and
:func:`~.session.param_key`; :mod:`.sidebar` draws them.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, Optional

import streamlit as st

from deepclust_core import config as dconfig
from deepclust_core import list_datasets, list_methods, store

from .session import KEY_DATASET, KEY_DEFAULTS_FOR, KEY_METHOD, KEY_SEED, option_key, param_key
from .widgets import to_widget, typed_values

CHECKED_DATASETS = ("moons", "file")  # data cheap enough to check N_s, n_clusters, ... before queueing


def form_values(dataset: str, method: str, overrides: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Every parameter of ``method`` as the form starts it: the method's default where
    :func:`deepclust_core.config.resolve_params` (the recipe, then ``overrides``) sets nothing."""
    values = {name: spec.default for name, spec in dconfig.method_specs(method).items()}
    values.update(dconfig.resolve_params(dataset, method, overrides))
    return values


def fill_form(dataset: str, method: str, overrides: Optional[Dict[str, Any]] = None,
              option_overrides: Optional[Dict[str, Any]] = None, only_missing: bool = False) -> None:
    """Put recipe defaults (plus overrides) into the form's widget state."""
    state = st.session_state
    values = form_values(dataset, method, overrides)
    for name, spec in dconfig.method_specs(method).items():
        key = param_key(method, name)
        if name != "random_state" and not (only_missing and key in state):
            state[key] = to_widget(spec, values[name])
    options = option_overrides or {}
    for name, spec in dconfig.dataset_specs(dataset).items():
        key = option_key(dataset, name)
        if name in options or not (only_missing and key in state):
            state[key] = to_widget(spec, options.get(name, spec.default))
    state[KEY_DEFAULTS_FOR] = (dataset, method)


def apply_config(config: Dict[str, Any]) -> None:
    """Widget callback: load a run's configuration into the sidebar form (to rerun or vary it)."""
    dataset, method = config.get("dataset"), config.get("method")
    if dataset not in list_datasets() or method not in list_methods():
        return
    # Values a newer version no longer accepts are left at their recipe defaults.
    params = typed_values(dconfig.method_specs(method), config.get("params") or {})
    options = typed_values(dconfig.dataset_specs(dataset), config.get("dataset_options") or {})
    st.session_state[KEY_DATASET], st.session_state[KEY_METHOD] = dataset, method
    st.session_state[KEY_SEED] = int(params.pop("random_state", 0))
    fill_form(dataset, method, params, options)


def dataset_summary(dataset: str) -> str:
    """The loader's first docstring line, plus where to get data that is not bundled."""
    from deepclust_core.datasets import DATASETS, data_dir

    doc = (DATASETS.get(dataset).__doc__ or "").strip().splitlines()
    summary = re.sub(r"(:\w+:)?``?([^`]+)``?", r"`\2`", doc[0]) if doc else ""  # reST roles to Markdown
    if dataset in ("mnist", "reuters10k"):
        files = "mnist.npz" if dataset == "mnist" else "reuters10k.mat (VaDE) or reutersidf10k.npy (DEC)"
        summary += (f" Looked for in {data_dir()} (set DEEPCLUST_DATA) as {files}, or the path option; "
                    "otherwise the run downloads it once, and fails with instructions when offline.")
    return summary


@st.cache_resource(max_entries=4, show_spinner=False)
def _checked_data(dataset: str, options: tuple, file_stamp: tuple):
    from deepclust_core.datasets import load_dataset

    return load_dataset(dataset, **dict(options))


def check_with_data(config: Dict[str, Any]) -> None:
    """The checks that need the data (N_s < n_samples, n_clusters <= n_samples, a readable file), done
    before a run is queued for data that loads in a blink; InputError says what is wrong. A user file's
    number of clusters is set as the method's (``config`` is changed in place)."""
    from deepclust_core import create_method

    dataset, options = config["dataset"], config["dataset_options"]
    if dataset not in CHECKED_DATASETS:
        return
    stamp: tuple = ()
    if options.get("path"):
        try:
            info = Path(options["path"]).expanduser().stat()
            stamp = (info.st_mtime_ns, info.st_size)
        except OSError:
            pass  # load_dataset reports the missing file
    data = _checked_data(dataset, tuple(sorted(options.items())), stamp)
    store.apply_file_clusters(config, data)  # a user file's K is the method's K
    create_method(config["method"], **config["params"]).check_input(data.x, data.y)
