"""Train: start a run with the sidebar set-up, watch its losses and scores live, stop it, read the result."""
import time

import streamlit as st

from deepclust_core import DeepClustError, jobs, store, viz
from pages.ui.controls import run_controls
from pages.ui.guard import callback, fragment, page
from pages.ui.live import live_figure
from pages.ui.pickers import all_runs, pick_run, show_run_state, show_scores
from pages.ui.session import REFRESH_SECONDS, current_config, runs_dir, select_run

REPEAT_SECONDS = 3.0  # the same set-up submitted again within this time is a repeated click


def start_run() -> None:
    config = current_config()
    if config is None:
        st.session_state["train.error"] = "Fix the set-up in the sidebar first."
        return
    last = st.session_state.get("train.last_submit")
    if last is not None and last[0] == config and time.monotonic() - last[1] < REPEAT_SECONDS:
        return  # a double (or triple) click queues one run, not several
    try:
        run_id = jobs.submit(runs_dir(), config)
    except DeepClustError as exc:
        st.session_state["train.error"] = str(exc)
        return
    st.session_state["train.last_submit"] = (config, time.monotonic())
    st.session_state["train.error"] = None
    select_run(run_id)
    st.toast(f"Run {run_id} submitted.")


def live_panel(run_path, was_active: bool) -> None:
    """Progress, latest numbers and curves of one run (refreshed by the fragment while it trains)."""
    run = store.load_run(run_path)
    if was_active and not run.active:
        st.rerun()  # it just ended: redraw the whole page once, then stop refreshing
    records = store.read_metrics(run.path)
    progress = run.progress
    if run.state == "queued":
        st.progress(0.0, text="Queued: waiting for a free worker slot…")
    elif progress:
        phase, epoch, total = progress.get("phase"), progress.get("epoch", 0), max(1, progress.get("n_epochs", 1))
        fraction = min(1.0, epoch / total)
        text = f"{run.state}: {phase} epoch {epoch}/{total}"
        if run.state == "running" and phase == "pretrain" and epoch == total:
            text += " · initialising the GMM prior (and graph, classifier)…"
        st.progress(fraction, text=text)
    elif run.state == "running":
        st.progress(0.0, text="Starting: loading the data and the model…")
    train = [r for r in records if r.get("phase") == "train"]
    if train:
        last = train[-1]
        columns = st.columns(5)
        for column, key in zip(columns, ("loss", "acc", "nmi", "ari", "clusters_used")):
            value = last.get(key)
            column.metric(key.upper() if key in ("acc", "nmi", "ari") else key.replace("_", " "),
                          "–" if value is None else f"{value:.4g}")
        left, right = st.columns(2)
        with left:
            version, running = (run.id, run.active, len(train)), run.state == "running"  # rebuilt at most every 3 s
            st.plotly_chart(live_figure("train.scores", version, lambda: viz.metric_curves(
                train, title="Scores (against the true labels)"), throttle=running), key="train.scores")
            if "mixture_agreement" in last:
                st.caption("Dashed: DGG's Gaussian mixture on its own — the ACC of its posterior q(c|μ), and the "
                           "share of samples where it agrees with f2. Training pulls f2 towards the mixture and the "
                           "latent towards f2: when they disagree, f2's accuracy moves towards the mixture's.")
        with right:
            st.plotly_chart(live_figure("train.losses", version, lambda: viz.loss_curves(train, title="Loss terms"),
                                        throttle=running), key="train.losses")
    elif records:
        st.plotly_chart(viz.loss_curves(records, keys=("loss",), phase="pretrain", title="Pretraining loss"),
                        key="train.pretrain")


def body() -> None:
    st.title("Train")
    st.caption("Starts a run with the set-up in the sidebar. Training happens in a separate process: you can "
               "leave this page or close the tab, the run goes on and its results stay on disk.")
    config = current_config()
    left, right = st.columns([1, 3])
    left.button("Start run", type="primary", on_click=callback(start_run), disabled=config is None, key="train.start")
    if config is not None:
        right.caption(f"**{config['method']}** on **{config['dataset']}** · seed {config['params']['random_state']} · "
                      f"{config['params'].get('epochs', '?')} epochs (+{config['params'].get('pretrain_epochs', 0)} "
                      "pretraining)")
    if st.session_state.get("train.error"):
        st.error(st.session_state["train.error"])

    run = pick_run(all_runs(), key="train.pick")
    if run is None:
        return
    show_run_state(run)
    run_controls([run], key="train")  # Pause, Resume, Step, Stop while it is active
    if run.state != "broken":
        fragment(live_panel, run_every=REFRESH_SECONDS if run.active else None)(run.path, run.active)
    if run.state in ("finished", "stopped") and run.result:
        st.subheader("Result")
        show_scores(run.result)
        keys = ("graph_cross_fraction", "mixture_agreement", "pretrain_cached", "clusters_used")
        extra = {k: run.result[k] for k in keys if k in run.result}
        if extra:
            st.caption(" · ".join(f"{k.replace('_', ' ')}: {v:.3g}" if isinstance(v, float) else
                                  f"{k.replace('_', ' ')}: {v}" for k, v in extra.items()))
        st.page_link("pages/latent.py", label="Open its latent space", icon=":material/scatter_plot:")
    with st.expander("Configuration"):
        st.json(run.config or {}, expanded=False)
        st.caption(f"Folder: {run.path}")


page(body)
