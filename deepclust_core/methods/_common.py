"""What every method module shares below the estimator classes: the registry of methods by name, the device
and seed helpers, and the list of callbacks a fit calls (kept apart from ``base`` so that module holds the
estimators' shared classes only)."""
from __future__ import annotations

from typing import Iterable, List, Optional

import numpy as np
import torch

from ..callbacks import Callback
from ..errors import InputError
from ..params import param_specs
from ..registry import Registry

METHODS: Registry = Registry("method")


def register_method(name: str):
    """Class decorator: make an estimator available as ``create_method(name)``."""

    def decorator(cls):
        cls.method_name = name
        return METHODS.register(name)(cls)

    return decorator


def list_methods() -> List[str]:
    return METHODS.names()


def get_method_class(name: str):
    return METHODS.get(name)


def create_method(name: str, **params):
    """Instantiate a registered method; unknown names or parameters raise InputError."""
    cls = METHODS.get(name)
    known = {spec.name for spec in param_specs(cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise InputError(f"Unknown parameter(s) for method {name!r}: {', '.join(unknown)}. "
                         f"Known: {', '.join(sorted(known))}.")
    return cls(**params)


def resolve_device(device: str) -> torch.device:
    """"auto" picks cuda, then mps, then cpu."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise InputError(f"Unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'mps'.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was asked for but no CUDA GPU is available.")
    return resolved


def seed_everything(seed: int) -> None:
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


class _CallbackList:
    def __init__(self, callbacks: Optional[Iterable[Callback]]):
        self.callbacks = list(callbacks or [])

    def fit_start(self, est, info):
        for cb in self.callbacks:
            cb.on_fit_start(est, info)

    def epoch_end(self, est, info):
        for cb in self.callbacks:
            cb.on_epoch_end(est, info)

    def fit_end(self, est, info):
        for cb in self.callbacks:
            cb.on_fit_end(est, info)

    def should_stop(self, est) -> bool:
        return any(cb.should_stop(est) for cb in self.callbacks)
