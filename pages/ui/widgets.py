"""Typed widgets built from :class:`~deepclust_core.params.ParamSpec`: a value as the widget holds it
(:func:`to_widget`), a widget's value as the checked parameter (:func:`from_widget`), the widget itself
(:func:`render_widget`) and a value as a query parameter (:func:`to_url`)."""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

import streamlit as st

from deepclust_core import InputError
from deepclust_core.params import ParamSpec, check_value, coerce_value


def is_text(spec: ParamSpec) -> bool:
    """Tuples, optional numbers, free strings and parameters that accept "auto" are typed as text ("20,20",
    "" = None, "auto")."""
    return spec.choices is None and (spec.base_type in (tuple, str) or spec.optional or spec.auto)


def to_widget(spec: ParamSpec, value: Any) -> Any:
    """A typed value as the widget holds it."""
    if is_text(spec):
        if value is None:
            return ""
        return ",".join(str(v) for v in value) if isinstance(value, (tuple, list)) else str(value)
    if spec.choices is not None:
        return value
    kind = spec.base_type
    if kind is bool:
        return bool(value)
    if kind is int:
        return int(value)
    if kind is float:
        return float(value)
    return value


def from_widget(spec: ParamSpec, raw: Any) -> Any:
    """A widget's value as the typed, checked parameter (InputError when it is not valid)."""
    if is_text(spec) and isinstance(raw, str) and not raw.strip():
        if spec.optional:
            return None
        if spec.base_type is tuple:
            return ()
    value = coerce_value(spec, raw)
    check_value(spec, value)
    return value


def typed_values(specs: Dict[str, ParamSpec], values: Dict[str, Any]) -> Dict[str, Any]:
    """The values that are valid for ``specs``, typed; unknown names and bad values are left out."""
    typed = {}
    for name, value in values.items():
        try:
            typed[name] = from_widget(specs[name], value if value is not None else "")
        except (KeyError, InputError):
            continue
    return typed


def to_url(value: Any) -> str:
    """A typed value as a query parameter (what :func:`from_widget` reads back)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _float_step(spec: ParamSpec, value: Any) -> float:
    magnitude = abs(float(value)) if value not in (None, 0) else 0.0
    if magnitude > 0 and math.isfinite(magnitude):
        return 10.0 ** math.floor(math.log10(magnitude))
    return 0.01 if spec.high is not None and spec.high <= 1 else 0.05


def render_widget(spec: ParamSpec, key: str, label: Optional[str] = None) -> Any:
    """The widget for one spec: checkbox, selectbox, bounded number input or text. Its value is in
    ``st.session_state[key]`` already (never passed as a default, so the URL and presets can set it)."""
    label = label or spec.name
    help_text = spec.help or None
    if spec.choices is not None:
        return st.selectbox(label, list(spec.choices), key=key, help=help_text, format_func=str)
    if is_text(spec):
        hint = " Comma-separated integers, e.g. 20,20." if spec.base_type is tuple else ""
        hint += " 'auto' = chosen from the data at fit time (shown in the run's result)." if spec.auto else ""
        hint += " Empty for none." if spec.optional else ""
        return st.text_input(label, key=key, help=(help_text or "") + hint or None)
    kind = spec.base_type
    if kind is bool:
        return st.checkbox(label, key=key, help=help_text)
    low = spec.low if spec.low_inclusive else None  # an exclusive bound is checked after input
    if kind is int:
        return st.number_input(label, key=key, help=help_text, step=1,
                               min_value=None if low is None else int(math.ceil(low)),
                               max_value=None if spec.high is None else int(spec.high))
    return st.number_input(label, key=key, help=help_text, format="%g",
                           step=_float_step(spec, st.session_state.get(key, spec.default)),
                           min_value=None if low is None else float(low),
                           max_value=None if spec.high is None else float(spec.high))
