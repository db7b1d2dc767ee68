"""The Ray executor against a real Ray cluster started on 127.0.0.1 in this module (2 CPUs, no dashboard): a
sweep gives the same labels as the local queue for the same seeds, so does a comparison (``compare``) as its
in-process default, the app's path (a detached driver) shows
live progress and Stop ends the remote run as "stopped" with its partial results, and a killed Ray worker fails
only its own run. Skipped with the reason when the optional `ray` extra is not installed."""
import os
import signal
import threading
import time

import numpy as np
import pytest

# Ray's own switch: with it off, the cluster binds to the loopback address (127.0.0.1) instead of the
# machine's network address. Read when ray is imported, so set before.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ray = pytest.importorskip("ray", reason="ray is not installed (the optional extra: pip install 'deepclust[ray]')")

from deepclust_core import jobs, store  # noqa: E402
from deepclust_core.compare import compare, format_markdown  # noqa: E402
from deepclust_core.jobs import LocalQueue  # noqa: E402
from deepclust_core.executors.raycluster import RayExecutor  # noqa: E402
from deepclust_core.sweep import Sweep, run_sweep  # noqa: E402

pytestmark = pytest.mark.ray
SMALL = {"hidden_dims": (16, 16), "latent_dim": 2, "pretrain_epochs": 20, "gmm_restarts": 1, "batch_size": 50,
         "epochs": 6}
