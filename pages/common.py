"""Shared pieces of the app's pages: the runs folder, the sidebar set-up (dataset, method and their typed
parameters, built from the registries' specs and mirrored in the URL), presets, run pickers and cached
readers. Not a page itself: app.py lists the pages explicitly.

The app never trains: it submits runs to :mod:`deepclust_core.jobs` and reads the disk.
"""
from __future__ import annotations

import math
import os
import re
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import streamlit as st

from deepclust_core import DeepClustError, InputError, jobs, list_datasets, list_methods, runs, viz
from deepclust_core.methods import get_method_class
from deepclust_core.params import ParamSpec, check_value, coerce_value

# A pages/ folder next to app.py makes a fresh Streamlit server start in its old "pages directory" mode
# until st.navigation first runs; a first visit to e.g. /latent would then run pages/latent.py without
# app.py (no sidebar, "common" listed as a page) for the whole process. This module is imported by every
# page, so switching the mode off here (and rerunning once, see page()) always lands in app.py.
# PagesManager is internal to Streamlit: if it moves, only that first-visit corner case comes back.
try:
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
except (ImportError, AttributeError):
    pass

REFRESH_SECONDS = 1.5
KEY_DATASET, KEY_METHOD, KEY_SEED = "cfg.dataset", "cfg.method", "cfg.seed"
KEY_DEFAULTS_FOR = "cfg.defaults_for"  # the (dataset, method) whose recipe filled the form
KEY_URL_DONE, KEY_URL_WARNINGS = "cfg.url_applied", "cfg.url_warnings"
KEY_RUN = "run"  # the run the pages show (also a query parameter)
KEY_UPLOAD, KEY_UPLOAD_DONE, KEY_UPLOAD_RESULT = "cfg.upload", "cfg.upload_done", "cfg.upload_result"
MAX_UPLOAD_ENV = "DEEPCLUST_MAX_UPLOAD_MB"
SERVER_PATHS_ENV = "DEEPCLUST_SERVER_PATHS"
DEFAULT_MAX_UPLOAD_MB = 200  # keep equal to server.maxUploadSize in .streamlit/config.toml
UPLOADS_FOLDER = runs.UPLOADS_FOLDER
CHECKED_DATASETS = ("moons", "file")  # data cheap enough to check N_s, n_clusters, ... before queueing
PAPER_TABLE2_ACC = {0: 0.9482, 1: 0.9698, 3: 0.9733, 10: 0.9752, 20: 0.9758, 30: 0.9749}

# Presets: a one-line explanation each; params are applied on top of the dataset's recipe.
PRESETS: List[Dict[str, Any]] = [
    {"name": "Moons · quick demo", "dataset": "moons", "method": "dgg",
     "options": {"n_samples": 1000}, "params": {"epochs": 30, "pretrain_epochs": 30, "n_neighbors": 20},
     "why": "1000 points and short schedules: a DGG run in seconds, for trying the pages and sweeps. Too short "
            "to separate the moons reliably (measured ACC 0.58-0.86 over seeds 0-2); the paper recipe below "
            "separates them (1.00 on seeds 0-2) in about half a minute on 2 CPU cores."},
    {"name": "Moons · DGG (paper recipe)", "dataset": "moons", "method": "dgg", "options": {}, "params": {},
     "why": "2 × 2000 moons, 2-20-20-2 networks, N_s = 40, Adam 0.02: the set-up of the paper's Fig. 1."},
    {"name": "Moons · VaDE baseline", "dataset": "moons", "method": "vade", "options": {}, "params": {},
     "why": "The same data and networks without the graph. VaDE ends where its start (a GMM on the pretrained "
            "latent) points it: measured over seeds 0-9, starts below 0.75 ACC end at 0.74-0.94 (seed 0: 0.80), "
            "better ones separate the moons (seeds 1, 2: 1.00); mean 0.903 against DGG's 0.992."},
    {"name": "Close moons: DGG vs VaDE", "dataset": "moons", "method": "dgg",
     "options": {"gap": -0.25}, "params": {},
     "why": "Moons only 0.25 apart, where the paper shows VaDE failing and DGG not. Measured on seeds 0-2: DGG "
            "0.85 / 0.88 / 1.00, VaDE 0.73 / 0.74 / 1.00: DGG ahead, but from a poor start it too puts the tips "
            "where the moons interleave in the other cluster. Start both on the Compare page and look."},
    {"name": "Far moons", "dataset": "moons", "method": "dgg", "options": {"gap": 0.5}, "params": {},
     "why": "Moons 1.0 apart: easy for both methods (measured 1.00 for both on seeds 0-2), a sanity check for "
            "the comparison."},
    {"name": "MNIST 10k · DGG", "dataset": "mnist", "method": "dgg", "options": {"n_samples": 10000},
     "params": {"pretrain_epochs": 150, "pretrain_augment": True, "init": "umap", "umap_metric": "cosine",
                "graph_space": "umap", "classifier_hidden": (64,), "lr": 0.0005, "epochs": 20},
     "why": "10,000 digits, D-500-500-2000-10 networks, N_s = 20, with the measured 10k recipe: autoencoder "
            "pretrained on shifted and rotated digits, N2D's UMAP start, graph in that UMAP, f2 10-64-10. "
            "Measured ACC 0.957 ± 0.006 over seeds 0-2 (VaDE 0.928), about 5 minutes from nothing on 2 CPU "
            "cores, 80 s once the autoencoder is cached (needs MNIST)."},
    {"name": "Reuters-10K · DGG", "dataset": "reuters10k", "method": "dgg", "options": {}, "params": {},
     "why": "4 news topics as 2000 tf-idf terms; needs reuters10k.mat / reutersidf10k.npy in the data folder."},
]
COMPARE_PRESETS = ("Moons · DGG (paper recipe)", "Close moons: DGG vs VaDE", "Far moons")


