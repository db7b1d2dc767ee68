"""The run store (deepclust_core.runs): real tiny runs executed in this process, and damaged folders."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from deepclust_core import InputError, TrainingError, runs

SMALL = {"hidden_dims": (8, 8), "latent_dim": 2, "epochs": 3, "pretrain_epochs": 3, "gmm_restarts": 1}


def small_config(method="dgg", n_samples=400, **params):
    extra = {"n_neighbors": 5, "classifier_pretrain_epochs": 5} if method == "dgg" else {}
    return {"dataset": "moons", "dataset_options": {"n_samples": n_samples}, "method": method,
            "params": {**SMALL, **extra, **params}}


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
    run_dir = runs.create_run(runs_dir, {**small_config(), "label": "first", "group": "g-1"})
    result = runs.execute_run(run_dir)
    return run_dir, result


def test_create_run_writes_queued_run_with_canonical_config(tmp_path):
    run_dir = runs.create_run(tmp_path, {**small_config(), "params": {"epochs": "3", "hidden_dims": "8,8"}})
    assert run_dir.parent == tmp_path
    assert all(c.isalnum() or c == "-" for c in run_dir.name)
    config = json.loads((run_dir / "config.json").read_text())
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "queued"
    assert config["params"]["epochs"] == 3 and config["params"]["hidden_dims"] == [8, 8]
    assert "n_neighbors" in config["params"]  # every parameter explicit, defaults included
    assert runs.load_config(run_dir)["params"]["hidden_dims"] == (8, 8)
    assert not list(tmp_path.glob("*/.*.tmp"))  # atomic writes leave no temporary files


def test_executed_run_has_every_file(finished_run):
    run_dir, result = finished_run
    for name in ("config.json", "status.json", "data.json", "metrics.jsonl", "labels.npz", "result.json",
                 "gmm.npz", "traversals.npz", "graph.npz", "inputs.npz"):
        assert (run_dir / name).is_file(), name
    assert result["state"] == "finished" and 0.0 <= result["acc"] <= 1.0
    assert set(result) >= {"acc", "nmi", "ari", "seconds", "warnings", "method", "dataset"}
    assert 0.0 <= result["graph_cross_fraction"] <= 1.0 and 0.0 < result["graph_seconds"] < result["seconds"]
    status = runs.read_status(run_dir)
    assert status["state"] == "finished" and status["pid"] == os.getpid()
    assert status["started"] <= status["finished"]
    records = runs.read_metrics(run_dir)
    assert [(r["phase"], r["epoch"]) for r in records] == [("pretrain", 1), ("pretrain", 2), ("pretrain", 3),
                                                           ("train", 1), ("train", 2), ("train", 3)]
    assert {"loss", "recon", "kl_z", "acc", "nmi", "ari", "mixture_agreement", "mixture_acc"} <= set(records[-1])
    assert (result["mixture_agreement"], result["mixture_acc"]) == (records[-1]["mixture_agreement"],
                                                                  records[-1]["mixture_acc"])
    assert runs.list_snapshots(run_dir) == [1, 2, 3]
    snapshot = runs.load_snapshot(run_dir, 3)
    assert snapshot["latent"].shape == (400, 2) and snapshot["predicted"].shape == (400,)
    assert snapshot["gmm_means"].shape == (2, 2)
    labels = runs.load_artifact(run_dir, "labels")
    assert labels["labels"].shape == (400,) and labels["true"].shape == (400,)
    traversals = runs.load_artifact(run_dir, "traversals")
    assert traversals["paths"].shape == (2, 2, runs.TRAVERSAL_STEPS, 2)
    assert runs.load_artifact(run_dir, "graph")["indices"].shape == (400, 5)
    summary = runs.load_run(run_dir)
    assert summary["state"] == "finished" and summary["config"]["label"] == "first"
    assert summary["data"]["kind"] == "points" and summary["result"]["acc"] == result["acc"]
    assert [run["id"] for run in runs.list_runs(run_dir.parent)] == [run_dir.name]


def test_snapshots_are_subsampled_with_a_fixed_index():
    index = runs.snapshot_index(25_000)
    assert len(index) == runs.MAX_SNAPSHOT_POINTS and np.all(np.diff(index) > 0)
    np.testing.assert_array_equal(index, runs.snapshot_index(25_000))
    np.testing.assert_array_equal(runs.snapshot_index(50), np.arange(50))


def test_status_goes_queued_running_finished(tmp_path, monkeypatch):
    seen = []
    original = runs.update_status

    def spy(run_dir, **changes):
        if "state" in changes:
            seen.append(changes["state"])
        return original(run_dir, **changes)

    monkeypatch.setattr(runs, "update_status", spy)
    run_dir = runs.create_run(tmp_path, small_config("vade"))
    assert runs.load_run(run_dir)["state"] == "queued"
    runs.execute_run(run_dir)
    assert seen == ["running", "finished"]
    with pytest.raises(InputError, match="only queued runs"):
        runs.execute_run(run_dir)


def test_stop_file_ends_the_run_as_stopped_with_partial_results(tmp_path, monkeypatch):
    run_dir = runs.create_run(tmp_path, small_config("vade", epochs=50))
    original = runs.RunRecorder.on_epoch_end

    def stop_after_first_train_epoch(self, estimator, info):
        if info.phase == "train" and info.epoch == 2:
            runs.request_stop(self.run_dir)
        original(self, estimator, info)

    monkeypatch.setattr(runs.RunRecorder, "on_epoch_end", stop_after_first_train_epoch)
    result = runs.execute_run(run_dir)
    assert result["state"] == "stopped" and runs.load_run(run_dir)["state"] == "stopped"
    train = [r for r in runs.read_metrics(run_dir) if r["phase"] == "train"]
    assert len(train) == 2
    assert 2 in runs.list_snapshots(run_dir)  # the epoch it stopped at is kept
    assert (run_dir / "labels.npz").is_file()


def test_stop_before_start(tmp_path):
    run_dir = runs.create_run(tmp_path, small_config())
    runs.request_stop(run_dir)
    assert runs.execute_run(run_dir)["state"] == "stopped"
    assert not (run_dir / "metrics.jsonl").exists()


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
        runs.create_run(runs_dir, {**small_config(), **change})
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_data_dependent_error_fails_with_a_one_line_reason(tmp_path):
    run_dir = runs.create_run(tmp_path, small_config(n_neighbors=500))  # N_s >= n_samples
    result = runs.execute_run(run_dir)
    run = runs.load_run(run_dir)
    assert result["state"] == run["state"] == "failed"
    assert "n_neighbors" in run["reason"] and "\n" not in run["reason"] and "Traceback" not in run["reason"]
    assert "Traceback" in (run_dir / "log.txt").read_text()


def test_divergence_fails_with_reason(tmp_path, monkeypatch):
    from deepclust_core.methods import VaDE

    def diverge(self, X, y=None, callbacks=None):
        raise TrainingError("Training diverged at epoch 2: loss=nan. Try a lower lr.")

    monkeypatch.setattr(VaDE, "fit", diverge)
    run_dir = runs.create_run(tmp_path, small_config("vade"))
    result = runs.execute_run(run_dir)
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
    listed = {run["id"]: run for run in runs.list_runs(tmp_path)}
    assert set(listed) == set(cases)
    for name in ("no-config", "bad-json", "no-status", "odd-state"):
        assert listed[name]["state"] == "broken" and listed[name]["reason"]
    assert listed["bad-result"]["state"] == "finished" and listed["bad-result"]["result"] is None
    # a half-written metrics line and a truncated snapshot are skipped
    source, _ = finished_run
    (tmp_path / "bad-result" / "metrics.jsonl").write_text('{"epoch": 1, "loss": 2.0}\n{"epoch": 2, "lo')
    assert runs.read_metrics(tmp_path / "bad-result") == [{"epoch": 1, "loss": 2.0}]
    snapshots = tmp_path / "bad-result" / "snapshots"
    snapshots.mkdir()
    (snapshots / "epoch_0001.npz").write_bytes((source / "snapshots" / "epoch_0001.npz").read_bytes()[:100])
    assert runs.list_snapshots(tmp_path / "bad-result") == [1]
    assert runs.load_snapshot(tmp_path / "bad-result", 1) is None
    assert runs.load_run(tmp_path / "does-not-exist")["state"] == "broken"


@pytest.mark.parametrize("run_id", ["../outside", "..", "/etc", "a/b", "", ".hidden", "x" * 200, None])
def test_delete_cannot_escape_the_runs_folder(tmp_path, run_id):
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    (tmp_path / "outside").mkdir()
    with pytest.raises(InputError):
        runs.delete_run(runs_dir, run_id)
    assert (tmp_path / "outside").is_dir()


def test_delete_removes_a_finished_run_but_not_a_running_one(tmp_path):
    done = runs.create_run(tmp_path, small_config())
    runs.update_status(done, state="finished")
    busy = runs.create_run(tmp_path, small_config())
    runs.update_status(busy, state="running", pid=os.getpid(), pid_start=runs.process_start_time(os.getpid()))
    runs.delete_run(tmp_path, done.name)
    assert not done.exists()
    with pytest.raises(InputError, match="stop it"):
        runs.delete_run(tmp_path, busy.name)
    with pytest.raises(InputError, match="No run"):
        runs.delete_run(tmp_path, done.name)


def test_reconcile_marks_runs_of_dead_workers_failed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = runs.create_run(tmp_path, small_config())
    runs.update_status(orphan, state="running", pid=dead.pid)
    alive = runs.create_run(tmp_path, small_config())
    runs.update_status(alive, state="running", pid=os.getpid(), pid_start=runs.process_start_time(os.getpid()))
    reused = runs.create_run(tmp_path, small_config())  # our pid, but another process start time
    runs.update_status(reused, state="running", pid=os.getpid(), pid_start=-1)
    assert sorted(runs.reconcile(tmp_path)) == sorted([orphan.name, reused.name])
    assert runs.load_run(orphan)["state"] == "failed"
    assert runs.load_run(orphan)["reason"] == "worker process died"
    assert runs.load_run(alive)["state"] == "running"


def test_prune_uploads_keeps_files_runs_use_and_fresh_ones(tmp_path):
    uploads = tmp_path / runs.UPLOADS_FOLDER
    uploads.mkdir(parents=True)
    used, stale, fresh = (uploads / name for name in ("used.npy", "stale.npy", "fresh.npy"))
    for path in (used, stale, fresh):
        np.save(path, np.random.default_rng(0).normal(size=(30, 2)))
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in (used, stale):
        os.utime(path, (two_days_ago, two_days_ago))
    run_dir = runs.create_run(tmp_path, {"dataset": "file", "dataset_options": {"path": str(used)},
                                         "method": "kmeans", "params": {"n_clusters": 2}})
    assert runs.prune_uploads(tmp_path) == ["stale.npy"]
    assert used.is_file() and fresh.is_file() and not stale.exists()
    # Once the run that used it is deleted, the old file goes at the next prune; the fresh one stays.
    runs.delete_run(tmp_path, run_dir.name)
    assert runs.prune_uploads(tmp_path) == ["used.npy"]
    assert sorted(p.name for p in uploads.iterdir()) == ["fresh.npy"]
    assert runs.prune_uploads(tmp_path, keep_seconds=0) == ["fresh.npy"]
    assert runs.prune_uploads(tmp_path / "nowhere") == []