MOONS = {"n_samples": 200}
WAIT = 120.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    saved = {key: os.environ.get(key) for key in ("DEEPCLUST_CACHE", "DEEPCLUST_MAX_JOBS")}
    os.environ["DEEPCLUST_CACHE"] = str(tmp_path_factory.mktemp("ray-cache"))  # the workers inherit it
    os.environ["DEEPCLUST_MAX_JOBS"] = "2"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    address = ray.get_runtime_context().gcs_address
    try:
        assert address.startswith("127.0.0.1:"), address
        yield address
    finally:
        ray.shutdown()
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def wait_for(predicate, what, timeout=WAIT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def train_epochs(run_dir):
    return [record["epoch"] for record in store.read_metrics(run_dir) if record["phase"] == "train"]


def labels(runs_dir, row):
    return store.load_artifact(runs_dir / row["run_id"], "labels")["labels"]


def test_a_sweep_on_ray_gives_the_local_queue_labels_and_run_folders(cluster, tmp_path):
    sweep = Sweep("moons", "dgg", grid={"n_neighbors": [0, 5]}, seeds=[0, 1], dataset_options=MOONS, params=SMALL)
    seen = []
    on_ray = run_sweep(sweep, tmp_path / "ray", executor=RayExecutor(cluster),
                       on_result=lambda row, table: seen.append(row["run_id"]))
    local = run_sweep(sweep, tmp_path / "local", executor=LocalQueue(2))
    assert len(seen) == 4 and on_ray.executor.startswith("Ray cluster at 127.0.0.1")
    assert [row["state"] for row in on_ray.rows] == ["finished"] * 4 == [row["state"] for row in local.rows]
    for remote_row, local_row in zip(on_ray.rows, local.rows):
        assert (remote_row["n_neighbors"], remote_row["seed"]) == (local_row["n_neighbors"], local_row["seed"])
        np.testing.assert_array_equal(labels(tmp_path / "ray", remote_row), labels(tmp_path / "local", local_row))
        assert remote_row["acc"] == pytest.approx(local_row["acc"])
        remote_run = store.load_run(tmp_path / "ray" / remote_row["run_id"])
        local_run = store.load_run(tmp_path / "local" / local_row["run_id"])
        # the driver wrote the same folder a local worker does: every epoch, every snapshot, the artifacts
        # (the local runs found the pretrained autoencoder the Ray runs cached, so only training epochs compare)
        assert train_epochs(remote_run.path) == train_epochs(local_run.path) == list(range(1, SMALL["epochs"] + 1))
        assert store.list_snapshots(remote_run.path) == store.list_snapshots(local_run.path)
        assert sorted(p.name for p in remote_run.path.iterdir()) == sorted(p.name for p in local_run.path.iterdir())
        assert remote_run.status["executor"] == "ray" and remote_run.status["remote_pid"] != os.getpid()
        assert remote_run.status["submitted"] <= remote_run.status["remote_started"] <= remote_run.status["finished"]
    assert any(len(np.unique(labels(tmp_path / "ray", row))) == 2 for row in on_ray.rows)  # not a trivial result


def test_the_app_path_shows_live_progress_and_stop_keeps_partial_results(cluster, tmp_path):
    config = {"dataset": "moons", "dataset_options": MOONS, "method": "dgg",
              "params": {**SMALL, "n_neighbors": 5, "epochs": 5000, "random_state": 0}}
    [run_id] = jobs.submit_many(tmp_path, [config], address=cluster)  # a detached driver process
    run_dir = tmp_path / run_id
    assert store.load_run(run_dir).status["executor"] == "ray"
    wait_for(lambda: sum(r["phase"] == "train" for r in store.read_metrics(run_dir)) >= 2, "epochs to stream back")
    assert store.load_run(run_dir).progress["phase"] == "train"
    assert jobs.schedule(tmp_path) == []  # the local queue neither starts nor counts it
    assert jobs.stop(run_dir) == "running"
    run = wait_for(lambda: (lambda r: r if not r.active else None)(store.load_run(run_dir)), "the run to stop")
    assert (run.state, run.reason) == ("stopped", "stopped on request")
    epochs = [r["epoch"] for r in store.read_metrics(run_dir) if r["phase"] == "train"]
    assert 2 <= len(epochs) < 5000 and store.load_artifact(run_dir, "labels") is not None  # partial results kept
    driver = run.status["pid"]
    wait_for(lambda: not store.pid_alive(driver), "the driver process to exit")


def test_a_killed_ray_worker_fails_only_its_run(cluster, tmp_path):
    sweep = Sweep("moons", "dgg", grid={"epochs": [4, 5000]}, seeds=[0], dataset_options=MOONS,
                  params={**SMALL, "n_neighbors": 5})
    runs = tmp_path / "runs"

    def kill_the_long_run():
        def long_run_training():
            for run in store.list_runs(runs):
                if run.config["params"]["epochs"] == 5000 and len(store.read_metrics(run.path)) > 1:
                    return run.status.get("remote_pid")
            return None

        os.kill(wait_for(long_run_training, "the long run to train"), signal.SIGKILL)

    killer = threading.Thread(target=kill_the_long_run, daemon=True)
    killer.start()
    result = run_sweep(sweep, runs, executor=RayExecutor(cluster))
    killer.join(5)
    short, long = result.rows
    assert short["state"] == "finished" and short["acc"] is not None
    assert long["state"] == "failed" and "Ray worker failed" in long["reason"]
    assert "died" in long["reason"].lower() or "crash" in long["reason"].lower() or "exit" in long["reason"].lower()
    assert store.read_metrics(runs / long["run_id"])  # what it streamed before dying is kept


def test_a_compare_on_ray_gives_the_in_process_rows_and_labels(cluster, tmp_path):
    def run(kind, **where):
        lines = []
        rows = compare("moons", ["kmeans", "dgg"], seeds=[0, 1], n_samples=MOONS["n_samples"],
                       params={"dgg": {**SMALL, "n_neighbors": 5}}, runs_dir=tmp_path / kind, progress=lines.append,
                       **where)
        return rows, lines, {(run.method, run.config["params"]["random_state"]): run
                             for run in store.list_runs(tmp_path / kind)}

    on_ray, lines, ray_runs = run("ray", address=cluster)
    here, _, here_runs = run("here")  # the default: this process, one run after another
    assert len(lines) == 4 and all("ACC" in line for line in lines)  # streamed as each run ended
    # the same rows but the time and whether the autoencoder came from the cache (the Ray runs cached it)
    drop = ("seconds", "pretrain_cached")
    assert [{k: v for k, v in row.items() if k not in drop} for row in on_ray] == \
        [{k: v for k, v in row.items() if k not in drop} for row in here]
    assert [(row["method"], row["seed"], row["error"]) for row in on_ray] == \
        [("kmeans", 0, ""), ("kmeans", 1, ""), ("dgg", 0, ""), ("dgg", 1, "")]
    without_seconds = [line.rsplit("|", 3)[0] for line in format_markdown(on_ray).splitlines()]
    assert without_seconds == [line.rsplit("|", 3)[0] for line in format_markdown(here).splitlines()]
    assert sorted(ray_runs) == sorted(here_runs) and len(ray_runs) == 4
    for key, remote_run in ray_runs.items():
        assert remote_run.status["executor"] == "ray" and remote_run.status["remote_pid"] != os.getpid()
        assert here_runs[key].status.get("executor") is None and here_runs[key].status["pid"] == os.getpid()
        np.testing.assert_array_equal(store.load_artifact(remote_run.path, "labels")["labels"],
                                      store.load_artifact(here_runs[key].path, "labels")["labels"])


def test_a_benchmark_run_goes_to_the_cluster_the_environment_names(cluster, tmp_path, monkeypatch):
    from benchmarks import common

    config = {"dataset": "moons", "dataset_options": {"n_samples": 200}, "method": "kmeans",
              "params": {"n_clusters": 2, "random_state": 0}}
    here = common.run_config(config, tmp_path / "here")
    monkeypatch.setenv("DEEPCLUST_RAY_ADDRESS", cluster)
    there = common.run_config(config, tmp_path / "ray")
    assert there["state"] == here["state"] == "finished" and there["acc"] == here["acc"]
    assert store.load_run(there["run_dir"]).status["executor"] == "ray"
    assert store.load_run(here["run_dir"]).status.get("executor") is None