# ------------------------------------------------------------------------------------------- runs folder

def runs_dir() -> Path:
    """``$DEEPCLUST_RUNS``, else ./runs (created on first use)."""
    path = runs.default_runs_dir().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@st.cache_resource(show_spinner=False)
def _started(path: str) -> float:
    jobs.startup(path)  # workers that died while the app was down become "failed"; the queue restarts
    return time.time()


def ensure_started() -> None:
    _started(str(runs_dir()))


# ---------------------------------------------------------------------------------------- typed widgets

def dataset_specs(dataset: str) -> Dict[str, ParamSpec]:
    return runs.dataset_specs(dataset)


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


def method_specs(method: str) -> Dict[str, ParamSpec]:
    return {spec.name: spec for spec in get_method_class(method).param_specs()}


def recipe_for(dataset: str, method: str) -> Dict[str, Any]:
    from deepclust_core.recipes import recipe

    return recipe(dataset, method)


def param_defaults(dataset: str, method: str) -> Dict[str, Any]:
    """Each parameter's default, overridden by the dataset's recipe."""
    values = {name: spec.default for name, spec in method_specs(method).items()}
    values.update(recipe_for(dataset, method))
    return values


def _is_text(spec: ParamSpec) -> bool:
    """Tuples, optional numbers and free strings are typed as text ("20,20", "" = None)."""
    return spec.choices is None and (spec.base_type in (tuple, str) or spec.optional)


def to_widget(spec: ParamSpec, value: Any) -> Any:
    """A typed value as the widget holds it."""
    if _is_text(spec):
        if value is None:
            return ""
        return ",".join(str(v) for v in value) if isinstance(value, (tuple, list)) else str(value)
    if spec.choices is not None:
        return value
    kind = spec.base_type
    if kind is bool:
        return bool(value)
    if kind is int:
        return int(value)
    if kind is float:
        return float(value)
    return value


def from_widget(spec: ParamSpec, raw: Any) -> Any:
    """A widget's value as the typed, checked parameter (InputError when it is not valid)."""
    if _is_text(spec) and isinstance(raw, str) and not raw.strip():
        if spec.optional:
            return None
        if spec.base_type is tuple:
            return ()
    value = coerce_value(spec, raw)
    check_value(spec, value)
    return value


