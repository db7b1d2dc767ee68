"""Registered clustering methods. Importing this package registers them all.

Every module of this package is imported here (found by name, not listed), so adding a method is one file:
``methods/<name>.py`` with an estimator class decorated ``@register_method("<name>")`` (see
docs/ARCHITECTURE.md, "Adding a method"). The classes named below are re-exported for convenience.
"""
import importlib
import pkgutil

from .base import (AutoDeepClusterer, BaseClusterer, DeepClusterer, create_method, get_method_class, list_methods,
                   register_method)

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_module}")

from .aegmm import AEGMM  # noqa: E402  (already imported above; named for re-export)
from .cdc import CDC  # noqa: E402
from .classical import GMMBaseline, KMeansBaseline, SpectralBaseline  # noqa: E402
from .dcn import DCN, DKM  # noqa: E402
from .dec import DEC, IDEC  # noqa: E402
from .dgg import DGG  # noqa: E402
from .spectralnet import SpectralNet  # noqa: E402
from .vade import VaDE  # noqa: E402

__all__ = ["BaseClusterer", "DeepClusterer", "VaDE", "DGG", "AEGMM", "DEC", "IDEC", "DCN", "DKM", "CDC",
           "SpectralNet", "KMeansBaseline", "GMMBaseline", "SpectralBaseline", "create_method",
           "get_method_class", "list_methods", "register_method"]
