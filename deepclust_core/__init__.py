"""deepclust_core: deep clustering methods (DGG, VaDE, ...), datasets, graphs and metrics.

    from deepclust_core import load_dataset, create_method
    x, y, kind = load_dataset("moons")
    model = create_method("dgg", n_clusters=2, n_neighbors=40).fit(x)
"""
from .errors import DataUnavailableError, DeepClustError, InputError, TrainingError
from .datasets import list_datasets, load_dataset
from .methods import DGG, VaDE, create_method, get_method_class, list_methods
from .metrics import cluster_acc, evaluate

__version__ = "0.1.0"

__all__ = ["load_dataset", "list_datasets", "list_methods", "create_method", "get_method_class", "DGG", "VaDE",
           "cluster_acc", "evaluate", "DeepClustError", "InputError", "DataUnavailableError", "TrainingError"]
