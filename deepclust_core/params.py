"""Typed hyperparameters: each method's config is a dataclass whose fields carry defaults,
bounds and help text, so the CLI and the app can build their forms from it.

A numeric or tuple parameter whose default is ``AUTO`` ("auto", like scikit-learn's ``gamma="scale"``) accepts
either a value of its type or "auto"; "auto" is resolved from the data at fit time by
:mod:`deepclust_core.defaults` (``BaseClusterer._auto_resolved``). Declaring a plain default keeps the old
behaviour: "auto" is opt-in per parameter."""
from __future__ import annotations

import dataclasses
import numbers
import math
import typing
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

from .errors import InputError

SEED_MAX = 2**32 - 1  # NumPy's and scikit-learn's seeds are 32-bit

AUTO = "auto"


def is_auto(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() == AUTO


def param(default: Any, help: str, *, low: Optional[float] = None, high: Optional[float] = None,
          choices: Optional[Sequence[Any]] = None, log: bool = False, advanced: bool = False,
          low_inclusive: bool = True):
    """A dataclass field with the metadata forms and validation need."""
    return dataclasses.field(default=default, metadata={
        "help": help, "low": low, "high": high, "choices": tuple(choices) if choices else None,
        "log": log, "advanced": advanced, "low_inclusive": low_inclusive,
        "auto": is_auto(default) and not choices})


@dataclass(frozen=True)
class ParamSpec:
    """One hyperparameter as a form sees it."""

    name: str
    type: Any
    default: Any
    help: str
    low: Optional[float] = None
    high: Optional[float] = None
    choices: Optional[Tuple[Any, ...]] = None
    log: bool = False
    advanced: bool = False
    low_inclusive: bool = True
    auto: bool = False  # a typed parameter that also accepts "auto" (resolved from the data at fit time)

    @property
    def base_type(self) -> Any:
        """int, float, str, bool or tuple, with Optional[...] unwrapped."""
        kind = self.type
        origin = typing.get_origin(kind)
        if origin is typing.Union:
            args = [a for a in typing.get_args(kind) if a is not type(None)]
            kind = args[0]
            origin = typing.get_origin(kind)
        if origin in (tuple, Tuple):
            return tuple
        return kind

    @property
    def optional(self) -> bool:
        return typing.get_origin(self.type) is typing.Union and type(None) in typing.get_args(self.type)


def param_specs(cls) -> List[ParamSpec]:
    """The ParamSpecs of a dataclass-based estimator class, in declaration order."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        meta = f.metadata or {}
        specs.append(ParamSpec(name=f.name, type=hints.get(f.name, Any), default=f.default,
                               help=meta.get("help", ""), low=meta.get("low"), high=meta.get("high"),
                               choices=meta.get("choices"), log=meta.get("log", False),
                               advanced=meta.get("advanced", False),
                               low_inclusive=meta.get("low_inclusive", True), auto=meta.get("auto", False)))
    return specs


def coerce_value(spec: ParamSpec, value: Any) -> Any:
    """Convert a value (possibly a string from a CLI or URL) to the spec's type, or raise InputError."""
    if value is None:
        if spec.optional:
            return None
        raise InputError(f"{spec.name} must not be empty")
    if spec.auto and is_auto(value):
        return AUTO
    kind = spec.base_type
    try:
        if kind is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if kind is int:
            if isinstance(value, str) and value.strip().lower() in ("none", "") and spec.optional:
                return None
            number = float(value)
            if not number.is_integer():
                raise ValueError(value)
            return int(number)
        if kind is float:
            if isinstance(value, str) and value.strip().lower() in ("none", "") and spec.optional:
                return None
            return float(value)
        if kind is tuple:
            if isinstance(value, str):
                parts = [p for p in value.replace(" ", "").split(",") if p]
                return tuple(int(p) for p in parts)
            return tuple(int(v) for v in value)
        if kind is str:
            return str(value)
    except (TypeError, ValueError):
        kind_name = getattr(kind, "__name__", str(kind))
        raise InputError(f"{spec.name} must be of type {kind_name}; got {value!r}") from None
    return value


def check_value(spec: ParamSpec, value: Any) -> None:
    """Raise InputError when value is outside the spec's bounds or choices."""
    if value is None:
        if spec.optional:
            return
        raise InputError(f"{spec.name} must be set")
    if spec.auto and is_auto(value):
        return
    if spec.choices is not None and value not in spec.choices:
        options = ", ".join(repr(c) for c in spec.choices)
        raise InputError(f"{spec.name} must be one of {options}; got {value!r}")
    values = value if isinstance(value, tuple) else (value,)
    for item in values:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            continue
        if isinstance(item, float) and not math.isfinite(item):
            raise InputError(f"{spec.name} must be a finite number; got {item!r}")
        if spec.low is not None:
            too_low = item < spec.low if spec.low_inclusive else item <= spec.low
            if too_low:
                relation = ">=" if spec.low_inclusive else ">"
                raise InputError(f"{spec.name} must be {relation} {_bound(spec.low)}; got {_short(item)}")
        if spec.high is not None and item > spec.high:
            raise InputError(f"{spec.name} must be <= {_bound(spec.high)}; got {_short(item)}")


def _bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e18 else f"{value:g}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:40]}… ({len(text)} digits)"


def _check_layers(spec: ParamSpec, value: Any) -> None:
    """A tuple of layer sizes must be a sequence of whole numbers (not one number, not text), each at most
    ``$DEEPCLUST_MAX_NETWORK`` units, so a typo cannot allocate gigabytes."""
    from .settings import MAX_NETWORK_ENV, max_network

    example = f"e.g. {spec.name}=(500, 500, 2000)" if spec.default in (None, ()) else f"e.g. {spec.default}"
    if value is None:
        return
    if not isinstance(value, (tuple, list)) or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in value):
        raise InputError(f"{spec.name} must be a sequence of whole numbers ({example}); got "
                         f"{type(value).__name__} {_short(value)}")
    widest = max(value, default=0)
    if widest > max_network():
        raise InputError(f"{spec.name} has a layer of {widest:,} units; this server allows at most "
                         f"{max_network():,} ({MAX_NETWORK_ENV}).")


def validate_params(estimator) -> None:
    """Check every hyperparameter of a dataclass estimator against its spec."""
    for spec in param_specs(type(estimator)):
        value = getattr(estimator, spec.name)
        if spec.auto and is_auto(value):
            continue
        if spec.base_type is tuple:
            _check_layers(spec, value)
        if spec.base_type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if spec.base_type in (int, float) and value is not None and not spec.choices:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"{spec.name} must be a number; got {value!r}")
            if spec.base_type is int and not float(value).is_integer():
                raise InputError(f"{spec.name} must be an integer; got {value!r}")
        check_value(spec, value)
