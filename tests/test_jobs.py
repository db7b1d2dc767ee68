"""Training jobs (deepclust_core.jobs): real worker processes, the queue limit, stop, crash recovery and the
supervisor thread."""
import os
import signal
import time

import pytest

from deepclust_core import InputError, jobs, settings, store
from deepclust_core.store import states
from tests.waiting import WAIT, wait_for

SMALL = {"hidden_dims": (8, 8), "latent_dim": 2, "epochs": 3, "pretrain_epochs": 3, "gmm_restarts": 1}


def config(epochs=3, **params):
    return {"dataset": "moons", "dataset_options": {"n_samples": 300}, "method": "vade",
            "params": {**SMALL, "epochs": epochs, **params}}


@pytest.fixture(autouse=True)
def _environment(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("DEEPCLUST_CACHE", str(tmp_path_factory.getbasetemp() / "jobs-cache"))
    monkeypatch.setenv("DEEPCLUST_MAX_JOBS", "1")


def state(run_dir):
    return store.load_run(run_dir).state


def finish_all(runs_dir):
    """Leave no worker behind: stop whatever is still active."""
    for run in store.list_runs(runs_dir):
        if run.state in store.ACTIVE_STATES:
            jobs.stop(run.path, grace=0.0, wait=True)


def kill_worker(run_dir):
    """SIGKILL a run's worker once it has started training (nothing it could record), and wait for its end."""
    wait_for(lambda: states.read_status(run_dir).get("started"), what="the worker to start")
    pid = states.read_status(run_dir)["pid"]
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not store.pid_alive(pid), what="the worker to die")
    return pid


def test_submit_returns_at_once_and_a_separate_process_trains(tmp_path):
    started = time.perf_counter()
    run_id = jobs.submit(tmp_path, config())
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"submit blocked for {elapsed:.2f}s"
    run_dir = tmp_path / run_id
    status = states.read_status(run_dir)
    assert status["state"] == "running" and status["pid"] != os.getpid()
    wait_for(lambda: state(run_dir) == "finished", what="the run to finish")
    run = store.load_run(run_dir)
    assert run.status["pid"] == status["pid"]  # the worker recorded itself
    assert run.result["acc"] is not None
    assert "finished" in (run_dir / "log.txt").read_text()
    # It trained at a lower CPU priority than this process (DEEPCLUST_WORKER_NICE, default 10; at most 19).
    assert f"cpu priority: nice {min(19, os.nice(0) + 10)}" in (run_dir / "log.txt").read_text()


def test_queue_limit_holds_and_drains_oldest_first_without_the_app(tmp_path):
    ids = [jobs.submit(tmp_path, config(random_state=seed)) for seed in range(3)]
    dirs = [tmp_path / run_id for run_id in ids]
    assert [state(d) for d in dirs] == ["running", "queued", "queued"]
    assert jobs.schedule(tmp_path) == []  # a second scheduler (another session) starts nothing
    assert jobs.stop(dirs[2]) == "stopped"  # a queued run stops at once
    try:
        def check():
            seen = [state(d) for d in dirs]
            assert seen.count("running") <= 1, seen
            return seen[:2] == ["finished", "finished"]

        wait_for(check, timeout=2 * WAIT, what="the queue to drain")
        first, second = (states.read_status(d) for d in dirs[:2])
        assert second["started"] >= first["finished"]  # started by the first worker when it ended
        assert state(dirs[2]) == "stopped"
    finally:
        finish_all(tmp_path)


def test_stop_ends_a_running_run_as_stopped(tmp_path):
    run_dir = tmp_path / jobs.submit(tmp_path, config(epochs=100_000))
    try:
        wait_for(lambda: store.load_run(run_dir).progress.get("phase") == "train", what="training to start")
        assert jobs.stop(run_dir, grace=60.0, wait=True) == "stopped"  # honoured at the end of an epoch
        run = store.load_run(run_dir)
        assert run.reason == "stopped on request"
        assert store.read_metrics(run_dir) and store.list_snapshots(run_dir)
        assert (run_dir / "labels.npz").is_file()
    finally:
        finish_all(tmp_path)


def test_sigterm_after_the_grace_period_also_stops(tmp_path):
    run_dir = tmp_path / jobs.submit(tmp_path, config(epochs=100_000))
    try:
        wait_for(lambda: store.load_run(run_dir).progress.get("phase") == "train", what="training to start")
        (run_dir / "STOP").unlink(missing_ok=True)
        status = states.read_status(run_dir)
        os.killpg(status["pid"], signal.SIGTERM)  # what stop() does once the grace period is over
        wait_for(lambda: state(run_dir) == "stopped", what="the worker to record the stop")
        assert "interrupted" in store.load_run(run_dir).reason
    finally:
        finish_all(tmp_path)


