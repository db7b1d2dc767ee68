"""Registered clustering methods. Importing this package registers them all."""
from .base import (BaseClusterer, DeepClusterer, create_method, get_method_class, list_methods,
                   register_method)
from .vade import VaDE
from .dgg import DGG
from .aegmm import AEGMM
from .dec import DEC, IDEC
from .dcn import DCN, DKM
from .cdc import CDC
from .spectralnet import SpectralNet
from .classical import GMMBaseline, KMeansBaseline, SpectralBaseline

__all__ = ["BaseClusterer", "DeepClusterer", "VaDE", "DGG", "AEGMM", "DEC", "IDEC", "DCN", "DKM", "CDC",
           "SpectralNet", "KMeansBaseline", "GMMBaseline", "SpectralBaseline", "create_method",
           "get_method_class", "list_methods", "register_method"]
