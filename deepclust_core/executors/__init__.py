"""Where queued runs train: this machine's queue of worker processes, or a Ray cluster when an address is
given. See :mod:`.base` for the seam, :mod:`.local` and :mod:`.raycluster` for the two executors."""
from __future__ import annotations

from typing import Optional

from .base import Executor, check_reachable, ray_address, wait_for_runs
from .local import LocalQueue


def get_executor(address: Optional[str] = None, max_jobs: Optional[int] = None,
                 cpus_per_run: Optional[float] = None, gpus_per_run: Optional[float] = None) -> Executor:
    """The Ray executor when ``address`` (else ``$DEEPCLUST_RAY_ADDRESS`` / ``$RAY_ADDRESS``) names a cluster,
    else the local queue (``max_jobs`` at once, else ``$DEEPCLUST_MAX_JOBS``). An empty address or "local"
    forces the local queue whatever the environment says."""
    resolved = ray_address(address)
    if resolved is None:
        return LocalQueue(max_jobs)
    from .raycluster import RayExecutor

    return RayExecutor(resolved, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run)


__all__ = ["Executor", "LocalQueue", "check_reachable", "get_executor", "ray_address", "wait_for_runs"]
