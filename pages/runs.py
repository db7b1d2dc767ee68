"""Runs: every run on disk with its configuration and scores; open, compare, stop, delete, export."""
import json
import time

import numpy as np
import pandas as pd
import streamlit as st

from deepclust_core import DeepClustError, jobs, store, viz
from pages.ui import readers
from pages.ui.form import apply_config
from pages.ui.guard import callback, page
from pages.ui.pickers import all_runs, pick_run, run_title, show_run_state, show_scores
from pages.ui.session import KEY_RUN, runs_dir, select_run


def table(listed) -> pd.DataFrame:
    rows = []
    for run in listed:
        config = run.config or {}
        result = run.result or {}
        progress = run.progress
        created = run.created
        rows.append({
            "id": run.id, "state": run.state,
            "method": config.get("method"), "dataset": config.get("dataset"),
            "label": config.get("label") or config.get("group") or "",
            "progress": f"{progress.get('phase', '')} {progress.get('epoch', '')}/{progress.get('n_epochs', '')}"
            if progress else "",
            **{key.upper(): result.get(key) for key in ("acc", "nmi", "ari")},
            "seconds": _seconds(result.get("seconds")),
            "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created)) if created else "",
            "reason": run.reason or "",
        })
    return pd.DataFrame(rows)


def _seconds(value):
    """Seconds to one decimal (18.4), or None when absent or not a number."""
    return round(float(value), 1) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def metrics_csv(records) -> bytes:
    return pd.DataFrame(records).to_csv(index=False).encode()


def labels_csv(labels) -> bytes:
    frame = pd.DataFrame({"index": np.arange(len(labels["labels"])), "label": labels["labels"]})
    if "true" in labels:
        frame["true_label"] = labels["true"]
    return frame.to_csv(index=False).encode()


def open_page(run_id: str, target: str) -> None:
    select_run(run_id)
    st.switch_page(target)


def delete(run_id: str) -> None:
    try:
        store.delete_run(runs_dir(), run_id)
        store.prune_uploads(runs_dir())  # its upload goes too once no run uses it and it is old
        st.session_state["runs.message"] = f"Deleted run {run_id}."
        if st.session_state.get(KEY_RUN) == run_id:
            select_run(None)
    except DeepClustError as exc:
        st.session_state["runs.message"] = f"Could not delete: {exc}"


def details(run) -> None:
    st.subheader(run_title(run))
    show_run_state(run)
    if run.state in ("finished", "stopped"):
        show_scores(run.result)
    buttons = st.columns(6)
    if run.state != "broken":
        buttons[5].button("Use this set-up", key="runs.use", on_click=callback(apply_config), args=(run.config,),
                          help="Load this run's dataset, method and parameters into the sidebar.")
        if buttons[0].button("Open in Train", key="runs.open.train"):
            open_page(run.id, "pages/train.py")
        if buttons[1].button("Latent space", key="runs.open.latent", disabled=not store.list_snapshots(run.path)):
            open_page(run.id, "pages/latent.py")
        if buttons[2].button("Traversals", key="runs.open.traversals",
                             disabled=not readers.has_artifact(run, "traversals")):
            open_page(run.id, "pages/traversals.py")
    if run.active:
        if buttons[3].button("Stop", key="runs.stop"):
            jobs.stop(run.path)
            st.rerun()
    else:
        confirm = buttons[4].checkbox("confirm", key=f"runs.confirm.{run.id}", help="Tick, then press Delete.")
        buttons[3].button("Delete", key="runs.delete", disabled=not confirm, on_click=callback(delete), args=(run.id,))
    if run.state == "broken":
        return
    records = store.read_metrics(run.path)
    downloads = st.columns(4)
    downloads[0].download_button("Metrics CSV", metrics_csv(records), f"{run.id}_metrics.csv", "text/csv",
                                 disabled=not records, key="runs.dl.metrics_csv")
    downloads[1].download_button("Metrics JSON", json.dumps(records, indent=1), f"{run.id}_metrics.json",
                                 "application/json", disabled=not records, key="runs.dl.metrics_json")
    labels = readers.artifact(run, "labels")
    downloads[2].download_button("Labels CSV", labels_csv(labels) if labels is not None else b"",
                                 f"{run.id}_labels.csv", "text/csv", disabled=labels is None,
                                 key="runs.dl.labels")
    summary = {"config": run.config, "status": run.status, "result": run.result}
    downloads[3].download_button("Run JSON", json.dumps(summary, indent=1, default=str), f"{run.id}.json",
                                 "application/json", key="runs.dl.run")
    with st.expander("Configuration and status"):
        st.json(summary, expanded=False)


def compare(listed) -> None:
    st.subheader("Compare runs")
    by_id = {run.id: run for run in listed if run.state != "broken"}
    chosen = st.multiselect("Runs", list(by_id), format_func=lambda i: run_title(by_id[i]),
                            key="runs.compare", max_selections=8)
    if len(chosen) < 2:
        st.caption("Pick two or more runs to compare their curves and scores.")
        return
    series = {f"{by_id[i].config.get('method')} {i[-6:]}": store.read_metrics(by_id[i].path) for i in chosen}
    left, right = st.columns(2)
    left.plotly_chart(viz.runs_curves(series, "acc", title="ACC"), key="runs.cmp.acc")
    right.plotly_chart(viz.runs_curves(series, "loss", title="Loss"), key="runs.cmp.loss")
    st.dataframe(table([by_id[i] for i in chosen]).drop(columns=["reason"]), hide_index=True)


def body() -> None:
    st.title("Runs")
    directory = runs_dir()
    listed = all_runs()  # reading only: the jobs supervisor marks dead workers and moves the queue on
    st.caption(f"{len(listed)} runs in {directory} (set DEEPCLUST_RUNS to use another folder).")
    message = st.session_state.pop("runs.message", None)
    if message:
        st.info(message)
    if not listed:
        st.info("No runs yet: start one on the Train page.")
        return
    frame = table(listed)
    st.dataframe(frame, hide_index=True, column_config={
        key: st.column_config.NumberColumn(key, format="%.4f") for key in ("ACC", "NMI", "ARI")})
    st.download_button("Export this table (CSV)", frame.to_csv(index=False).encode(), "runs.csv", "text/csv",
                       key="runs.dl.table")
    run = pick_run(listed, label="Open a run", key="runs.pick")
    if run is not None:
        details(run)
    compare(listed)


page(body)
