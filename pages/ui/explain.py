"""The Explain texts (assets/explain/*.md, Markdown with KaTeX math) beside the Playground's views."""
from __future__ import annotations

from pathlib import Path
from typing import List

import streamlit as st

EXPLAIN_DIR = Path(__file__).resolve().parent.parent.parent / "assets" / "explain"
SECTIONS = (("vade", "VaDE: a Gaussian mixture in the latent"), ("dgg", "DGG: VaDE plus a graph"),
            ("why_graph", "Why the graph: non-convex clusters"), ("knobs", "What K, N_s, λ, epochs, seed change"))


@st.cache_data(show_spinner=False)
def explain_text(name: str) -> str:
    """One Explain text (Markdown)."""
    return (EXPLAIN_DIR / f"{name}.md").read_text(encoding="utf-8")


def sections_for(method: str) -> List[str]:
    """The texts worth showing first for ``method`` (all of them, the method's own first)."""
    order = [name for name, _ in SECTIONS]
    if method == "vade":
        return ["vade", "why_graph", "dgg", "knobs"]
    return order if method == "dgg" else ["knobs", "vade", "dgg", "why_graph"]


def show_explain(method: str) -> None:
    """The Explain column: one expander per text, the first open."""
    titles = dict(SECTIONS)
    st.subheader("Explain")
    for position, name in enumerate(sections_for(method)):
        with st.expander(titles[name], expanded=position == 0):
            st.markdown(explain_text(name))
