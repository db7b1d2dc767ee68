"""Threads per training process, from the size of the work and the number of processes training at once.

Why: torch starts one intra-op thread per core. For tiny networks (moons: 2-20-20-2, a minibatch of 100) a
matrix product is a few thousand multiply-adds, far less than what it costs threads to hand work over and wait
for each other; those waits spin and burn the CPU, and when anything else runs (the app's server, the browser,
a second worker) the spinning threads steal its cores. Measured from the CLI on 2 busy cores (load 3-4): the
default moons DGG run took 135 s wall / 147 s CPU with 2 threads against 43 s wall / 35 s CPU with one.

The rule: one thread while a minibatch's matrix products are small (below :data:`PARALLEL_WORK`
multiply-adds), else the cores shared evenly between the processes that train at once (at least one each).
"""
from __future__ import annotations

import os
from typing import Iterable, Mapping, Optional, Sequence

PARALLEL_WORK = 20_000_000  # multiply-adds per minibatch (forward) above which a second thread pays


def minibatch_work(n_features: int, hidden_dims: Sequence[int], latent_dim: int, batch_size: int,
                   expansion: int = 1) -> int:
    """Multiply-adds of one forward pass of the autoencoder on a minibatch (encoder + decoder), times
    ``expansion`` (DGG reconstructs each anchor from its sampled neighbours too)."""
    widths = [int(n_features), *[int(h) for h in hidden_dims], int(latent_dim)]
    encoder = sum(a * b for a, b in zip(widths, widths[1:]))
    return int(2 * encoder * max(1, int(batch_size)) * max(1, int(expansion)))


def threads_for(work: int, n_running: int, n_cpus: Optional[int] = None) -> int:
    """Threads one process should use for minibatches of ``work`` multiply-adds when ``n_running``
    processes train at once on ``n_cpus`` cores (default: the cores this process may use)."""
    cpus = n_cpus if n_cpus is not None else available_cpus()
    if work < PARALLEL_WORK:
        return 1
    return max(1, int(cpus) // max(1, int(n_running)))


def available_cpus() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def work_of_config(params: Mapping, n_features: Optional[int] = None) -> int:
    """:func:`minibatch_work` of a run's parameters. Before the data is loaded ``n_features`` is unknown: the
    first hidden layer stands in for it (the hidden layers dominate for the networks we train)."""
    try:
        hidden = tuple(int(h) for h in (params.get("hidden_dims") or ()))
        batch_size = int(params.get("batch_size") or 256)
        latent_dim = int(params.get("latent_dim") or 0) or 1
    except (TypeError, ValueError):  # "auto": sizes come from the data, unknown before it loads
        return PARALLEL_WORK
    if n_features is None:
        n_features = hidden[0] if hidden else 1
    expansion = 1 + int(params.get("neighbors_per_step") or 0) if params.get("n_neighbors") else 1
    return minibatch_work(n_features, hidden, latent_dim, batch_size, expansion)


def set_threads(work: int, n_running: int) -> int:
    """Apply :func:`threads_for` to torch (intra-op threads) and return the number chosen."""
    import torch

    threads = threads_for(work, n_running)
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()  # never more than the person who started us allowed
    if omp.isdigit() and int(omp) > 0:
        threads = min(threads, int(omp))
    torch.set_num_threads(threads)
    return threads


def count_running(states: Iterable[str]) -> int:
    """Processes that train at once among runs in ``states`` (a paused run keeps its worker but no core)."""
    return sum(state == "running" for state in states)
