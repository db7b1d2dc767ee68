"""Exceptions that carry a message meant for the user (CLI, app, notebook)."""


class DeepClustError(Exception):
    """Base class for errors deepclust reports to users without a traceback."""


class InputError(DeepClustError, ValueError):
    """Bad user input: unknown name, invalid hyperparameter, malformed data."""


class DataUnavailableError(DeepClustError, FileNotFoundError):
    """A dataset cannot be found offline; the message says how to obtain it."""


class TrainingError(DeepClustError, RuntimeError):
    """Training diverged (NaN/inf loss) or collapsed; the message says which and when."""


class CacheWarning(UserWarning):
    """An optional cache (pretrained autoencoders, embeddings) could not be written; the work went on."""
