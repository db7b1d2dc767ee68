"""A run's settings: the one place that resolves and validates them.

    params = resolve_params("moons", "dgg", {"n_neighbors": 20})   # recipe, then the user's overrides
    config = validate_config({"dataset": "moons", "dataset_options": {}, "method": "dgg", "params": params})

Every door (the CLI, the app's form, ``compare``, the benchmarks, the run store) builds a run's parameters
with :func:`resolve_params` and checks a whole run configuration with :func:`validate_config`, which returns
it in canonical form: typed values, every method parameter explicit. A worker re-reads ``config.json``
with :func:`load_config`, which only converts JSON back to the declared types (lists to tuples).
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from .datasets import dataset_options, list_datasets
from .errors import InputError
from .methods import create_method, get_method_class
from .params import ParamSpec, check_value, coerce_value, validate_params
from .recipes import recipe

CONFIG_KEYS = ("dataset", "dataset_options", "method", "params", "label", "group", "verbose")


def method_specs(method: str) -> Dict[str, ParamSpec]:
    """The method's hyperparameters by name (InputError for an unknown method)."""
    return {spec.name: spec for spec in get_method_class(method).param_specs()}


def dataset_specs(dataset: str) -> Dict[str, ParamSpec]:
    """The dataset's options as ParamSpecs, so URL/CLI strings are coerced like method parameters."""
    specs = {}
    for option in dataset_options(dataset):
        kind = option["type"]
        specs[option["name"]] = ParamSpec(name=option["name"], type=Optional[kind] if option.get("optional") else kind,
                                          default=option["default"], help=option.get("help", ""))
    return specs


def _reject_unknown(given: Mapping[str, Any], known, what: str, listing: str) -> None:
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise InputError(f"Unknown {what}: {', '.join(unknown)}. {listing}: {', '.join(sorted(known)) or 'none'}.")


def coerce_dataset_options(dataset: str, options: Mapping[str, Any]) -> Dict[str, Any]:
    """Dataset options converted to their declared types; unknown names or bad values raise InputError."""
    specs = dataset_specs(dataset)
    _reject_unknown(options, specs, f"option(s) for dataset {dataset!r}", "Valid options")
    coerced = {}
    for name, value in options.items():
        spec = specs[name]
        if spec.optional and (value is None or (isinstance(value, str) and not value.strip())):
            coerced[name] = None
        else:
            coerced[name] = coerce_value(spec, value)
    return coerced


def coerce_params(method: str, params: Mapping[str, Any]) -> Dict[str, Any]:
    """Method parameters converted to their declared types and checked against their bounds."""
    specs = method_specs(method)
    _reject_unknown(params, specs, f"parameter(s) for method {method!r}", "Known")
    coerced = {}
    for name, value in params.items():
        coerced[name] = coerce_value(specs[name], value)
        check_value(specs[name], coerced[name])
    return coerced


def resolve_params(dataset: str, method: str, overrides: Optional[Mapping[str, Any]] = None, *,
                   use_recipe: bool = True) -> Dict[str, Any]:
    """A run's method parameters: the dataset's recipe for ``method`` (unless ``use_recipe`` is off), then the
    caller's ``overrides``, converted to their types and checked (InputError names a parameter the method
    does not have). Parameters set by neither keep the method's own defaults (they are not listed)."""
    params = dict(recipe(dataset, method)) if use_recipe else {}
    params.update(coerce_params(method, overrides or {}))
    return params


def validate_config(config: Any) -> Dict[str, Any]:
    """The config in canonical form (typed values, every method parameter explicit), or InputError.

    Dataset-dependent checks (e.g. N_s < n_samples) need the data and happen at fit time (or in the app,
    before queueing, for data that loads in a blink).
    """
    if not isinstance(config, dict):
        raise InputError("A run config must be a dict with dataset, method and params.")
    _reject_unknown(config, CONFIG_KEYS, "config key(s)", "Known")
    for key in ("dataset", "method"):
        if not isinstance(config.get(key), str) or not config[key].strip():
            raise InputError(f"The run config needs a {key} name.")
    dataset = config["dataset"].strip().lower()
    if dataset not in list_datasets():
        raise InputError(f"Unknown dataset {config['dataset']!r}. Known datasets: {', '.join(list_datasets())}.")
    options = config.get("dataset_options") or {}
    params = config.get("params") or {}
    if not isinstance(options, dict) or not isinstance(params, dict):
        raise InputError("dataset_options and params must be dicts.")
    method = config["method"].strip().lower()
    specs = method_specs(method)  # InputError for an unknown name
    options = coerce_dataset_options(dataset, options)
    estimator = create_method(method, **coerce_params(method, params))
    validate_params(estimator)  # the dry construction: every value, including defaults, is checked
    canonical = {"dataset": dataset, "dataset_options": options, "method": method,
                 "params": {name: getattr(estimator, name) for name in specs}}
    for key in ("label", "group"):
        if config.get(key) not in (None, ""):
            canonical[key] = str(config[key])
    if config.get("verbose"):
        canonical["verbose"] = True
    return canonical


def load_config(raw: Mapping[str, Any]) -> Dict[str, Any]:
    """A stored (already validated) config with its values converted back to their types (JSON turns tuples
    into lists)."""
    config = dict(raw)
    config["params"] = coerce_params(config["method"], config.get("params") or {})
    config["dataset_options"] = coerce_dataset_options(config["dataset"], config.get("dataset_options") or {})
    return config
