"""Training jobs (deepclust_core.jobs): real worker processes, the queue limit, stop and crash recovery."""
import os
import signal
import time

import pytest

from deepclust_core import jobs, runs

SMALL = {"hidden_dims": (8, 8), "latent_dim": 2, "epochs": 3, "pretrain_epochs": 3, "gmm_restarts": 1}
WAIT = 180.0  # seconds; workers import torch, which is slow on a busy machine


def config(epochs=3, **params):
    return {"dataset": "moons", "dataset_options": {"n_samples": 300}, "method": "vade",
            "params": {**SMALL, "epochs": epochs, **params}}


@pytest.fixture(autouse=True)
def _environment(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("DEEPCLUST_CACHE", str(tmp_path_factory.getbasetemp() / "jobs-cache"))
    monkeypatch.setenv("DEEPCLUST_MAX_JOBS", "1")


def wait_for(predicate, timeout=WAIT, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def state(run_dir):
    return runs.load_run(run_dir)["state"]


def finish_all(runs_dir):
    """Leave no worker behind: stop whatever is still active."""
    for run in runs.list_runs(runs_dir):
        if run["state"] in runs.ACTIVE_STATES:
            jobs.stop(run["path"], grace=0.0, wait=True)


def test_submit_returns_at_once_and_a_separate_process_trains(tmp_path):
    started = time.perf_counter()
    run_id = jobs.submit(tmp_path, config())
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"submit blocked for {elapsed:.2f}s"
    run_dir = tmp_path / run_id
    status = runs.read_status(run_dir)
    assert status["state"] == "running" and status["pid"] != os.getpid()
    wait_for(lambda: state(run_dir) == "finished", what="the run to finish")
    run = runs.load_run(run_dir)
    assert run["status"]["pid"] == status["pid"]  # the worker recorded itself
    assert run["result"]["acc"] is not None
    assert "finished" in (run_dir / "log.txt").read_text()


def test_queue_limit_holds_and_drains_oldest_first_without_the_app(tmp_path):
    ids = [jobs.submit(tmp_path, config(random_state=seed)) for seed in range(3)]
    dirs = [tmp_path / run_id for run_id in ids]
    assert [state(d) for d in dirs] == ["running", "queued", "queued"]
    assert jobs.schedule(tmp_path) == []  # a second scheduler (another session) starts nothing
    assert jobs.stop(dirs[2]) == "stopped"  # a queued run stops at once
    try:
        def check():
            states = [state(d) for d in dirs]
            assert states.count("running") <= 1, states
            return states[:2] == ["finished", "finished"]

        wait_for(check, timeout=2 * WAIT, what="the queue to drain")
        first, second = (runs.read_status(d) for d in dirs[:2])
        assert second["started"] >= first["finished"]  # started by the first worker when it ended
        assert state(dirs[2]) == "stopped"
    finally:
        finish_all(tmp_path)


def test_stop_ends_a_running_run_as_stopped(tmp_path):
    run_dir = tmp_path / jobs.submit(tmp_path, config(epochs=100_000))
    try:
        wait_for(lambda: (runs.load_run(run_dir)["status"].get("progress") or {}).get("phase") == "train",
                 what="training to start")
        assert jobs.stop(run_dir, grace=60.0, wait=True) == "stopped"  # honoured at the end of an epoch
        run = runs.load_run(run_dir)
        assert run["reason"] == "stopped on request"
        assert runs.read_metrics(run_dir) and runs.list_snapshots(run_dir)
        assert (run_dir / "labels.npz").is_file()
    finally:
        finish_all(tmp_path)


def test_sigterm_after_the_grace_period_also_stops(tmp_path):
    run_dir = tmp_path / jobs.submit(tmp_path, config(epochs=100_000))
    try:
        wait_for(lambda: (runs.load_run(run_dir)["status"].get("progress") or {}).get("phase") == "train",
                 what="training to start")
        (run_dir / "STOP").unlink(missing_ok=True)
        status = runs.read_status(run_dir)
        os.killpg(status["pid"], signal.SIGTERM)  # what stop() does once the grace period is over
        wait_for(lambda: state(run_dir) == "stopped", what="the worker to record the stop")
        assert "interrupted" in runs.load_run(run_dir)["reason"]
    finally:
        finish_all(tmp_path)


def test_killed_worker_is_reconciled_to_failed(tmp_path):
    run_dir = tmp_path / jobs.submit(tmp_path, config(epochs=100_000))
    pid = runs.read_status(run_dir)["pid"]
    wait_for(lambda: runs.read_status(run_dir).get("started"), what="the worker to start")
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not runs.pid_alive(pid), what="the worker to die")
    jobs.startup(tmp_path)  # what the app does when it (re)starts
    run = runs.load_run(run_dir)
    assert run["state"] == "failed" and run["reason"] == "worker process died"


def test_max_jobs_setting(monkeypatch):
    monkeypatch.setenv("DEEPCLUST_MAX_JOBS", "3")
    assert jobs.max_jobs() == 3
    monkeypatch.setenv("DEEPCLUST_MAX_JOBS", "0")
    assert jobs.max_jobs() == 1
    monkeypatch.setenv("DEEPCLUST_MAX_JOBS", "two")
    with pytest.raises(runs.InputError):
        jobs.max_jobs()
