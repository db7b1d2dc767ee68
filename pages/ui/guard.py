"""Error handling of the pages: :func:`page` runs a page's body, :func:`guard` any piece of it, so a user error
becomes an ``st.error`` and anything unexpected a one-line ``st.error`` (traceback in the server log), never
a traceback in the page. Also switches off Streamlit's old "pages directory" mode (see below)."""
from __future__ import annotations

import functools
import traceback
from typing import Any, Callable, Optional

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


def _message(exc: Exception) -> str:
    if isinstance(exc, DeepClustError):
        return str(exc)
    traceback.print_exc()  # the server log keeps the traceback
    text = " ".join(str(exc).split())
    return f"Unexpected error: {type(exc).__name__}: {text[:300]}"


def guard(body: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``body`` and return its result; user errors become st.error, anything unexpected a
    one-line st.error (the traceback goes to the server log), never a traceback in the page."""
    try:
        return body(*args, **kwargs)
    except Exception as exc:  # a page must survive damaged files and surprises (st.rerun/st.stop pass through:
        st.error(_message(exc))  # they are not Exceptions)
    return None


def fragment(body: Optional[Callable[..., Any]] = None, *, run_every: Optional[float] = None) -> Callable[..., Any]:
    """``st.fragment(run_every=...)`` around ``body``, with the body under :func:`guard`: a damaged file read
    by a live panel becomes a message in the panel, not a traceback. Use as
    ``guard.fragment(panel, run_every=2)(args...)``."""
    def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            return guard(function, *args, **kwargs)
        return st.fragment(run_every=run_every)(guarded)
    return wrap(body) if body is not None else wrap


def callback(function: Callable[..., Any]) -> Callable[..., Any]:
    """A widget callback (``on_click``/``on_change``) under the guard: Streamlit runs callbacks before the
    page, outside :func:`page`, so an error there would otherwise be a traceback."""
    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        return guard(function, *args, **kwargs)
    return guarded