def test_killed_worker_is_reported_failed_and_reconciled(tmp_path):
    run_dir = tmp_path / jobs.submit(tmp_path, config(epochs=100_000))
    kill_worker(run_dir)
    run = store.load_run(run_dir)  # a reader sees it at once, writing nothing
    assert run.state == "failed" and run.reason.startswith("worker process died")
    assert states.read_status(run_dir)["state"] == "running"
    jobs.startup(tmp_path)  # what the app does when it (re)starts: records it
    status = states.read_status(run_dir)
    assert status["state"] == "failed" and status["reason"] == run.reason
    assert store.load_run(run_dir).reason == run.reason


def test_supervisor_starts_the_queue_after_a_killed_worker(tmp_path):
    """A SIGKILLed worker cannot start the next run itself; the app's supervisor thread does, with no one
    calling schedule, and records the dead worker's run as failed."""
    first = tmp_path / jobs.submit(tmp_path, config(epochs=100_000))
    second = tmp_path / jobs.submit(tmp_path, config())
    assert state(second) == "queued"
    supervisor = None
    try:
        kill_worker(first)
        time.sleep(0.5)
        assert states.read_status(second)["state"] == "queued"  # nobody started it
        supervisor = jobs.Supervisor(tmp_path, every=0.2)
        assert supervisor.daemon
        supervisor.start()
        wait_for(lambda: states.read_status(second)["state"] != "queued", what="the supervisor to start the run")
        assert states.read_status(first)["state"] == "failed"  # recorded on disk
        assert states.read_status(first)["reason"].startswith("worker process died")
        wait_for(lambda: state(second) == "finished", what="the supervised run to finish")
        assert supervisor.last_error is None
    finally:
        if supervisor is not None:
            supervisor.halt()
            supervisor.join(timeout=10)
            assert not supervisor.is_alive()
        finish_all(tmp_path)


def test_supervisor_keeps_the_last_error_and_halts(tmp_path):
    not_a_folder = tmp_path / "runs"
    not_a_folder.write_text("a file where the runs folder should be")
    supervisor = jobs.Supervisor(not_a_folder, every=0.05)
    supervisor.start()
    try:
        wait_for(lambda: supervisor.last_error, timeout=10, what="the supervisor's error")
        assert supervisor.is_alive()  # an error never ends the thread
        assert "\n" not in supervisor.last_error
    finally:
        supervisor.halt()
        supervisor.join(timeout=5)
    assert not supervisor.is_alive()


def test_max_jobs_setting(monkeypatch):
    monkeypatch.setenv("DEEPCLUST_MAX_JOBS", "3")
    assert jobs.max_jobs() == 3
    monkeypatch.delenv("DEEPCLUST_MAX_JOBS")
    assert jobs.max_jobs() == 1
    for bad in ("two", "0", "-1", "1.5"):
        monkeypatch.setenv("DEEPCLUST_MAX_JOBS", bad)
        with pytest.raises(InputError, match="DEEPCLUST_MAX_JOBS"):
            jobs.max_jobs()


def test_worker_nice_setting(monkeypatch):
    assert settings.worker_nice() == 10
    monkeypatch.setenv("DEEPCLUST_WORKER_NICE", "0")
    assert settings.worker_nice() == 0
    for bad in ("-1", "20", "high"):
        monkeypatch.setenv("DEEPCLUST_WORKER_NICE", bad)
        with pytest.raises(InputError, match="DEEPCLUST_WORKER_NICE"):
            settings.worker_nice()


def test_a_bad_max_jobs_setting_changes_nothing(tmp_path, monkeypatch):
    queued = store.create_run(tmp_path, config())
    before = queued.folder.status.read_bytes()
    monkeypatch.setenv("DEEPCLUST_MAX_JOBS", "lots")
    with pytest.raises(InputError, match="DEEPCLUST_MAX_JOBS"):
        jobs.schedule(tmp_path)
    assert queued.folder.status.read_bytes() == before and state(queued.path) == "queued"
    with pytest.raises(InputError, match="DEEPCLUST_MAX_JOBS"):
        jobs.submit(tmp_path, config())
    assert [run.id for run in store.list_runs(tmp_path)] == [queued.id]  # no queued run left behind
    assert queued.folder.status.read_bytes() == before
