"""Compare: one click starts VaDE and DGG on the same data and seed (they share the cached pretrained
autoencoder and initial GMM), then shows their data, latent spaces and scores side by side."""
import streamlit as st

from deepclust_core import config as dconfig
from deepclust_core import list_methods, store, viz
from pages.ui import readers
from pages.ui.controls import run_controls
from pages.ui.groups import cluster_setting, config_for_method, submit_group
from pages.ui.guard import callback, fragment, page
from pages.ui.pickers import group_section, show_run_state
from pages.ui.presets import apply_preset, presets
from pages.ui.session import REFRESH_SECONDS, current_config

GROUP_PREFIX = "compare"


def start_comparison(methods, n_neighbors: int) -> None:
    def build(config, group):
        configs = []
        for method in methods:
            overrides = {"n_neighbors": n_neighbors} if "n_neighbors" in dconfig.method_specs(method) else {}
            configs.append({**config_for_method(config, method, **overrides), "group": group,
                            "label": f"compare: {method}"})
        return configs

    submit_group("compare", build, GROUP_PREFIX)


def _panels_of(run):
    """(latent panel or None, input-space panel or None) of one run, for viz.compare_figure."""
    method = run.config.get("method", "?")
    epochs = store.list_snapshots(run.path)
    snapshot = readers.snapshot(run, epochs[-1]) if epochs else None
    latent_panel = input_panel = None
    if snapshot is not None:
        predicted, true = snapshot.get("predicted"), snapshot.get("true")
        matched = predicted is not None and true is not None
        gmm = ({"means": snapshot["gmm_means"], "variances": snapshot["gmm_variances"]}
               if "gmm_means" in snapshot else None)
        latent_panel = {"title": f"{method}: latent (epoch {int(snapshot['epoch'])})", "points": snapshot["latent"],
                        "labels": viz.align_labels(predicted, true) if matched else predicted, "gmm": gmm,
                        "component_colours": viz.label_mapping(predicted, true) if matched else None}
    final = readers.artifact(run, "labels")
    inputs = readers.artifact(run, "inputs")
    if inputs is not None and final is not None:
        true = final.get("true")
        graph = readers.artifact(run, "graph")
        input_panel = {"title": f"{method}: data coloured by its clusters", "points": inputs["x"],
                       "labels": viz.align_labels(final["labels"], true) if true is not None else final["labels"],
                       "true_labels": true, "neighbors": None if graph is None else graph["indices"]}
    return latent_panel, input_panel


def panels(members, was_active: bool) -> None:
    fresh = [store.load_run(run.path) for run in members]
    if was_active and not any(run.active for run in fresh):
        st.rerun()
    columns = st.columns(len(fresh))
    for column, run in zip(columns, fresh):
        with column:
            method = run.config.get("method", "?")
            st.markdown(f"#### {method} · {run.state}")
            show_run_state(run)
            result = run.result or {}
            scores = [f"{k.upper()} {result[k]:.3f}" for k in ("acc", "nmi", "ari")
                      if isinstance(result.get(k), (int, float))]
            progress = run.progress
            if scores:
                st.markdown(" · ".join(scores))
            elif progress:
                st.caption(f"{progress.get('phase')} epoch {progress.get('epoch')}/{progress.get('n_epochs')}")
    pairs = [_panels_of(run) for run in fresh]
    latent_panels = [latent for latent, _ in pairs if latent is not None]
    input_panels = [inputs for _, inputs in pairs if inputs is not None]
    if input_panels:
        st.plotly_chart(viz.compare_figure(input_panels), key="compare.inputs")
    if latent_panels:
        st.plotly_chart(viz.compare_figure(latent_panels), key="compare.latents")
    series = {run.config.get("method", run.id): store.read_metrics(run.path) for run in fresh}
    if any(series.values()):
        st.plotly_chart(viz.runs_curves(series, "acc", title="ACC during training"), key="compare.curves")


def body() -> None:
    st.title("Compare")
    st.caption("Starts the methods on the same data, seed, architecture and pretraining schedule, taken from the "
               "sidebar, so they begin from the same pretrained autoencoder and initial GMM.")
    available_presets = presets()
    for column, name in zip(st.columns(len(available_presets.compare)), available_presets.compare):
        column.button(f"Preset: {name}", on_click=callback(apply_preset), args=(name,), key=f"compare.preset.{name}",
                      help=available_presets.get(name).why)
    available = list_methods()
    defaults = [m for m in ("vade", "dgg") if m in available]
    controls = st.columns([3, 1, 1, 1])
    methods = controls[0].multiselect("Methods", available, default=defaults, key="compare.methods")
    config = current_config()
    default_ns = int((config or {}).get("params", {}).get("n_neighbors") or
                     dconfig.resolve_params((config or {}).get("dataset", "moons"), "dgg").get("n_neighbors", 20))
    n_neighbors = controls[1].number_input("N_s (graph methods)", min_value=0, value=default_ns, step=1,
                                           key="compare.ns")
    cluster_setting(controls[3])
    controls[2].button("Start comparison", type="primary", on_click=callback(start_comparison), args=(methods, n_neighbors),
                       disabled=config is None or len(methods) < 2, key="compare.start")
    chosen = group_section(GROUP_PREFIX, "compare", "Comparison", lambda g, members: (
        f"{g} · {members[0].config.get('dataset', '?')} · {', '.join(sorted(r.state for r in members))}"),
        "No comparison yet: pick a preset (or your own set-up) and press Start comparison.")
    if chosen is None:
        return
    members = sorted(chosen[1], key=lambda run: run.config.get("method", ""), reverse=True)
    active = any(run.active for run in members)
    run_controls(members, key="compare")  # Pause, Resume, Step, Stop for both runs at once
    fragment(panels, run_every=REFRESH_SECONDS * 2 if active else None)(members, active)
    first = members[0].config
    st.caption(f"Data: {first.get('dataset')} {first.get('dataset_options')} · runs in {members[0].runs_dir}")


page(body)
