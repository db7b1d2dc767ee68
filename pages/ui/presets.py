"""Presets as data: ``assets/presets.json`` holds the sidebar's presets (each with the measured prose that
explains it), the Compare page's preset buttons and the paper's Table 2 reference. :func:`load_presets`
checks the file (names unique, datasets and methods registered, options and parameters valid) and raises
:class:`PresetsFileError` naming what is wrong; :func:`apply_preset` loads one into the sidebar form."""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import streamlit as st

from deepclust_core import DeepClustError, list_datasets, list_methods
from deepclust_core import config as dconfig

from .form import fill_form
from .session import KEY_DATASET, KEY_METHOD
from .widgets import from_widget

APP_ROOT = Path(__file__, "..", "..", "..").resolve()  # pages/ui/presets.py -> the folder of app.py
PRESETS_FILE = APP_ROOT / "assets" / "presets.json"
_PRESET_KEYS = {"name", "dataset", "method", "options", "params", "why"}


class PresetsFileError(DeepClustError):
    """The presets file is missing, not JSON, or names something that does not exist."""


@dataclass(frozen=True)
class Preset:
    name: str
    dataset: str
    method: str
    options: Dict[str, Any]  # dataset options, typed
    params: Dict[str, Any]  # method parameters applied on top of the dataset's recipe, typed
    why: str  # what it is for and what was measured with it


@dataclass(frozen=True)
class Presets:
    presets: Tuple[Preset, ...]
    compare: Tuple[str, ...]  # names of the presets the Compare page offers
    paper_table2_acc: Dict[int, float]  # DGG's MNIST ACC per N_s in the paper's Table 2

    def get(self, name: str) -> Preset:
        for preset in self.presets:
            if preset.name == name:
                return preset
        raise PresetsFileError(f"No preset named {name!r}.")

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(preset.name for preset in self.presets)


def _preset(raw: Any, where: str) -> Preset:
    if not isinstance(raw, dict) or set(raw) != _PRESET_KEYS:
        raise PresetsFileError(f"{where} must be an object with exactly the keys {', '.join(sorted(_PRESET_KEYS))}.")
    name, dataset, method, why = raw["name"], raw["dataset"], raw["method"], raw["why"]
    if not all(isinstance(v, str) and v.strip() for v in (name, dataset, method, why)):
        raise PresetsFileError(f"{where}: name, dataset, method and why must be non-empty strings.")
    where = f"{where} ({name!r})"
    if dataset not in list_datasets():
        raise PresetsFileError(f"{where}: dataset {dataset!r} is not registered ({', '.join(list_datasets())}).")
    if method not in list_methods():
        raise PresetsFileError(f"{where}: method {method!r} is not registered ({', '.join(list_methods())}).")
    if not isinstance(raw["options"], dict) or not isinstance(raw["params"], dict):
        raise PresetsFileError(f"{where}: options and params must be objects.")
    specs = dconfig.dataset_specs(dataset)
    options = {}
    try:
        for key, value in raw["options"].items():
            if key not in specs:
                raise PresetsFileError(f"{where}: {key!r} is not an option of dataset {dataset!r}.")
            options[key] = from_widget(specs[key], value)
        resolved = dconfig.resolve_params(dataset, method, raw["params"])  # checks every value
    except PresetsFileError:
        raise
    except DeepClustError as exc:
        raise PresetsFileError(f"{where}: {exc}") from None
    params = {key: resolved[key] for key in raw["params"]}
    return Preset(name=name, dataset=dataset, method=method, options=options, params=params, why=why)


def load_presets(path: Path = PRESETS_FILE) -> Presets:
    """The presets file, checked; PresetsFileError says what is wrong (and where)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PresetsFileError(f"Cannot read the presets file {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("presets"), list):
        raise PresetsFileError(f"{path}: expected an object with a 'presets' list.")
    presets = tuple(_preset(raw, f"{path}: preset {i + 1}") for i, raw in enumerate(data["presets"]))
    names = [preset.name for preset in presets]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise PresetsFileError(f"{path}: preset names must be unique; repeated: {', '.join(duplicates)}.")
    compare = data.get("compare_presets", [])
    unknown = [n for n in compare if n not in names] if isinstance(compare, list) else compare
    if unknown:
        raise PresetsFileError(f"{path}: compare_presets must list names of presets in the file; unknown: {unknown}.")
    try:
        acc = {int(k): float(v) for k, v in ((data.get("paper_table2") or {}).get("acc") or {}).items()}
    except (AttributeError, TypeError, ValueError) as exc:
        raise PresetsFileError(f"{path}: paper_table2.acc must map N_s to an accuracy: {exc}") from None
    if any(not 0.0 <= v <= 1.0 for v in acc.values()):
        raise PresetsFileError(f"{path}: paper_table2.acc values must be accuracies in [0, 1].")
    return Presets(presets=presets, compare=tuple(compare), paper_table2_acc=dict(sorted(acc.items())))


@functools.lru_cache(maxsize=4)
def _cached(path: str, mtime: Optional[float]) -> Presets:
    return load_presets(Path(path))


def presets(path: Path = PRESETS_FILE) -> Presets:
    """The app's presets, read again only when the file changes."""
    try:
        mtime: Optional[float] = Path(path).stat().st_mtime
    except OSError:
        mtime = None  # load_presets reports it
    return _cached(str(path), mtime)


def apply_preset(name: str) -> None:
    """Widget callback: load a preset into the sidebar form."""
    preset = presets().get(name)
    st.session_state[KEY_DATASET] = preset.dataset
    st.session_state[KEY_METHOD] = preset.method
    fill_form(preset.dataset, preset.method, preset.params, preset.options)