def to_url(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _float_step(spec: ParamSpec, value: Any) -> float:
    magnitude = abs(float(value)) if value not in (None, 0) else 0.0
    if magnitude > 0 and math.isfinite(magnitude):
        return 10.0 ** math.floor(math.log10(magnitude))
    return 0.01 if spec.high is not None and spec.high <= 1 else 0.05


def render_widget(spec: ParamSpec, key: str, label: Optional[str] = None) -> Any:
    """The widget for one spec: checkbox, selectbox, bounded number input or text. Its value is in
    ``st.session_state[key]`` already (never passed as a default, so the URL and presets can set it)."""
    label = label or spec.name
    help_text = spec.help or None
    if spec.choices is not None:
        return st.selectbox(label, list(spec.choices), key=key, help=help_text, format_func=str)
    if _is_text(spec):
        hint = " Comma-separated integers, e.g. 20,20." if spec.base_type is tuple else ""
        hint += " Empty for none." if spec.optional else ""
        return st.text_input(label, key=key, help=(help_text or "") + hint or None)
    kind = spec.base_type
    if kind is bool:
        return st.checkbox(label, key=key, help=help_text)
    low = spec.low if spec.low_inclusive else None  # an exclusive bound is checked after input
    if kind is int:
        return st.number_input(label, key=key, help=help_text, step=1,
                               min_value=None if low is None else int(math.ceil(low)),
                               max_value=None if spec.high is None else int(spec.high))
    return st.number_input(label, key=key, help=help_text, format="%g",
                           step=_float_step(spec, st.session_state.get(key, spec.default)),
                           min_value=None if low is None else float(low),
                           max_value=None if spec.high is None else float(spec.high))


# -------------------------------------------------------------------------------------------- sidebar

def option_key(dataset: str, name: str) -> str:
    return f"d.{dataset}.{name}"


def param_key(method: str, name: str) -> str:
    return f"p.{method}.{name}"


def _fill_form(dataset: str, method: str, overrides: Optional[Dict[str, Any]] = None,
               option_overrides: Optional[Dict[str, Any]] = None, only_missing: bool = False) -> None:
    """Put recipe defaults (plus overrides) into the form's widget state."""
    state = st.session_state
    values = {**param_defaults(dataset, method), **(overrides or {})}
    for name, spec in method_specs(method).items():
        key = param_key(method, name)
        if name != "random_state" and not (only_missing and key in state):
            state[key] = to_widget(spec, values[name])
    options = option_overrides or {}
    for name, spec in dataset_specs(dataset).items():
        key = option_key(dataset, name)
        if name in options or not (only_missing and key in state):
            state[key] = to_widget(spec, options.get(name, spec.default))
    state[KEY_DEFAULTS_FOR] = (dataset, method)


def apply_preset(name: str) -> None:
    """Widget callback: load a preset into the sidebar form."""
    preset = next(p for p in PRESETS if p["name"] == name)
    st.session_state[KEY_DATASET] = preset["dataset"]
    st.session_state[KEY_METHOD] = preset["method"]
    _fill_form(preset["dataset"], preset["method"], preset["params"], preset["options"])


def apply_config(config: Dict[str, Any]) -> None:
    """Widget callback: load a run's configuration into the sidebar form (to rerun or vary it)."""
    dataset, method = config["dataset"], config["method"]
    if dataset not in list_datasets() or method not in list_methods():
        return
    # Values a newer version no longer accepts are left at their recipe defaults.
    params = _typed_values(method_specs(method), config.get("params") or {})
    options = _typed_values(dataset_specs(dataset), config.get("dataset_options") or {})
    st.session_state[KEY_DATASET], st.session_state[KEY_METHOD] = dataset, method
    st.session_state[KEY_SEED] = int(params.pop("random_state", 0))
    _fill_form(dataset, method, params, options)


def _typed_values(specs: Dict[str, ParamSpec], values: Dict[str, Any]) -> Dict[str, Any]:
    typed = {}
    for name, value in values.items():
        try:
            typed[name] = from_widget(specs[name], value if value is not None else "")
        except (KeyError, InputError):
            continue
    return typed


def _load_from_url() -> None:
    """Fill the form from the query parameters of a shared link; bad values are reported and skipped."""
    state = st.session_state
    query = st.query_params
    warnings: List[str] = []
    dataset = query.get("dataset", "moons")
    if dataset not in list_datasets():
        warnings.append(f"unknown dataset {dataset!r} in the link")
        dataset = "moons" if "moons" in list_datasets() else list_datasets()[0]
    method = query.get("method", "dgg")
    if method not in list_methods():
        warnings.append(f"unknown method {method!r} in the link")
        method = "dgg" if "dgg" in list_methods() else list_methods()[0]
    state[KEY_DATASET], state[KEY_METHOD] = dataset, method
    try:
        state[KEY_SEED] = max(0, int(query.get("seed", 0)))
    except ValueError:
        warnings.append(f"seed {query.get('seed')!r} is not a whole number")
        state[KEY_SEED] = 0
    _fill_form(dataset, method)
    for prefix, specs, key_of in (("d.", dataset_specs(dataset), lambda n: option_key(dataset, n)),
                                  ("p.", method_specs(method), lambda n: param_key(method, n))):
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


def _sync_url(config: Dict[str, Any]) -> None:
    """Mirror the set-up in the URL (only values that differ from the recipe, to keep links short)."""
    dataset, method = config["dataset"], config["method"]
    wanted = {"dataset": dataset, "method": method, "seed": str(config["params"]["random_state"])}
    for name, spec in dataset_specs(dataset).items():
        if name in config["dataset_options"] and config["dataset_options"][name] != spec.default:
            wanted[f"d.{name}"] = to_url(config["dataset_options"][name])
    defaults = param_defaults(dataset, method)
    for name, value in config["params"].items():
        if name != "random_state" and value != defaults.get(name):
            wanted[f"p.{name}"] = to_url(value)
    if st.session_state.get(KEY_RUN):
        wanted[KEY_RUN] = st.session_state[KEY_RUN]
    current = {key: st.query_params.get(key) for key in st.query_params.keys()}
    if current != wanted:
        st.query_params.from_dict(wanted)


def sidebar_config() -> Optional[Dict[str, Any]]:
    """Draw the set-up in the sidebar and return the run config, or None (errors shown) when invalid."""
    state = st.session_state
    if not state.get(KEY_URL_DONE):
        _load_from_url()
    errors: List[str] = []
    with st.sidebar:
        st.subheader("Set-up")
        for warning in state.get(KEY_URL_WARNINGS) or []:
            st.warning(f"Ignored from the link: {warning}")
        names = [p["name"] for p in PRESETS]
        choice = st.selectbox("Preset", names, key="cfg.preset", index=None, placeholder="Choose a preset…")
        if choice:
            st.caption(next(p["why"] for p in PRESETS if p["name"] == choice))
            st.button("Apply preset", on_click=apply_preset, args=(choice,), key="cfg.apply_preset")
        dataset = st.selectbox("Dataset", list_datasets(), key=KEY_DATASET)
        st.caption(dataset_summary(dataset))
        method = st.selectbox("Method", list_methods(), key=KEY_METHOD,
                              help="Every registered method; its form is built from its typed parameters.")
        if state.get(KEY_DEFAULTS_FOR) != (dataset, method):
            _fill_form(dataset, method)  # a new combination starts from its recipe
        else:
            _fill_form(dataset, method, only_missing=True)
        seed = st.number_input("Seed", min_value=0, step=1, key=KEY_SEED,
                               help="random_state of the method: weights, batches, neighbour sampling.")
        options = {}
        with st.expander("Data options", expanded=dataset == "file"):
            if dataset == "file":
                _upload_widget(errors)
            for name, spec in dataset_specs(dataset).items():
                raw = render_widget(spec, option_key(dataset, name))
                try:
                    options[name] = from_widget(spec, raw)
                except InputError as exc:
                    errors.append(f"{dataset} {exc}")
        path_error = _server_path_refused(options.get("path"))
        if path_error:
            errors.append(path_error)
        params: Dict[str, Any] = {}
        specs = [s for s in method_specs(method).values() if s.name != "random_state"]
        with st.expander(f"{method} parameters", expanded=True):
            for spec in [s for s in specs if not s.advanced]:
                params[spec.name] = _read_param(spec, method, errors)
        advanced = [s for s in specs if s.advanced]
        if advanced:
            with st.expander("Advanced parameters"):
                for spec in advanced:
                    params[spec.name] = _read_param(spec, method, errors)
        for error in errors:
            st.error(error)
    if errors:
        return None
    if dataset == "file" and not options.get("path"):
        st.sidebar.info("Upload a data file, or type the path of one on the server, to use the 'file' dataset.")
        return None
    params["random_state"] = int(seed)
    config = {"dataset": dataset, "dataset_options": options, "method": method, "params": params}
    try:
        config = runs.validate_config(config)
        check_with_data(config)
    except DeepClustError as exc:
        st.sidebar.error(str(exc))
        return None
    _sync_url(config)
    return config


def server_paths_allowed() -> bool:
    """``$DEEPCLUST_SERVER_PATHS=0`` (for a shared classroom server): the app reads data files only from its
    own uploads folder, never from a path typed in the sidebar."""
    return os.environ.get(SERVER_PATHS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _server_path_refused(path: Optional[str]) -> Optional[str]:
    if not path or server_paths_allowed():
        return None
    uploads = (runs_dir() / UPLOADS_FOLDER).resolve()
    try:
        Path(path).expanduser().resolve().relative_to(uploads)
    except ValueError:
        return (f"This server reads data files only from uploads ({SERVER_PATHS_ENV}=0): upload the file "
                f"instead of typing a path.")
    return None


def max_upload_mb() -> float:
    """``$DEEPCLUST_MAX_UPLOAD_MB``, else 200 (the server's own limit, .streamlit/config.toml, is 200 too)."""
    try:
        return max(0.0, float(os.environ.get(MAX_UPLOAD_ENV) or DEFAULT_MAX_UPLOAD_MB))
    except ValueError:
        return DEFAULT_MAX_UPLOAD_MB


def _upload_widget(errors: List[str]) -> None:
    """A file uploader for the "file" dataset: the file is validated (datasets.store_user_file) before the
    path option points at it; a rejected file is not kept and its reason is shown."""
    from deepclust_core.datasets import USER_FILE_TYPES, store_user_file

    state = st.session_state
    limit = max_upload_mb()
    uploaded = st.file_uploader(f"Upload a data file (at most {limit:g} MB)", key=KEY_UPLOAD,
                                type=[suffix.lstrip(".") for suffix in USER_FILE_TYPES],
                                max_upload_size=max(1, math.ceil(limit)),
                                help="A .npz (array x, optional y), .npy or .csv/.tsv file. It is checked before "
                                     "use and kept in the runs folder; or type a path on the server below.")
    if uploaded is None:
        state[KEY_UPLOAD_DONE] = state[KEY_UPLOAD_RESULT] = None
        return
    label_column = state.get(option_key("file", "label_column")) or None
    token = (uploaded.file_id, label_column)
    if state.get(KEY_UPLOAD_DONE) != token:  # each upload (or label column) is checked once
        state[KEY_UPLOAD_DONE] = token
        try:
            stored = store_user_file(uploaded.name, uploaded.getvalue(), runs_dir() / UPLOADS_FOLDER,
                                     max_bytes=int(limit * 1e6), label_column=label_column)
        except InputError as exc:
            state[KEY_UPLOAD_RESULT] = {"error": f"Upload refused: {exc}"}
        else:
            state[KEY_UPLOAD_RESULT] = {"path": str(stored)}
            state[option_key("file", "path")] = str(stored)  # before the path widget is drawn below
    result = state.get(KEY_UPLOAD_RESULT) or {}
    if "error" in result:
        errors.append(result["error"])
    elif "path" in result and not state.get(option_key("file", "path")):
        state[option_key("file", "path")] = result["path"]  # the form was refilled (e.g. another method picked)


@st.cache_resource(max_entries=4, show_spinner=False)
def _checked_data(dataset: str, options: tuple, file_stamp: tuple):
    from deepclust_core.datasets import load_dataset

    return load_dataset(dataset, **dict(options))


def check_with_data(config: Dict[str, Any]) -> None:
    """The checks that need the data (N_s < n_samples, n_clusters <= n_samples, a readable file), done
    before a run is queued for data that loads in a blink; InputError says what is wrong."""
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
    create_method(config["method"], **config["params"]).check_input(data.x, data.y)


def _read_param(spec: ParamSpec, method: str, errors: List[str]) -> Any:
    raw = render_widget(spec, param_key(method, spec.name))
    try:
        return from_widget(spec, raw)
    except InputError as exc:
        errors.append(str(exc))
        return None


def config_for_method(config: Dict[str, Any], method: str, **overrides: Any) -> Dict[str, Any]:
    """The sidebar set-up carried over to another method: its recipe, then every parameter both share."""
    specs = method_specs(method)
    params = {**recipe_for(config["dataset"], method),
              **{k: v for k, v in config["params"].items() if k in specs}, **overrides}
    return {"dataset": config["dataset"], "dataset_options": dict(config["dataset_options"]), "method": method,
            "params": params}


# -------------------------------------------------------------------------------------------- runs

def run_title(run: Dict[str, Any]) -> str:
    config = run.get("config") or {}
    result = run.get("result") or {}
    score = f" · ACC {result['acc']:.3f}" if isinstance(result.get("acc"), (int, float)) else ""
    label = f" · {config['label']}" if config.get("label") else ""
    what = f"{config.get('method', '?')} on {config.get('dataset', '?')}" if config else "unreadable"
    return f"{run['id']} · {what}{label} · {run['state']}{score}"


def all_runs() -> List[Dict[str, Any]]:
    return runs.list_runs(runs_dir())


def select_run(run_id: Optional[str]) -> None:
    st.session_state[KEY_RUN] = run_id
    if run_id:
        st.query_params[KEY_RUN] = run_id


def pick_run(candidates: Sequence[Dict[str, Any]], label: str = "Run", key: str = "pick_run",
             empty: str = "No runs yet: start one on the Train page.") -> Optional[Dict[str, Any]]:
    """A select box over ``candidates`` (newest first), preselecting the app's current run."""
    if not candidates:
        st.info(empty)
        return None
    ids = [run["id"] for run in candidates]
    by_id = {run["id"]: run for run in candidates}
    state = st.session_state
    current = state.get(KEY_RUN)
    if current in ids:
        state[key] = current  # follow the run chosen on another page (set before the widget exists)
    elif state.get(key) not in ids:
        state[key] = ids[0]
    chosen = st.selectbox(label, ids, key=key, format_func=lambda i: run_title(by_id[i]),
                          on_change=lambda: select_run(state[key]))
    return by_id[chosen]


def is_active(run: Dict[str, Any]) -> bool:
    return run["state"] in runs.ACTIVE_STATES


def fresh_run(run_dir: str) -> Dict[str, Any]:
    """The run as on disk now; a run whose worker died is marked failed and the queue moves on."""
    if runs.reconcile_run(run_dir):
        jobs.schedule(Path(run_dir).parent)
    return runs.load_run(run_dir)


def show_run_state(run: Dict[str, Any]) -> None:
    """One line for the state, with the reason of a failure or a broken folder."""
    state = run["state"]
    if state == "failed":
        st.error(f"Failed: {run.get('reason') or 'no reason recorded'} (full traceback in {run['path']}/log.txt)")
    elif state == "broken":
        st.warning(f"This run folder is damaged: {run.get('reason')}")
    elif state == "stopped":
        st.info(f"Stopped: {run.get('reason') or 'on request'}; partial results are kept.")


def show_scores(result: Optional[Dict[str, Any]]) -> None:
    """ACC / NMI / ARI / time as metrics, with warnings such as a collapse."""
    if not result:
        return
    init = result.get("init_scores") or {}
    columns = st.columns(4)
    for column, key in zip(columns, ("acc", "nmi", "ari")):
        value = result.get(key)
        delta = None
        if isinstance(value, (int, float)) and isinstance(init.get(key), (int, float)):
            delta = f"{value - init[key]:+.3f} vs its start (init)"
        column.metric(key.upper(), "–" if value is None else f"{value:.4f}", delta=delta)
    columns[3].metric("Time", f"{result.get('seconds') or 0:.1f} s")
    model_start = result.get("model_start_scores") or {}
    if isinstance(init.get("acc"), (int, float)) and isinstance(model_start.get("acc"), (int, float)):
        st.caption(f"Start: its clusters scored ACC {init['acc']:.4f}; the model's own assignments before "
                   f"training, {model_start['acc']:.4f}.")
    for warning in result.get("warnings") or []:
        st.warning(warning)


# ------------------------------------------------------------------------------------- cached reading

def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(max_entries=32, show_spinner=False)
def _snapshot(run_path: str, epoch: int, mtime: float) -> Optional[Dict[str, np.ndarray]]:
    return runs.load_snapshot(run_path, epoch)


def snapshot(run: Dict[str, Any], epoch: int) -> Optional[Dict[str, np.ndarray]]:
    path = Path(run["path"]) / "snapshots" / f"epoch_{epoch:04d}.npz"
    return _snapshot(run["path"], epoch, _mtime(path))


@st.cache_data(max_entries=32, show_spinner=False)
def _artifact(run_path: str, name: str, mtime: float) -> Optional[Dict[str, np.ndarray]]:
    return runs.load_artifact(run_path, name)


def artifact(run: Dict[str, Any], name: str) -> Optional[Dict[str, np.ndarray]]:
    return _artifact(run["path"], name, _mtime(Path(run["path"]) / f"{name}.npz"))


def embedding(run: Dict[str, Any], epoch: int, method: str, latent: np.ndarray) -> tuple:
    """(coords, index) of a snapshot's latent under ``method``; t-SNE/UMAP are cached in the run's cache/."""
    if method in ("raw", "pca"):
        return viz.embed(latent, method)
    cache = Path(run["path"]) / "cache" / f"{method}_epoch_{epoch:04d}.npz"
    cached = runs.load_npz(cache)
    if cached is not None and "coords" in cached and "index" in cached:
        return cached["coords"], cached["index"]
    with st.spinner(f"Computing the {method.upper()} embedding (cached for next time)…"):
        coords, index = viz.embed(latent, method)
    try:
        runs.save_npz(cache, coords=coords, index=index)
    except OSError:
        pass  # a read-only runs folder only costs the cache
    return coords, index


# ------------------------------------------------------------------------------------------------ pages

def page(body: Callable[[], Any]) -> Any:
    """Run a page's body (see :func:`guard`), after making sure app.py ran first in this session."""
    if "config" not in st.session_state:  # opened straight into pages/<file> in the old directory mode
        st.rerun()
    return guard(body)


def guard(body: Callable[[], Any]) -> Any:
    """Run ``body`` and return its result; user errors become st.error, anything unexpected a
    one-line st.error (the traceback goes to the server log), never a traceback in the page."""
    try:
        return body()
    except DeepClustError as exc:
        st.error(str(exc))
    except Exception as exc:  # a page must survive damaged files and surprises
        traceback.print_exc()
        st.error(f"Unexpected error: {type(exc).__name__}: {exc}")
    return None


def current_config() -> Optional[Dict[str, Any]]:
    return st.session_state.get("config")


def group_runs(prefix: str) -> Dict[str, List[Dict[str, Any]]]:
    """Runs by group id for groups starting with ``prefix``, newest group first."""
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for run in all_runs():
        group = (run.get("config") or {}).get("group")
        if group and group.startswith(prefix):
            groups.setdefault(group, []).append(run)
    return dict(sorted(groups.items(), key=lambda item: item[0], reverse=True))


def pick_group(groups: Dict[str, List[Dict[str, Any]]], key: str, label: str,
               describe: Callable[[str, List[Dict[str, Any]]], str]) -> str:
    """A select box over run groups that keeps the choice (``{key}.group``) across reruns and new groups."""
    names = list(groups)
    wanted = st.session_state.get(f"{key}.group")
    if wanted in names:
        st.session_state[f"{key}.pick"] = wanted
    return st.selectbox(label, names, key=f"{key}.pick", format_func=lambda g: describe(g, groups[g]),
                        on_change=lambda: st.session_state.update({f"{key}.group": st.session_state[f"{key}.pick"]}))


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
        for run_config in configs:
            runs.validate_config(run_config)
        for run_config in configs:
            jobs.submit(runs_dir(), run_config)
    except DeepClustError as exc:
        st.session_state[f"{key}.error"] = str(exc)
        return
    st.session_state[f"{key}.error"] = None
    st.session_state[f"{key}.group"] = group


def new_group_id(prefix: str) -> str:
    return f"{prefix}-{runs.new_run_id()}"

