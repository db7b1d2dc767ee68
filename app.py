"""deepclust: an interactive lab for deep clustering (DGG, VaDE and baselines).

    python app.py               # or `streamlit run app.py`; runs are stored under $DEEPCLUST_RUNS (./runs)

``python app.py`` loads the library before the server opens (the first page is then drawn without waiting for
PyTorch and scikit-learn to import); ``streamlit run app.py`` imports them in the first visitor's session.

The shared set-up lives in the sidebar (drawn here, so it is the same on every page and mirrored in
the URL); each page in pages/ reads it from st.session_state["config"]. The Playground (the landing page)
draws the same set-up itself, beside its views, with the paper's knobs up front. Training happens in separate
worker processes (deepclust_core.jobs); the app only submits runs and reads the disk.
The pages' shared code is in pages/ui/ (one job per module), their presets in assets/presets.json.
"""
import sys

import streamlit as st
from streamlit import runtime


def serve() -> None:
    """``python app.py [streamlit options]``: load the library (PyTorch, scikit-learn, the methods: ~3 s) before
    the server opens, so the first visitor does not wait for it, then serve this file as ``streamlit run`` does
    in this same process."""
    import importlib

    from streamlit.web import cli

    for module in ("deepclust_core.jobs", "deepclust_core.viz"):  # the methods, the run store, the queue, figures
        importlib.import_module(module)

    sys.argv = ["streamlit", "run", __file__, *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__" and not runtime.exists():  # `python app.py`, not a session of the running server
    serve()

from pages.ui.guard import guard  # noqa: E402
from pages.ui.session import KEY_CONFIG, ensure_started  # noqa: E402
from pages.ui.sidebar import sidebar_config  # noqa: E402

st.set_page_config(page_title="deepclust", page_icon=":material/scatter_plot:", layout="wide")

PLAYGROUND = st.Page("pages/playground.py", title="Playground", icon=":material/play_circle:", default=True)
PAGES = [
    PLAYGROUND,
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/latent.py", title="Latent space", icon=":material/scatter_plot:"),
    st.Page("pages/traversals.py", title="Traversals", icon=":material/swap_horiz:"),
    st.Page("pages/samples.py", title="Generated samples", icon=":material/grid_view:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("pages/ablation.py", title="Ablation", icon=":material/stacked_line_chart:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/list:"),
]

page = st.navigation(PAGES)
ensure_started()
if page.title == PLAYGROUND.title:  # the Playground draws the set-up beside its views
    st.session_state[KEY_CONFIG] = st.session_state.get(KEY_CONFIG)
else:
    st.session_state[KEY_CONFIG] = guard(sidebar_config)
page.run()
