"""Pause, Step, Resume and Stop of a real worker process (deepclust_core.jobs + the recorder's per-epoch
check), the live extras of a snapshot (γ, reconstructions, decision-region grid, graph while training), and
the threads-per-worker rule."""
import time

import numpy as np
import pytest

from deepclust_core import jobs, store, threads
from deepclust_core.store import live, states
from tests import waiting
from tests.waiting import WAIT

SMALL = {"hidden_dims": (8, 8), "latent_dim": 2, "pretrain_epochs": 2, "epochs": 4, "gmm_restarts": 1,
         "n_neighbors": 5, "classifier_pretrain_epochs": 2, "classifier_hidden": (8,)}


def config(**params):
    return {"dataset": "moons", "dataset_options": {"n_samples": 200}, "method": "dgg",
            "params": {**SMALL, **params}}


@pytest.fixture(autouse=True)
def _environment(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("DEEPCLUST_CACHE", str(tmp_path_factory.getbasetemp() / "pause-cache"))
    monkeypatch.setenv("DEEPCLUST_MAX_JOBS", "1")


def wait_for(predicate, timeout=WAIT, what="condition"):
    return waiting.wait_for(predicate, timeout, what, every=0.05)  # a paused run is watched closely


def epochs_done(run_dir):
    return len(store.read_metrics(run_dir))


def paused_at(run_dir, n_records):
    run = store.load_run(run_dir)
    return run.state == "paused" and epochs_done(run_dir) == n_records


def submit_paused(runs_dir):
    """A run whose PAUSE file exists before its worker trains an epoch: it pauses after its first epoch."""
    run = store.create_run(runs_dir, config())
    run.folder.pause_file.touch()
    jobs.schedule(runs_dir)
    wait_for(lambda: paused_at(run.path, 1), what="the run to pause after its first epoch")
    return run.path


def test_pause_holds_step_trains_exactly_one_epoch_and_resume_finishes(tmp_path):
    run_dir = submit_paused(tmp_path)
    pid = states.read_status(run_dir)["pid"]
    try:
        time.sleep(1.5)  # held: no epoch recorded, worker alive, state paused
        assert paused_at(run_dir, 1) and store.pid_alive(pid)
        assert store.load_run(run_dir).progress == {"phase": "pretrain", "epoch": 1, "n_epochs": 2}
        # Each Step: exactly one more epoch (across the pretrain -> train boundary), then paused again.
        for expected in (2, 3, 4):
            jobs.step(run_dir)
            wait_for(lambda: paused_at(run_dir, expected) and not store.RunFolder(run_dir).step_file.exists(),
                     what=f"step to epoch record {expected}")
            time.sleep(0.5)
            assert epochs_done(run_dir) == expected, "a Step trained more than one epoch"
        records = store.read_metrics(run_dir)
        assert [(r["phase"], r["epoch"]) for r in records] == [("pretrain", 1), ("pretrain", 2), ("train", 1),
                                                             ("train", 2)]
        # The paused epoch has its snapshot, with the live extras.
        snapshot = store.load_snapshot(run_dir, 2)
        assert snapshot is not None and snapshot["gamma"].shape == (200, 2)
        np.testing.assert_allclose(snapshot["gamma"].sum(axis=1), 1.0, atol=1e-4)
        assert snapshot["grid_labels"].shape == (live.GRID_SIZE, live.GRID_SIZE)
        assert snapshot["recon"].shape == (200, 2)
        assert store.load_artifact(run_dir, "graph")["indices"].shape == (200, 5)  # written while training
        assert states.read_status(run_dir)["pid"] == pid  # the same worker throughout
        jobs.resume(run_dir)
        wait_for(lambda: store.load_run(run_dir).state == "finished", what="the resumed run to finish")
        run = store.load_run(run_dir)
        assert run.result["acc"] is not None and epochs_done(run_dir) == 2 + 4
    finally:
        if store.load_run(run_dir).active:
            jobs.stop(run_dir, grace=0.0, wait=True)


def test_stop_ends_a_paused_run_and_a_paused_run_keeps_its_slot(tmp_path):
    run_dir = submit_paused(tmp_path)
    queued = store.create_run(tmp_path, config(random_state=1))
    jobs.schedule(tmp_path)
    assert store.load_run(queued.path).state == "queued"  # the paused worker still holds the only slot
    assert jobs.stop(queued.path) == "stopped"
    assert jobs.stop(run_dir, grace=30.0, wait=True) == "stopped"
    assert store.load_run(run_dir).state == "stopped"


def test_threads_one_for_tiny_networks_shared_cores_for_large_ones():
    moons = threads.work_of_config({"hidden_dims": (20, 20), "latent_dim": 2, "batch_size": 100,
                                    "n_neighbors": 40, "neighbors_per_step": 1}, n_features=2)
    mnist = threads.work_of_config({"hidden_dims": (500, 500, 2000), "latent_dim": 10, "batch_size": 100},
                                   n_features=784)
    # moons: 2*(2*20 + 20*20 + 20*2) * 100 anchors * (1 + 1 neighbour) multiply-adds
    assert moons == 2 * (40 + 400 + 40) * 100 * 2
    assert threads.threads_for(moons, n_running=1, n_cpus=16) == 1
    assert threads.threads_for(mnist, n_running=1, n_cpus=2) == 2
    assert threads.threads_for(mnist, n_running=2, n_cpus=2) == 1
    assert threads.threads_for(mnist, n_running=3, n_cpus=8) == 2
    assert threads.count_running(["running", "paused", "queued", "running"]) == 2
