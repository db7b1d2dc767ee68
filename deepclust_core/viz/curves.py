"""Curves over epochs: scores, loss terms, and one score across several runs."""
from __future__ import annotations

from typing import Dict, Iterable, Mapping, Optional, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..metrics import MIXTURE_DIAGNOSTICS
from .base import LOSS_TERMS, METRIC_NAMES, SCORE_KEYS


# ------------------------------------------------------------------------------------------------- curves

def _records_frame(records: Iterable[Mapping], phase: Optional[str]) -> pd.DataFrame:
    frame = pd.DataFrame(list(records))
    if frame.empty:
        return frame
    if phase is not None and "phase" in frame:
        frame = frame[frame["phase"] == phase]
    return frame


def _epoch_ticks(frame: pd.DataFrame) -> Dict:
    """Whole-number epoch ticks (Plotly would put ticks at 0.5 for a handful of epochs)."""
    last = int(frame["epoch"].max()) if len(frame) and "epoch" in frame else 1
    return {"dtick": 1, "tick0": 1} if last < 16 else {}


def _line_mode(frame: pd.DataFrame) -> str:
    return "lines+markers" if len(frame) < 60 else "lines"


def metric_curves(records: Iterable[Mapping], keys: Sequence[str] = SCORE_KEYS,
                  phase: str = "train", title: Optional[str] = None, height: int = 320) -> go.Figure:
    """ACC / NMI / ARI, and DGG's mixture diagnostics when recorded (or any ``keys``), against the epoch."""
    frame = _records_frame(records, phase)
    figure = go.Figure()
    for key in keys:
        if key in frame and frame[key].notna().any():
            figure.add_trace(go.Scatter(x=frame["epoch"].to_numpy(), y=frame[key].to_numpy(dtype=float),
                                        mode=_line_mode(frame), name=METRIC_NAMES.get(key, key),
                                        line=dict(dash="dash" if key in MIXTURE_DIAGNOSTICS else "solid")))
    figure.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                         xaxis=dict(title="epoch", **_epoch_ticks(frame)), yaxis=dict(range=[0, 1.02], title="score"),
                         uirevision="metrics")
    return figure


def loss_curves(records: Iterable[Mapping], keys: Sequence[str] = LOSS_TERMS, phase: str = "train",
                title: Optional[str] = None, height_per_row: int = 150) -> go.Figure:
    """One small panel per loss term (they live on very different scales), sharing the epoch axis."""
    frame = _records_frame(records, phase)
    present = [key for key in keys if key in frame and frame[key].notna().any()]
    rows = max(1, len(present))
    figure = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                           subplot_titles=present or None)
    for row, key in enumerate(present, start=1):
        figure.add_trace(go.Scatter(x=frame["epoch"].to_numpy(), y=frame[key].to_numpy(dtype=float),
                                    mode=_line_mode(frame), name=key, showlegend=False), row=row, col=1)
    figure.update_layout(title=title, height=max(200, height_per_row * rows),
                         margin=dict(l=10, r=10, t=40 if title else 25, b=10), uirevision="losses")
    figure.update_xaxes(title_text="epoch", row=rows, col=1)
    figure.update_xaxes(**_epoch_ticks(frame))
    return figure



def runs_curves(series: Mapping[str, Iterable[Mapping]], key: str = "acc", phase: str = "train",
                title: Optional[str] = None, height: int = 320) -> go.Figure:
    """One metric (e.g. ACC) against the epoch for several runs, one line each."""
    figure = go.Figure()
    for name, records in series.items():
        frame = _records_frame(records, phase)
        if key in frame and frame[key].notna().any():
            figure.add_trace(go.Scatter(x=frame["epoch"].to_numpy(), y=frame[key].to_numpy(dtype=float),
                                        mode=_line_mode(frame), name=name))
    figure.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                         xaxis_title="epoch", yaxis_title=METRIC_NAMES.get(key, key), uirevision="runs_curves")
    return figure
