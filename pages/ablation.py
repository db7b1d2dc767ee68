"""Ablation: sweep the graph size N_s over several seeds as queued runs and summarise them as the paper's
Table 2 (mean ± std), with partial results while the sweep runs."""
import streamlit as st

from deepclust_core import InputError, list_methods, store, viz
from deepclust_core.config import method_specs
from pages.ui.controls import run_controls
from pages.ui.groups import cluster_setting, config_for_method, submit_group
from pages.ui.guard import callback, fragment, page
from pages.ui.pickers import group_runs, group_section
from pages.ui.presets import presets
from pages.ui.session import REFRESH_SECONDS, current_config

GROUP_PREFIX = "ablation"
KEY = "n_neighbors"


def _integers(text: str, name: str) -> list:
    try:
        values = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise InputError(f"{name} must be comma-separated whole numbers; got {text!r}.") from None
    if not values or min(values) < 0:
        raise InputError(f"{name} needs at least one value, none negative.")
    return sorted(set(values))


def graph_method(config) -> str:
    """The sidebar's method when it has N_s, else DGG."""
    if config and KEY in method_specs(config["method"]):
        return config["method"]
    return "dgg" if "dgg" in list_methods() else next(m for m in list_methods() if KEY in method_specs(m))


def start_sweep(values_text: str, seeds_text: str) -> None:
    def build(config, group):
        values, seeds = _integers(values_text, "N_s values"), _integers(seeds_text, "Seeds")
        method = graph_method(config)
        # seeds inside N_s: each N_s gets a first number early
        return [{**config_for_method(config, method, n_neighbors=value, random_state=seed),
                 "group": group, "label": f"N_s={value} seed={seed}"} for value in values for seed in seeds]

    submit_group("ablation", build, GROUP_PREFIX)


def rows_of(members):
    rows = []
    for run in members:
        params = run.config.get("params") or {}
        result = run.result or {}
        finished = run.state == "finished"
        rows.append({KEY: params.get(KEY), "seed": params.get("random_state"), "state": run.state,
                     **{m: result.get(m) if finished else None for m in ("acc", "nmi", "ari")}})
    return rows


def summary_panel(group: str, was_active: bool) -> None:
    members = [store.load_run(run.path) if run.active else run for run in group_runs(GROUP_PREFIX).get(group, [])]
    active = any(run.active for run in members)
    if was_active and not active:
        st.rerun()
    rows = rows_of(members)
    done = sum(row["acc"] is not None for row in rows)
    st.progress(done / max(1, len(rows)), text=f"{done} of {len(rows)} runs finished"
                + (f" · {sum(r['state'] == 'failed' for r in rows)} failed" if any(r['state'] == 'failed' for r in rows)
                   else ""))
    summary = viz.summarize_ablation(rows, key=KEY)
    table = summary[[KEY, "runs", "done", "acc", "nmi", "ari"]].rename(
        columns={KEY: "N_s", "acc": "ACC %", "nmi": "NMI %", "ari": "ARI %"})
    st.dataframe(table, hide_index=True)
    dataset = members[0].config.get("dataset") if members else None
    reference = presets().paper_table2_acc if dataset == "mnist" else None
    st.plotly_chart(viz.ablation_plot(summary, key=KEY, metrics=("acc", "nmi"), reference=reference, x_title="N_s",
                                      title="Mean ± std over seeds" + (" (◇ paper, Table 2)" if reference else "")),
                    key="ablation.plot")
    with st.expander("Individual runs"):
        st.dataframe(rows, hide_index=True)


def body() -> None:
    st.title("Ablation: graph size N_s")
    st.caption("Each (N_s, seed) pair is one queued run with the sidebar set-up; N_s = 0 is VaDE. Runs are trained "
               "one after the other (or DEEPCLUST_MAX_JOBS at a time), or all at once on a Ray cluster, so the table "
               "fills in as they finish. The same sweep from a terminal: `python -m deepclust_core sweep`.")
    config = current_config()
    method = graph_method(config)
    st.markdown(f"Method: **{method}** on **{(config or {}).get('dataset', '?')}**")
    controls = st.columns([2, 2, 2, 1])
    values_text = controls[0].text_input("N_s values", "0,1,3,10,20,30", key="ablation.values")
    seeds_text = controls[1].text_input("Seeds", "0,1,2", key="ablation.seeds")
    cluster_setting(controls[2])
    controls[3].button("Queue sweep", type="primary", on_click=callback(start_sweep), args=(values_text, seeds_text),
                       disabled=config is None, key="ablation.start")
    chosen = group_section(GROUP_PREFIX, "ablation", "Sweep", lambda g, members: (
        f"{g} · {len(members)} runs · {members[0].config.get('dataset', '?')}"),
        "No sweep yet. A small one to try: N_s values 0,10 and seeds 0,1 with the moons quick-demo preset.")
    if chosen is None:
        return
    group, members = chosen
    active = any(run.active for run in members)
    fragment(summary_panel, run_every=REFRESH_SECONDS * 2 if active else None)(group, active)
    if active:
        st.caption("For every active run of the sweep at once:")
        run_controls(members, key="ablation")


page(body)
