"""The data-file uploader of the "file" dataset, and the classroom rule for typed paths.

An upload is validated (:func:`deepclust_core.datasets.store_user_file`) before the path option points at
it; a rejected file is not kept and its reason is shown. ``$DEEPCLUST_MAX_UPLOAD_MB`` and
``$DEEPCLUST_SERVER_PATHS`` are read through :mod:`deepclust_core.settings`; a value it cannot parse is a
sidebar error, not a crash."""
from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional

import streamlit as st

from deepclust_core import InputError, settings, store

from .session import KEY_UPLOAD, KEY_UPLOAD_DONE, KEY_UPLOAD_RESULT, option_key, runs_dir


def upload_widget(errors: List[str]) -> None:
    """A file uploader for the "file" dataset; what goes wrong is appended to ``errors``."""
    from deepclust_core.datasets import USER_FILE_TYPES, store_user_file

    state = st.session_state
    try:
        limit = settings.max_upload_mb()
    except InputError as exc:  # a misconfigured server: say so instead of guessing a limit
        errors.append(f"Uploads are off: {exc}")
        return
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
            stored = store_user_file(uploaded.name, uploaded.getvalue(), store.uploads_dir(runs_dir()),
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


def server_path_refused(path: Optional[str]) -> Optional[str]:
    """Why a typed data path is refused (``$DEEPCLUST_SERVER_PATHS=0``: a shared classroom server reads data
    files only from its own uploads folder), or None."""
    if not path:
        return None
    try:
        if settings.server_paths_allowed():
            return None
    except InputError as exc:  # unparsable: refuse, the safe side for a shared server
        return f"Typed paths are refused: {exc}"
    uploads = store.uploads_dir(runs_dir()).resolve()
    try:
        Path(path).expanduser().resolve().relative_to(uploads)
    except ValueError:
        return (f"This server reads data files only from uploads ({settings.SERVER_PATHS_ENV}=0): upload the "
                "file instead of typing a path.")
    return None
