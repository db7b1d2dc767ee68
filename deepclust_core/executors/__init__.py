"""Where queued runs train. The seam is :func:`deepclust_core.jobs.get_executor`: this machine's queue of
worker processes (:class:`deepclust_core.jobs.LocalQueue`, the default) or a Ray cluster when an address is given
(:class:`.raycluster.RayExecutor`). :mod:`.base` holds the interface and what both share, :mod:`.remote` what
a run does on a remote machine."""
from .base import Executor, check_reachable, is_remote, ray_address, wait_for_runs

__all__ = ["Executor", "check_reachable", "is_remote", "ray_address", "wait_for_runs"]
