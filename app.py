"""deepclust: an interactive lab for deep clustering (DGG, VaDE and baselines).

    streamlit run app.py        # runs are stored under $DEEPCLUST_RUNS (default ./runs)

The shared set-up lives in the sidebar (drawn here, so it is the same on every page and mirrored in
the URL); each page in pages/ reads it from st.session_state["config"]. The Playground (the landing page)
draws the same set-up itself, beside its views, with the paper's knobs up front. Training happens in separate
worker processes (deepclust_core.jobs); the app only submits runs and reads the disk.
The pages' shared code is in pages/ui/ (one job per module), their presets in assets/presets.json.
"""
import streamlit as st

from pages.ui.guard import guard
from pages.ui.session import KEY_CONFIG, ensure_started
from pages.ui.sidebar import sidebar_config

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
