"""Playground (the landing page): the data drawn at once, the paper's knobs up front, Start, and live views
while the run trains — data by predicted cluster over the decision regions, the latent with the mixture's
ellipses, ACC/NMI and losses, DGG's edges across clusters — with Pause / Resume / Step / Stop, a click on a
point for its neighbours, γ and reconstruction, a replay afterwards, an Explain column, and the papers'
figures in one click."""
import streamlit as st

from deepclust_core import DeepClustError, jobs, store, viz
from pages.ui import readers
from pages.ui.controls import run_controls
from pages.ui.explain import show_explain
from pages.ui.figures import FIG1_PREFIX, queue_fig1, queue_table2
from pages.ui.guard import callback, fragment, guard, page
from pages.ui.live import data_preview, point_details, replay, run_panels
from pages.ui.session import KEY_CONFIG, current_config, runs_dir, select_run
from pages.ui.sidebar import sidebar_config

LEAD = ("n_clusters", "n_neighbors", "lam", "epochs")  # + method and seed: the knobs the papers are about
LIVE_SECONDS = 3.0  # redraw period of the live views while a run trains (see pages.ui.live: each redraw costs CPU)
KEY_PLAY_RUN, KEY_GROUP, KEY_POINT = "play.run", "play.group", "play.point"


def start() -> None:
    config = current_config()
    if config is None:
        st.session_state["play.error"] = "Fix the set-up first."
        return
    try:
        run_id = jobs.submit(runs_dir(), config)
    except DeepClustError as exc:
        st.session_state["play.error"] = str(exc)
        return
    st.session_state.update({"play.error": None, KEY_PLAY_RUN: run_id, KEY_GROUP: None, KEY_POINT: None})
    select_run(run_id)


def start_fig1() -> None:
    queue_fig1()
    st.session_state.update({KEY_PLAY_RUN: None, KEY_POINT: None})


def back_to_data() -> None:
    st.session_state.update({KEY_PLAY_RUN: None, KEY_GROUP: None, KEY_POINT: None})


def _load(run_id):
    try:
        path = store.resolve_run_dir(runs_dir(), run_id) if run_id else None
    except DeepClustError:
        return None
    return store.load_run(path) if path is not None and path.is_dir() else None


def live_run(run_id: str, was_active: bool) -> None:
    """One run's controls and panels, redrawn by the fragment while it trains."""
    run = _load(run_id)
    if run is None:
        st.warning(f"Run {run_id} is gone.")
        return
    if was_active and not run.active:
        st.rerun()  # it just ended: redraw once (replay, result), then stop refreshing
    run_controls([run], key="play")
    clicked = run_panels(run, key="play")
    if clicked is not None:
        st.session_state[KEY_POINT] = clicked
    if st.session_state.get(KEY_POINT) is not None:
        point_details(run, st.session_state[KEY_POINT])
    else:
        st.caption("Click a point in the data or the latent to see its graph neighbours, γ and reconstruction.")


def live_group(group: str, was_active: bool) -> None:
    """Fig. 1: the runs of a group side by side, live."""
    members = sorted((run for run in store.list_runs(runs_dir()) if (run.config or {}).get("group") == group),
                     key=lambda run: run.config.get("method", ""), reverse=True)  # vade, then dgg
    if was_active and not any(run.active for run in members):
        st.rerun()
    st.markdown("#### Fig. 1: the same data, pretrained autoencoder and seed; VaDE (left) and DGG (right)")
    run_controls(members, key="play.fig1")
    for column, run in zip(st.columns(max(1, len(members))), members):
        with column:
            run_panels(run, key=f"play.fig1.{run.config.get('method')}", compact=True)
            result = run.result or {}
            if isinstance(result.get("acc"), (int, float)):
                st.markdown(f"ACC {result['acc']:.3f} · NMI {result['nmi']:.3f}")


def after_run(run) -> None:
    """Result, replay and Fig. 2 (traversals with variance bars) of an ended run."""
    result = run.result or {}
    if run.state == "failed":
        st.error(f"Failed: {run.reason}")
        return
    if isinstance(result.get("acc"), (int, float)):
        init = (result.get("init_scores") or {}).get("acc")
        st.success(f"{run.state}: ACC {result['acc']:.3f} · NMI {result['nmi']:.3f} · {result.get('seconds', 0):.1f} s"
                   + (f" (its start: ACC {init:.3f})" if isinstance(init, (int, float)) else ""))
    replay(run, key="play")
    traversals = readers.artifact(run, "traversals")
    if traversals is not None and "variances" in traversals:
        with st.expander("Fig. 2: traversals and the variance of each latent dimension"):
            variances, dims = traversals["variances"], traversals["dims"]
            component = st.selectbox("Component", list(range(len(variances))), key="play.fig2.component")
            st.plotly_chart(viz.variance_bars(variances[component], highlight=list(dims[component]),
                                              title=f"σ² per latent dimension, component {component}"),
                            key="play.fig2.bars")
            st.page_link("pages/traversals.py", label="Open the traversals", icon=":material/swap_horiz:")


def views(config) -> None:
    state = st.session_state
    group, run_id = state.get(KEY_GROUP), state.get(KEY_PLAY_RUN)
    if group and str(group).startswith(FIG1_PREFIX):
        active = any(run.active for run in store.list_runs(runs_dir()) if (run.config or {}).get("group") == group)
        st.button("Back to the data", on_click=callback(back_to_data), key="play.back")
        fragment(live_group, run_every=LIVE_SECONDS if active else None)(group, active)
        return
    run = _load(run_id)
    if run is None:
        data_preview(config)
        return
    st.button("Back to the data", on_click=callback(back_to_data), key="play.back")
    fragment(live_run, run_every=LIVE_SECONDS if run.active else None)(run.id, run.active)
    if not run.active:
        after_run(run)


def body() -> None:
    st.title("Playground")
    st.caption("Pick the data and a method, press Start and watch it learn: every view follows the run while it "
               "trains (in its own process; leaving the page does not stop it).")
    setup, main, explain = st.columns([1.1, 3.2, 1.5])
    config = guard(lambda: sidebar_config(container=setup, lead=LEAD))
    st.session_state[KEY_CONFIG] = config
    with setup:
        st.button("Start", type="primary", on_click=callback(start), disabled=config is None, key="play.start")
        st.button("Fig. 1: VaDE vs DGG", on_click=callback(start_fig1), disabled=config is None, key="play.fig1.start",
                  help="Queues VaDE and DGG at once on this data, seed and pretraining (the same cached "
                       "autoencoder), and shows their live views side by side.")
        st.button("Table 2: N_s sweep", on_click=callback(queue_table2), disabled=config is None, key="play.table2.start",
                  help="Queues DGG with N_s = 0, 1, 3, 10, 20, 30 over seeds 0-2 (18 runs); the Ablation page "
                       "fills in the table beside the paper's numbers as runs finish.")
        if st.session_state.get("play.table2.group"):
            st.page_link("pages/ablation.py", label="Table 2 on the Ablation page", icon=":material/table:")
        for key in ("play.error", "play.table2.error"):
            if st.session_state.get(key):
                st.error(st.session_state[key])
    with main:
        views(config)
    with explain:
        show_explain((config or {}).get("method", "dgg"))


page(body)
