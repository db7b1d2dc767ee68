"""Registered clustering methods. Importing this package registers them all."""
from .base import (BaseClusterer, DeepClusterer, create_method, get_method_class, list_methods,
                   register_method)
from .vade import VaDE
from .dgg import DGG

__all__ = ["BaseClusterer", "DeepClusterer", "VaDE", "DGG", "create_method", "get_method_class",
           "list_methods", "register_method"]
