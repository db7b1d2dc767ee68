"""The sidebar set-up, drawn by app.py on every rerun so it is the same on every page: a preset, the dataset
and its options (with the uploader for "file"), the method and its typed parameters, the seed. Returns the
validated run config (checked with the data where that is cheap) and mirrors it in the URL."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import streamlit as st

from deepclust_core import DeepClustError, InputError, list_datasets, list_methods
from deepclust_core import config as dconfig
from deepclust_core.params import ParamSpec

from .guard import callback
from .form import check_with_data, dataset_summary, fill_form
from .presets import apply_preset, presets
from .session import KEY_DATASET, KEY_DEFAULTS_FOR, KEY_METHOD, KEY_SEED, KEY_URL_DONE, KEY_URL_WARNINGS
from .session import option_key, param_key
from .uploads import server_path_refused, upload_widget
from .url import load_from_url, sync_to_url
from .widgets import from_widget, render_widget


# Parameters the papers name with a symbol: the form shows "symbol · code name" so both can be found.
PAPER_NAMES = {"n_clusters": "K", "n_neighbors": "N_s", "lam": "λ", "latent_dim": "M", "neighbors_per_step": "m",
               "neighbor_weight": "α"}


def paper_label(name: str) -> str:
    """``N_s · n_neighbors`` for a parameter the papers name, else the code name."""
    return f"{PAPER_NAMES[name]} · {name}" if name in PAPER_NAMES else name


def _read(spec: ParamSpec, key: str, errors: List[str], prefix: str = "") -> Any:
    raw = render_widget(spec, key, label=paper_label(spec.name))
    try:
        return from_widget(spec, raw)
    except InputError as exc:
        errors.append(f"{prefix}{exc}")
        return None


def _preset_chooser() -> None:
    available = presets()
    choice = st.selectbox("Preset", available.names, key="cfg.preset", index=None, placeholder="Choose a preset…")
    if choice:
        st.caption(available.get(choice).why)
        st.button("Apply preset", on_click=callback(apply_preset), args=(choice,), key="cfg.apply_preset")


def _options(dataset: str, errors: List[str]) -> Dict[str, Any]:
    options = {}
    with st.expander("Data options", expanded=dataset == "file"):
        if dataset == "file":
            upload_widget(errors)
        for name, spec in dconfig.dataset_specs(dataset).items():
            options[name] = _read(spec, option_key(dataset, name), errors, prefix=f"{dataset} ")
    path_error = server_path_refused(options.get("path"))
    if path_error:
        errors.append(path_error)
    return options


def _params(method: str, errors: List[str], lead: Sequence[str] = ()) -> Dict[str, Any]:
    params: Dict[str, Any] = {}
    specs = [s for s in dconfig.method_specs(method).values() if s.name != "random_state"]
    for spec in sorted((s for s in specs if s.name in lead), key=lambda s: list(lead).index(s.name)):  # up front
        params[spec.name] = _read(spec, param_key(method, spec.name), errors)
    specs = [s for s in specs if s.name not in lead]
    with st.expander(f"{method} parameters" if not lead else f"More {method} parameters", expanded=not lead):
        for spec in [s for s in specs if not s.advanced]:
            params[spec.name] = _read(spec, param_key(method, spec.name), errors)
    advanced = [s for s in specs if s.advanced]
    if advanced:
        with st.expander("Advanced parameters"):
            for spec in advanced:
                params[spec.name] = _read(spec, param_key(method, spec.name), errors)
    return params


KEY_SAVED = "cfg.saved"  # the form's values, kept outside the widgets


KEY_DRAWN_IN = "cfg.drawn_in"  # "page" (the Playground) or "sidebar"


def _restore_form(location: str) -> None:
    """Put the form's values back into new widgets: the Playground draws the form on the page and the other pages
    in the sidebar, so going from one to the other makes new widgets, which Streamlit starts empty."""
    state = st.session_state
    moved = state.get(KEY_DRAWN_IN) not in (None, location)
    for key, value in (state.get(KEY_SAVED) or {}).items():
        if moved or key not in state:
            state[key] = value
    state[KEY_DRAWN_IN] = location


def _save_form() -> None:
    state = st.session_state
    state[KEY_SAVED] = {key: state[key] for key in list(state.keys()) if isinstance(key, str) and (
        key in (KEY_DATASET, KEY_METHOD, KEY_SEED) or key.startswith(("d.", "p.")))}


def sidebar_config(container: Any = None, lead: Sequence[str] = ()) -> Optional[Dict[str, Any]]:
    """Draw the set-up in the sidebar (or in ``container``, with the parameters named in ``lead`` up front and
    the rest folded away) and return the run config, or None (errors shown) when invalid."""
    state = st.session_state
    if not state.get(KEY_URL_DONE):
        load_from_url()
    _restore_form("sidebar" if container is None else "page")
    errors: List[str] = []
    where = st.sidebar if container is None else container
    with where:
        st.subheader("Set-up")
        for warning in state.get(KEY_URL_WARNINGS) or []:
            st.warning(f"Ignored from the link: {warning}")
        _preset_chooser()
        dataset = st.selectbox("Dataset", list_datasets(), key=KEY_DATASET)
        st.caption(dataset_summary(dataset))
        method = st.selectbox("Method", list_methods(), key=KEY_METHOD,
                              help="Every registered method; its form is built from its typed parameters.")
        # a new combination starts from its recipe; otherwise only widgets not drawn yet are filled
        fill_form(dataset, method, only_missing=state.get(KEY_DEFAULTS_FOR) == (dataset, method))
        if lead:
            params = _params(method, errors, lead)
        seed = st.number_input("Seed", min_value=0, step=1, key=KEY_SEED,
                               help="random_state of the method: weights, batches, neighbour sampling.")
        options = _options(dataset, errors)
        if not lead:
            params = _params(method, errors)
        for error in errors:
            st.error(error)
    _save_form()
    if errors:
        return None
    if dataset == "file" and not options.get("path"):
        where.info("Upload a data file, or type the path of one on the server, to use the 'file' dataset.")
        return None
    params["random_state"] = int(seed)
    config = {"dataset": dataset, "dataset_options": options, "method": method, "params": params}
    try:
        config = dconfig.validate_config(config)
        check_with_data(config)
    except DeepClustError as exc:
        where.error(str(exc))
        return None
    sync_to_url(config)
    return config
