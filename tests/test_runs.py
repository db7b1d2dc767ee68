"""The run store (deepclust_core.store): real tiny runs executed in this process, states and their
transitions, dead workers seen by readers (without writing), and damaged folders."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from deepclust_core import InputError, TrainingError, config as run_config, fileio, store
from deepclust_core.store import recorder, states

SMALL = {"hidden_dims": (8, 8), "latent_dim": 2, "epochs": 3, "pretrain_epochs": 3, "gmm_restarts": 1}


def small_config(method="dgg", n_samples=400, **params):
    extra = {"n_neighbors": 5, "classifier_pretrain_epochs": 5} if method == "dgg" else {}
    return {"dataset": "moons", "dataset_options": {"n_samples": n_samples}, "method": method,
            "params": {**SMALL, **extra, **params}}


def write_status(run_dir, **status):
    """Fabricate a status on disk (what a worker, or a crash, would have left), bypassing the state machine."""
    fileio.write_json(store.RunFolder(run_dir).status, status)


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def own_process():
    return {"pid": os.getpid(), "pid_start": states.process_start_time(os.getpid())}


@pytest.fixture(scope="module")
def pretrain_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("pretrain-cache")


@pytest.fixture(autouse=True)
def _isolated_cache(monkeypatch, pretrain_cache):
    monkeypatch.setenv("DEEPCLUST_CACHE", str(pretrain_cache))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, pretrain_cache):
    os.environ["DEEPCLUST_CACHE"] = str(pretrain_cache)  # module fixtures run before the autouse one
    runs_dir = tmp_path_factory.mktemp("runs")
    run = store.create_run(runs_dir, {**small_config(), "label": "first", "group": "g-1"})
    result = store.execute_run(run.path)
    return run.path, result


def test_create_run_writes_queued_run_with_canonical_config(tmp_path):
    run = store.create_run(tmp_path, {**small_config(), "params": {"epochs": "3", "hidden_dims": "8,8"}})
    assert isinstance(run, store.Run) and run.state == "queued" and run.active and run.reason is None
    assert run.path.parent == tmp_path and run.runs_dir == tmp_path and run.id == run.path.name
    assert all(c.isalnum() or c == "-" for c in run.id) and store.is_run_id(run.id)
    config = json.loads((run.path / "config.json").read_text())
    status = json.loads((run.path / "status.json").read_text())
    assert status["state"] == "queued" and run.created == config["created"] == status["created"]
    assert config["params"]["epochs"] == 3 and config["params"]["hidden_dims"] == [8, 8]
    assert "n_neighbors" in config["params"]  # every parameter explicit, defaults included
    assert run.config["params"] == config["params"]
    assert run_config.load_config(fileio.read_json(run.folder.config))["params"]["hidden_dims"] == (8, 8)
    assert not list(tmp_path.glob("*/.*.tmp"))  # atomic writes leave no temporary files
    with pytest.raises(Exception):  # a Run is a frozen record
        run.state = "running"


def test_executed_run_has_every_file(finished_run):
    run_dir, result = finished_run
    for name in ("config.json", "status.json", "data.json", "metrics.jsonl", "labels.npz", "result.json",
                 "gmm.npz", "traversals.npz", "graph.npz", "inputs.npz"):
        assert (run_dir / name).is_file(), name
    assert result["state"] == "finished" and 0.0 <= result["acc"] <= 1.0
    assert set(result) >= {"acc", "nmi", "ari", "seconds", "warnings", "method", "dataset"}
    assert 0.0 <= result["graph_cross_fraction"] <= 1.0 and 0.0 < result["graph_seconds"] < result["seconds"]
    status = states.read_status(run_dir)
    assert status["state"] == "finished" and status["pid"] == os.getpid()
    assert status["started"] <= status["finished"]
    records = store.read_metrics(run_dir)
    assert [(r["phase"], r["epoch"]) for r in records] == [("pretrain", 1), ("pretrain", 2), ("pretrain", 3),
                                                           ("train", 1), ("train", 2), ("train", 3)]
    assert {"loss", "recon", "kl_z", "acc", "nmi", "ari", "mixture_agreement", "mixture_acc"} <= set(records[-1])
    assert (result["mixture_agreement"], result["mixture_acc"]) == (records[-1]["mixture_agreement"],
                                                                  records[-1]["mixture_acc"])
    assert store.list_snapshots(run_dir) == [1, 2, 3]
    snapshot = store.load_snapshot(run_dir, 3)
    assert snapshot["latent"].shape == (400, 2) and snapshot["predicted"].shape == (400,)
    assert snapshot["gmm_means"].shape == (2, 2)
    labels = store.load_artifact(run_dir, "labels")
    assert labels["labels"].shape == (400,) and labels["true"].shape == (400,)
    traversals = store.load_artifact(run_dir, "traversals")
    assert traversals["paths"].shape == (2, 2, recorder.TRAVERSAL_STEPS, 2)
    assert store.load_artifact(run_dir, "graph")["indices"].shape == (400, 5)
    run = store.load_run(run_dir)
    assert run.state == "finished" and run.reason is None and not run.active
    assert run.config["label"] == "first" and run.config["group"] == "g-1"
    assert run.data["kind"] == "points" and run.result["acc"] == result["acc"]
    assert run.progress == {"phase": "train", "epoch": 3, "n_epochs": 3}
    assert (run.method, run.dataset) == ("dgg", "moons")
    assert [listed.id for listed in store.list_runs(run_dir.parent)] == [run_dir.name]
    assert store.list_runs(run_dir.parent) == [run]


def test_snapshots_are_subsampled_with_a_fixed_index(tmp_path):
    index = store.snapshot_index(25_000)
    assert len(index) == store.MAX_SNAPSHOT_POINTS and np.all(np.diff(index) > 0)
    np.testing.assert_array_equal(index, store.snapshot_index(25_000))
    np.testing.assert_array_equal(store.snapshot_index(50), np.arange(50))
    # The recorder takes the number of samples and subsamples the true labels with the same index.
    labels = np.arange(25_000) % 7
    run_recorder = store.RunRecorder(tmp_path, 25_000, labels)
    np.testing.assert_array_equal(run_recorder.snapshot_index, index)
    np.testing.assert_array_equal(run_recorder.true_labels, labels[index])
    assert store.RunRecorder(tmp_path, 50, None).true_labels is None
    assert (tmp_path / "snapshots").is_dir()


def test_status_goes_queued_running_finished(tmp_path, monkeypatch):
    written = []
    real = fileio.write_json

    def spy(path, payload, **options):
        if os.path.basename(path) == "status.json" and (not written or written[-1] != payload["state"]):
            written.append(payload["state"])
        return real(path, payload, **options)

    monkeypatch.setattr(fileio, "write_json", spy)
    run = store.create_run(tmp_path, small_config("vade"))
    assert store.load_run(run.path).state == "queued"
    store.execute_run(run.path)
    assert written == ["queued", "running", "finished"]
    with pytest.raises(InputError, match="only queued runs"):
        store.execute_run(run.path)


def test_stop_file_ends_the_run_as_stopped_with_partial_results(tmp_path, monkeypatch):
    run = store.create_run(tmp_path, small_config("vade", epochs=50))
    original = store.RunRecorder.on_epoch_end

    def stop_after_second_train_epoch(self, estimator, info):
        if info.phase == "train" and info.epoch == 2:
            store.request_stop(self.folder.path)
        original(self, estimator, info)

    monkeypatch.setattr(store.RunRecorder, "on_epoch_end", stop_after_second_train_epoch)
    result = store.execute_run(run.path)
    assert result["state"] == "stopped" and store.load_run(run.path).state == "stopped"
    assert store.load_run(run.path).reason == "stopped on request"
    train = [r for r in store.read_metrics(run.path) if r["phase"] == "train"]
    assert len(train) == 2
    assert 2 in store.list_snapshots(run.path)  # the epoch it stopped at is kept
    assert (run.path / "labels.npz").is_file()


def test_stop_before_start(tmp_path):
    run = store.create_run(tmp_path, small_config())
    store.request_stop(run.path)
    assert store.execute_run(run.path)["state"] == "stopped"
    assert not (run.path / "metrics.jsonl").exists()
    assert store.load_run(run.path).reason == "stopped before it started"


@pytest.mark.parametrize("change, message", [
    ({"dataset": "nope"}, "Unknown dataset"),
    ({"method": "nope"}, "Unknown method"),
    ({"params": {"nope": 1}}, "Unknown parameter"),
    ({"params": {"lr": -1.0}}, "lr must be >"),
    ({"params": {"epochs": "many"}}, "epochs must be of type int"),
    ({"params": {"likelihood": "poisson"}}, "likelihood must be one of"),
    ({"dataset_options": {"colour": 1}}, "Unknown option"),
    ({"dataset_options": {"n_samples": "lots"}}, "n_samples must be of type int"),
    ({"surprise": True}, "Unknown config key"),
])
def test_bad_config_is_rejected_before_writing_anything(tmp_path, change, message):
    runs_dir = tmp_path / "runs"
    with pytest.raises(InputError, match=message):
        store.create_run(runs_dir, {**small_config(), **change})
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_data_dependent_error_fails_with_a_one_line_reason(tmp_path):
    run = store.create_run(tmp_path, small_config(n_neighbors=500))  # N_s >= n_samples
    result = store.execute_run(run.path)
    run = store.load_run(run.path)
    assert result["state"] == run.state == "failed"
    assert "n_neighbors" in run.reason and "\n" not in run.reason and "Traceback" not in run.reason
    assert "Traceback" in (run.path / "log.txt").read_text()


def test_divergence_fails_with_reason(tmp_path, monkeypatch):
    from deepclust_core.methods import VaDE

    def diverge(self, X, y=None, callbacks=None):
        raise TrainingError("Training diverged at epoch 2: loss=nan. Try a lower lr.")

    monkeypatch.setattr(VaDE, "fit", diverge)
    run = store.create_run(tmp_path, small_config("vade"))
    result = store.execute_run(run.path)
    assert result["state"] == "failed" and "diverged at epoch 2" in result["reason"]


def test_damaged_run_folders_are_reported_not_raised(tmp_path, finished_run):
    cases = {
        "no-config": {},
        "bad-json": {"config.json": "{not json", "status.json": "{}"},
        "no-status": {"config.json": json.dumps({"dataset": "moons", "method": "dgg"})},
        "odd-state": {"config.json": json.dumps({"dataset": "moons", "method": "dgg"}),
                      "status.json": json.dumps({"state": "dancing"})},
        "bad-result": {"config.json": json.dumps({"dataset": "moons", "method": "dgg"}),
                       "status.json": json.dumps({"state": "finished"}), "result.json": "[1,"},
    }
    for name, files in cases.items():
        (tmp_path / name).mkdir()
        for file, text in files.items():
            (tmp_path / name / file).write_text(text)
    listed = {run.id: run for run in store.list_runs(tmp_path)}
    assert set(listed) == set(cases)
    for name in ("no-config", "bad-json", "no-status", "odd-state"):
        assert listed[name].state == "broken" and listed[name].reason and not listed[name].active
    assert listed["no-config"].reason.startswith("config.json is missing")
    assert listed["bad-json"].reason.startswith("config.json is damaged: ")
    assert listed["no-status"].reason == "status.json is missing"
    assert listed["odd-state"].reason.startswith("status.json is damaged: ") and "dancing" in listed["odd-state"].reason
    assert listed["bad-result"].state == "finished" and listed["bad-result"].result is None
    assert listed["bad-result"].reason.startswith("result.json is damaged: ")
    # a half-written metrics line and a truncated snapshot are skipped
    source, _ = finished_run
    (tmp_path / "bad-result" / "metrics.jsonl").write_text('{"epoch": 1, "loss": 2.0}\n{"epoch": 2, "lo')
    assert store.read_metrics(tmp_path / "bad-result") == [{"epoch": 1, "loss": 2.0}]
    snapshots = tmp_path / "bad-result" / "snapshots"
    snapshots.mkdir()
    (snapshots / "epoch_0001.npz").write_bytes((source / "snapshots" / "epoch_0001.npz").read_bytes()[:100])
    assert store.list_snapshots(tmp_path / "bad-result") == [1]
    assert store.load_snapshot(tmp_path / "bad-result", 1) is None
    assert store.load_run(tmp_path / "does-not-exist").state == "broken"


@pytest.mark.parametrize("run_id", ["../outside", "..", "/etc", "a/b", "", ".hidden", "x" * 200, None])
def test_delete_cannot_escape_the_runs_folder(tmp_path, run_id):
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    (tmp_path / "outside").mkdir()
    with pytest.raises(InputError):
        store.delete_run(runs_dir, run_id)
    assert (tmp_path / "outside").is_dir()


def test_delete_removes_an_ended_run_but_not_a_running_one(tmp_path):
    done = store.create_run(tmp_path, small_config())
    write_status(done.path, state="finished")
    busy = store.create_run(tmp_path, small_config())
    write_status(busy.path, state="running", **own_process())
    crashed = store.create_run(tmp_path, small_config())  # "running", but its worker is dead: failed
    write_status(crashed.path, state="running", pid=dead_pid())
    store.delete_run(tmp_path, done.id)
    assert not done.path.exists()
    with pytest.raises(InputError, match="stop it"):
        store.delete_run(tmp_path, busy.id)
    assert busy.path.is_dir()
    store.delete_run(tmp_path, crashed.id)
    assert not crashed.path.exists()
    with pytest.raises(InputError, match="No run"):
        store.delete_run(tmp_path, done.id)


def test_a_reader_reports_a_dead_worker_as_failed_without_writing(tmp_path):
    crashed = store.create_run(tmp_path, small_config())
    write_status(crashed.path, state="running", pid=dead_pid(), started=1.0)
    with_log = store.create_run(tmp_path, small_config())
    write_status(with_log.path, state="running", pid=dead_pid(), started=1.0)
    (with_log.path / "log.txt").write_text("epoch 1\nOSError: [Errno 28] No space left on device\n\n  \n")
    alive = store.create_run(tmp_path, small_config())
    write_status(alive.path, state="running", **own_process())
    reused = store.create_run(tmp_path, small_config())  # our pid, but another process's start time
    write_status(reused.path, state="running", pid=os.getpid(), pid_start=-1)
    (reused.path / "log.txt").write_text("\n   \n")  # a log of blank lines says nothing
    starting = store.create_run(tmp_path, small_config())  # scheduled a moment ago, no pid yet
    write_status(starting.path, state="running", pid=None, scheduled=time.time())
    never = store.create_run(tmp_path, small_config())  # scheduled long ago, never got a worker
    write_status(never.path, state="running", pid=None, scheduled=time.time() - 31)
    on_disk = {run.id: (run.folder.status.read_bytes(), run.folder.status.stat().st_mtime_ns)
               for run in (crashed, with_log, alive, reused, starting, never)}
    for _ in range(2):  # a reader, however often it reads, writes nothing
        listed = {run.id: run for run in store.list_runs(tmp_path)}
        assert {run_id: run.state for run_id, run in listed.items()} == {
            crashed.id: "failed", with_log.id: "failed", alive.id: "running", reused.id: "failed",
            starting.id: "running", never.id: "failed"}
        assert listed[crashed.id].reason == listed[reused.id].reason == listed[never.id].reason == "worker process died"
        assert listed[with_log.id].reason == ("worker process died; its log ends: "
                                              "OSError: [Errno 28] No space left on device")
        assert store.load_run(crashed.path) == listed[crashed.id]
        assert not listed[crashed.id].active and listed[alive.id].active
        assert listed[crashed.id].status["state"] == "running"  # what the disk says, untouched
    assert {run_id: (store.RunFolder(tmp_path / run_id).status.read_bytes(),
                     store.RunFolder(tmp_path / run_id).status.stat().st_mtime_ns) for run_id in on_disk} == on_disk


def test_reconcile_records_dead_workers_runs_as_failed(tmp_path):
    orphan = store.create_run(tmp_path, small_config())
    write_status(orphan.path, state="running", pid=dead_pid())
    (orphan.path / "log.txt").write_text("Killed\n")
    alive = store.create_run(tmp_path, small_config())
    write_status(alive.path, state="running", **own_process())
    reused = store.create_run(tmp_path, small_config())  # our pid, but another process start time
    write_status(reused.path, state="running", pid=os.getpid(), pid_start=-1)
    queued = store.create_run(tmp_path, small_config())
    assert store.reconcile_run(alive.path) is False
    assert sorted(store.reconcile(tmp_path)) == sorted([orphan.id, reused.id])
    status = states.read_status(orphan.path)
    assert status["state"] == "failed" and status["reason"] == "worker process died; its log ends: Killed"
    assert status["finished"] >= status["updated"] - 1
    assert states.read_status(reused.path)["reason"] == "worker process died"
    assert store.load_run(orphan.path).reason == "worker process died; its log ends: Killed"
    assert store.load_run(alive.path).state == "running" and store.load_run(queued.path).state == "queued"
    assert store.reconcile(tmp_path) == []  # recorded once


@pytest.mark.parametrize("ended", ["finished", "failed", "stopped"])
def test_an_ended_state_never_changes(tmp_path, ended):
    run = store.create_run(tmp_path, small_config())
    assert states.transition(run.path, "running", pid=os.getpid()) is not None
    assert states.mark_ended(run.path, ended, "why") is not None
    before = run.folder.status.read_bytes()
    for state in states.STATES:
        assert states.transition(run.path, state, reason="late") is None
    for state in states.ENDED_STATES:
        assert states.mark_ended(run.path, state, "late") is None
    assert states.update(run.path, progress={"epoch": 9}) is None
    states.set_progress(run.path, "train", 9, 9)
    states.mark_started(run.path, os.getpid(), time.time())
    states.mark_scheduled(run.path)
    states.record_worker(run.path, os.getpid())
    assert run.folder.status.read_bytes() == before
    assert store.load_run(run.path).state == ended and store.load_run(run.path).reason == "why"
    with pytest.raises(InputError, match="only queued runs"):
        store.execute_run(run.path)


def test_transitions_follow_the_state_machine(tmp_path):
    run = store.create_run(tmp_path, small_config())
    assert states.transition(run.path, "finished") is None  # a queued run cannot finish without running
    assert states.read_status(run.path)["state"] == "queued"
    assert states.update(run.path, progress={"phase": "train", "epoch": 1, "n_epochs": 3})["state"] == "queued"
    states.mark_scheduled(run.path)
    status = states.read_status(run.path)
    assert status["state"] == "running" and status["pid"] is None and status["scheduled"] <= time.time()
    states.record_worker(run.path, os.getpid())
    assert store.load_run(run.path).state == "running"  # a live worker
    states.set_progress(run.path, "train", 2, 3)
    assert store.load_run(run.path).progress == {"phase": "train", "epoch": 2, "n_epochs": 3}
    with pytest.raises(ValueError):
        states.mark_ended(run.path, "running")
    assert states.mark_ended(run.path, "failed", "boom")["state"] == "failed"
    queued = store.create_run(tmp_path, small_config())
    assert states.mark_ended(queued.path, "stopped", "stopped before it started")["state"] == "stopped"


def test_prune_uploads_keeps_files_runs_use_and_fresh_ones(tmp_path):
    uploads = tmp_path / store.UPLOADS_FOLDER
    uploads.mkdir(parents=True)
    used, stale, fresh = (uploads / name for name in ("used.npy", "stale.npy", "fresh.npy"))
    for path in (used, stale, fresh):
        np.save(path, np.random.default_rng(0).normal(size=(30, 2)))
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in (used, stale):
        os.utime(path, (two_days_ago, two_days_ago))
    run = store.create_run(tmp_path, {"dataset": "file", "dataset_options": {"path": str(used)},
                                      "method": "kmeans", "params": {"n_clusters": 2}})
    assert store.prune_uploads(tmp_path) == ["stale.npy"]
    assert used.is_file() and fresh.is_file() and not stale.exists()
    # Once the run that used it is deleted, the old file goes at the next prune; the fresh one stays.
    store.delete_run(tmp_path, run.id)
    assert store.prune_uploads(tmp_path) == ["used.npy"]
    assert sorted(p.name for p in uploads.iterdir()) == ["fresh.npy"]
    assert store.prune_uploads(tmp_path, keep_seconds=0) == ["fresh.npy"]
    assert store.prune_uploads(tmp_path / "nowhere") == []
