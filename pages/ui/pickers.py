"""Choosing and describing runs: the run list, the run picker every run page shares (it follows the run chosen
on another page), run groups (comparisons, sweeps) and their picker, a run's title, state and scores.

Runs are :class:`deepclust_core.store.Run` records read from disk; reading never starts anything."""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import streamlit as st

from deepclust_core import store

from .guard import callback
from .session import KEY_RUN, runs_dir, select_run


def all_runs() -> List[store.Run]:
    """Every run in the runs folder, newest first."""
    return store.list_runs(runs_dir())


def run_title(run: store.Run) -> str:
    config = run.config or {}
    result = run.result or {}
    score = f" · ACC {result['acc']:.3f}" if isinstance(result.get("acc"), (int, float)) else ""
    label = f" · {config['label']}" if config.get("label") else ""
    what = f"{config.get('method', '?')} on {config.get('dataset', '?')}" if config else "unreadable"
    return f"{run.id} · {what}{label} · {run.state}{score}"


def pick_run(candidates: Sequence[store.Run], label: str = "Run", key: str = "pick_run",
             empty: str = "No runs yet: start one on the Train page.") -> Optional[store.Run]:
    """A select box over ``candidates`` (newest first), preselecting the app's current run."""
    if not candidates:
        st.info(empty)
        return None
    ids = [run.id for run in candidates]
    by_id = {run.id: run for run in candidates}
    state = st.session_state
    current = state.get(KEY_RUN)
    if current in ids:
        state[key] = current  # follow the run chosen on another page (set before the widget exists)
    elif state.get(key) not in ids:
        state[key] = ids[0]
    chosen = st.selectbox(label, ids, key=key, format_func=lambda i: run_title(by_id[i]),
                          on_change=callback(lambda: select_run(state[key])))
    return by_id[chosen]


def show_run_state(run: store.Run) -> None:
    """One line for the state, with the reason of a failure or a broken folder."""
    if run.state == "failed":
        st.error(f"Failed: {run.reason or 'no reason recorded'} (full traceback in {run.folder.log})")
    elif run.state == "broken":
        st.warning(f"This run folder is damaged: {run.reason}")
    elif run.state == "stopped":
        st.info(f"Stopped: {run.reason or 'on request'}; partial results are kept.")


def show_scores(result: Optional[Dict[str, Any]]) -> None:
    """ACC / NMI / ARI / time as metrics, with warnings such as a collapse."""
    if not result:
        return
    init = result.get("init_scores") or {}
    columns = st.columns(4)
    for column, key in zip(columns, ("acc", "nmi", "ari")):
        value = result.get(key)
        delta = None
        if isinstance(value, (int, float)) and isinstance(init.get(key), (int, float)):
            delta = f"{value - init[key]:+.3f} vs its start (init)"
        column.metric(key.upper(), "–" if value is None else f"{value:.4f}", delta=delta)
    columns[3].metric("Time", f"{result.get('seconds') or 0:.1f} s")
    model_start = result.get("model_start_scores") or {}
    if isinstance(init.get("acc"), (int, float)) and isinstance(model_start.get("acc"), (int, float)):
        st.caption(f"Start: its clusters scored ACC {init['acc']:.4f}; the model's own assignments before "
                   f"training, {model_start['acc']:.4f}.")
    for warning in result.get("warnings") or []:
        st.warning(warning)
    resolved = result.get("resolved_params") or {}
    if resolved:
        with st.expander(f"Automatic defaults: {len(resolved)} parameter(s) chosen from the data"):
            st.caption("What each parameter left at 'auto' became for this data (deepclust_core/defaults.py); "
                       "set one by hand to override it.")
            st.table({"parameter": list(resolved), "value": [str(v) for v in resolved.values()]})


def group_runs(prefix: str) -> Dict[str, List[store.Run]]:
    """Runs by group id for groups starting with ``prefix``, newest group first."""
    groups: Dict[str, List[store.Run]] = {}
    for run in all_runs():
        group = (run.config or {}).get("group")
        if isinstance(group, str) and group.startswith(prefix):
            groups.setdefault(group, []).append(run)
    return dict(sorted(groups.items(), key=lambda item: item[0], reverse=True))


def group_section(prefix: str, key: str, label: str, describe: Callable[[str, List[store.Run]], str],
                  empty: str) -> Optional[Tuple[str, List[store.Run]]]:
    """Below a group page's Start button: its last error (``{key}.error``), then a picker over the groups
    starting with ``prefix`` (``empty`` when there are none, and None); (group id, its runs) of the choice."""
    if st.session_state.get(f"{key}.error"):
        st.error(st.session_state[f"{key}.error"])
    groups = group_runs(prefix)
    if not groups:
        st.info(empty)
        return None
    group = pick_group(groups, key, label, describe)
    return group, groups[group]


def pick_group(groups: Dict[str, List[store.Run]], key: str, label: str,
               describe: Callable[[str, List[store.Run]], str]) -> str:
    """A select box over run groups that keeps the choice (``{key}.group``) across reruns and new groups."""
    names = list(groups)
    wanted = st.session_state.get(f"{key}.group")
    if wanted in names:
        st.session_state[f"{key}.pick"] = wanted
    return st.selectbox(label, names, key=f"{key}.pick", format_func=lambda g: describe(g, groups[g]),
                        on_change=callback(lambda: st.session_state.update({f"{key}.group": st.session_state[f"{key}.pick"]})))
