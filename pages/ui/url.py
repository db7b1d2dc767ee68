"""The sidebar set-up as query parameters, so a link shares it: :func:`load_from_url` fills the form from a
link once per session (bad values are skipped and reported), :func:`sync_to_url` mirrors the set-up back.

Keys: ``dataset``, ``method``, ``seed``, ``d.<option>``, ``p.<parameter>`` and ``run`` (the run shown)."""
from __future__ import annotations

from typing import Any, Dict, List

import streamlit as st

from deepclust_core import InputError, list_datasets, list_methods
from deepclust_core import config as dconfig

from .form import fill_form, form_values
from .session import (KEY_DATASET, KEY_METHOD, KEY_RUN, KEY_SEED, KEY_URL_DONE, KEY_URL_WARNINGS, option_key,
                      param_key)
from .widgets import from_widget, to_url, to_widget


def _registered(query, key: str, names: List[str], fallback: str, warnings: List[str]) -> str:
    value = query.get(key, fallback)
    if value not in names:
        warnings.append(f"unknown {key} {value!r} in the link")
        value = fallback if fallback in names else names[0]
    return value


def load_from_url() -> None:
    """Fill the form from the query parameters of a shared link; bad values are reported and skipped."""
    state = st.session_state
    query = st.query_params
    warnings: List[str] = []
    dataset = _registered(query, "dataset", list_datasets(), "moons", warnings)
    method = _registered(query, "method", list_methods(), "dgg", warnings)
    state[KEY_DATASET], state[KEY_METHOD] = dataset, method
    try:
        state[KEY_SEED] = max(0, int(query.get("seed", 0)))
    except ValueError:
        warnings.append(f"seed {query.get('seed')!r} is not a whole number")
        state[KEY_SEED] = 0
    fill_form(dataset, method)
    for prefix, specs, key_of in (("d.", dconfig.dataset_specs(dataset), lambda n: option_key(dataset, n)),
                                  ("p.", dconfig.method_specs(method), lambda n: param_key(method, n))):
        for query_key in query.keys():
            if not query_key.startswith(prefix):
                continue
            name = query_key[len(prefix):]
            if name not in specs or name == "random_state":
                warnings.append(f"{name!r} is not an option of {dataset if prefix == 'd.' else method}")
                continue
            try:
                value = from_widget(specs[name], query.get(query_key))
            except InputError as exc:
                warnings.append(str(exc))
                continue
            state[key_of(name)] = to_widget(specs[name], value)
    if query.get(KEY_RUN):
        state[KEY_RUN] = query.get(KEY_RUN)
    state[KEY_URL_WARNINGS] = warnings
    state[KEY_URL_DONE] = True


def sync_to_url(config: Dict[str, Any]) -> None:
    """Mirror the set-up in the URL (only values that differ from the recipe, to keep links short)."""
    dataset, method = config["dataset"], config["method"]
    wanted = {"dataset": dataset, "method": method, "seed": str(config["params"]["random_state"])}
    for name, spec in dconfig.dataset_specs(dataset).items():
        if name in config["dataset_options"] and config["dataset_options"][name] != spec.default:
            wanted[f"d.{name}"] = to_url(config["dataset_options"][name])
    defaults = form_values(dataset, method)
    for name, value in config["params"].items():
        if name != "random_state" and value != defaults.get(name):
            wanted[f"p.{name}"] = to_url(value)
    if st.session_state.get(KEY_RUN):
        wanted[KEY_RUN] = st.session_state[KEY_RUN]
    current = {key: st.query_params.get(key) for key in st.query_params.keys()}
    if current != wanted:
        st.query_params.from_dict(wanted)
