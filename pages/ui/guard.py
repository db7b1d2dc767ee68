"""Error handling of the pages: :func:`page` runs a page's body, :func:`guard` any piece of it, so a user error
becomes an ``st.error`` and anything unexpected a one-line ``st.error`` (traceback in the server log), never
a traceback in the page. Also switches off Streamlit's old "pages directory" mode (see below)."""
from __future__ import annotations

import traceback
from typing import Any, Callable

import streamlit as st

from deepclust_core import DeepClustError

# A pages/ folder next to app.py makes a fresh Streamlit server start in its old "pages directory" mode
# until st.navigation first runs; a first visit to e.g. /latent would then run pages/latent.py without
# app.py (no sidebar, "ui" modules listed as pages) for the whole process. This module is imported by
# app.py and every page, so switching the mode off here (and rerunning once, see page()) always lands in
# app.py. PagesManager is internal to Streamlit: if it moves, only that first-visit corner case comes back.
try:
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
except (ImportError, AttributeError):
    pass


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
