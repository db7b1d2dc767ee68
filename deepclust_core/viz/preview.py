"""The data before any run as a Vega-Lite chart (pure: NumPy in, a spec and its table out). The Playground
draws its first page with it: Streamlit's Vega-Lite renderer loads and draws in the browser in well under
half the time of its Plotly one, which every other view uses (the first page waits for nothing else)."""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .base import label_colours, two_columns


def points_preview(points: np.ndarray, labels: Optional[np.ndarray] = None, *, title: Optional[str] = None,
                   label_name: str = "class", axis_titles: Sequence[str] = ("x1", "x2"), width: int = 560,
                   height: int = 460) -> Tuple[pd.DataFrame, Dict[str, Any]]:
    """(table, Vega-Lite spec) of 2-D points coloured by ``labels`` (label k in the colour the Plotly views
    give it), with equal units on both axes over a ``width`` × ``height`` plot, zoom and pan, and a tooltip."""
    points = two_columns(points)
    table = pd.DataFrame({axis_titles[0]: points[:, 0], axis_titles[1]: points[:, 1]})
    low, high = points.min(axis=0) if len(points) else np.zeros(2), points.max(axis=0) if len(points) else np.ones(2)
    centre, span = (low + high) / 2.0, np.maximum(high - low, 1e-9) * 1.06
    unit = max(span[0] / width, span[1] / height)  # data units per pixel, the same on both axes
    domains = [[float(centre[i] - unit * size / 2.0), float(centre[i] + unit * size / 2.0)]
               for i, size in enumerate((width, height))]
    encoding: Dict[str, Any] = {
        "x": {"field": axis_titles[0], "type": "quantitative", "scale": {"domain": domains[0], "nice": False}},
        "y": {"field": axis_titles[1], "type": "quantitative", "scale": {"domain": domains[1], "nice": False}},
        "tooltip": [{"field": axis_titles[0], "format": ".3f"}, {"field": axis_titles[1], "format": ".3f"}]}
    if labels is not None:
        labels = np.asarray(labels)
        values = np.unique(labels)
        names = [f"{label_name} {value}" for value in values]
        table[label_name] = pd.Categorical([f"{label_name} {value}" for value in labels], categories=names)
        encoding["color"] = {"field": label_name, "type": "nominal",  # label k in the views' colour k
                             "scale": {"domain": names, "range": label_colours(values)}, "legend": {"title": None}}
        encoding["tooltip"].append({"field": label_name})
    size = 30 if len(points) <= 2_000 else 12 if len(points) <= 20_000 else 4
    spec = {"width": width, "height": height, "mark": {"type": "circle", "size": size, "opacity": 0.7},
            "encoding": encoding, "params": [{"name": "zoom", "select": "interval", "bind": "scales"}]}
    if title:
        spec["title"] = title
    return table, spec
