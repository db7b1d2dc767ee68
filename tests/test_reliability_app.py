"""Reliability, second pass, in the app (Streamlit AppTest): a runs folder that cannot be written, live
panels and callbacks under the error guard, damaged files named, the limits of one click, a user file's K,
repeated clicks, server paths off by default."""
import json
import shutil

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from deepclust_core import fileio, jobs, store
from deepclust_core.store import states
from test_app import APP, PAGES, _navigation_mode, assert_clean, open_page  # noqa: F401 (an autouse fixture)
from test_reliability_storage import dead_pid, disk_full, read_only

TINY_DGG = {"hidden_dims": (8, 8), "latent_dim": 2, "epochs": 2, "pretrain_epochs": 2, "gmm_restarts": 1,
            "n_neighbors": 5, "classifier_pretrain_epochs": 2}
MOONS = {"dataset": "moons", "dataset_options": {"n_samples": 200}}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One real tiny finished DGG run (latent snapshots, inputs.npz, graph.npz) to copy."""
    run = store.create_run(tmp_path_factory.mktemp("source"), {**MOONS, "method": "dgg", "params": TINY_DGG})
    assert store.execute_run(run.path)["state"] == "finished"
    return run.path


@pytest.fixture
def runs(tmp_path, monkeypatch, finished):
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    shutil.copytree(finished, runs_dir / finished.name)
    monkeypatch.setenv("DEEPCLUST_RUNS", str(runs_dir))
    monkeypatch.setattr(jobs, "_start_worker", lambda path: pytest.fail("no worker may start in these tests"))
    monkeypatch.setenv("DEEPCLUST_MAX_JOBS", "1")
    return runs_dir


def new_app():
    return AppTest.from_file(str(APP), default_timeout=120)


def messages(at):
    return " ".join(e.value for e in [*at.error, *at.warning, *at.info, *at.sidebar.error])


def test_a_read_only_runs_folder_renders_every_page_and_says_so(runs, finished):
    with read_only(runs):
        for page in PAGES:
            at = open_page(new_app(), page, run=finished.name)
            assert_clean(at)
            assert any("Read-only mode" in w.value for w in at.warning), page
        at = open_page(new_app(), "train", **{"d.n_samples": "100", "method": "kmeans"})
        at.button(key="train.start").click().run()
        assert_clean(at)
        assert "Cannot create a run" in messages(at)
        at = open_page(new_app(), "runs", run=finished.name)
        at.checkbox(key=f"runs.confirm.{finished.name}").check().run()
        at.button(key="runs.delete").click().run()
        assert_clean(at)
        assert "Could not delete" in messages(at)
    assert (runs / finished.name).is_dir()


def test_a_full_disk_with_a_dead_worker_renders_and_delete_frees_space(runs, finished, monkeypatch):
    dead = store.create_run(runs, {**MOONS, "method": "kmeans", "params": {}})
    states.mark_scheduled(dead.path)
    states.record_worker(dead.path, dead_pid())
    (dead.path / "log.txt").write_text("OSError: [Errno 28] No space left on device\n")
    disk_full(monkeypatch)
    at = open_page(new_app(), "runs", run=dead.id)
    assert_clean(at)
    assert "Read-only mode" in messages(at) and "No space left on device" in messages(at)
    at.checkbox(key=f"runs.confirm.{dead.id}").check().run()
    at.button(key="runs.delete").click().run()
    assert_clean(at)
    assert not dead.path.exists() and "Deleted run" in messages(at)


def test_damaged_files_in_live_panels_and_views_are_named(runs, finished):
    run_dir = runs / finished.name
    with open(run_dir / "metrics.jsonl", "a") as stream:  # text where a number belongs
        stream.write(json.dumps({"phase": "train", "epoch": 9, "n_epochs": 9, "loss": "abc", "acc": "x"}) + "\n")
    indices = fileio.load_npz(run_dir / "graph.npz")["indices"]
    fileio.save_npz(run_dir / "graph.npz", indices=indices + 10_000)  # readable, but out of range
    at = open_page(new_app(), "train", run=finished.name)
    assert_clean(at)
    assert {m.label for m in at.metric} >= {"ACC", "NMI"}
    at = open_page(new_app(), "latent", run=finished.name)
    assert_clean(at)
    assert "graph.npz" in messages(at)
    result = json.loads((run_dir / "result.json").read_text())
    (run_dir / "result.json").write_text(json.dumps({**result, "acc": "high"}))
    assert "result.json is damaged: acc is not a number" in store.load_run(run_dir).reason
    for page in ("train", "runs", "latent"):
        at = open_page(new_app(), page, run=finished.name)
        assert_clean(at)


def test_a_failing_fragment_is_a_message_not_a_traceback(runs, finished, monkeypatch):
    monkeypatch.setattr(store, "read_metrics", lambda path: 1 / 0)
    at = open_page(new_app(), "train", run=finished.name)
    assert not at.exception, [e.value for e in at.exception]
    assert "Unexpected error: ZeroDivisionError" in messages(at)


def test_one_click_queues_at_most_max_group_runs(runs, monkeypatch):
    monkeypatch.setenv("DEEPCLUST_MAX_GROUP", "4")
    monkeypatch.setattr(jobs, "schedule", lambda runs_dir: [])
    at = open_page(new_app(), "ablation", method="dgg")
    at.button(key="ablation.start").click().run()  # 6 values x 3 seeds by default
    assert_clean(at)
    assert "at most 4" in messages(at) and "DEEPCLUST_MAX_GROUP" in messages(at)
    assert len(store.list_runs(runs)) == 1  # only the copied run


def test_repeated_start_clicks_queue_one_run(runs, monkeypatch):
    monkeypatch.setattr(jobs, "schedule", lambda runs_dir: [])
    at = open_page(new_app(), "train", method="kmeans", **{"d.n_samples": "100"})
    for _ in range(3):
        at.button(key="train.start").click().run()
    assert_clean(at)
    assert len(store.list_runs(runs)) == 2  # the copied run and one new one


def test_a_user_files_clusters_reach_the_app(runs, monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c, 0.1, (20, 2)) for c in (0, 3, 6)])
    content = "\n".join(f"{a:.3f},{b:.3f},{label}" for (a, b), label in zip(x, np.repeat([0, 1, 2], 20)))
    at = open_page(new_app(), "train", dataset="file", method="kmeans")
    at.get("file_uploader")[0].set_value(("three.csv", ("a,b,label\n" + content).encode(), "text/csv")).run()
    assert_clean(at)
    assert at.session_state["config"]["params"]["n_clusters"] == 3


def test_typed_server_paths_are_refused_by_default(runs, monkeypatch, tmp_path):
    monkeypatch.delenv("DEEPCLUST_SERVER_PATHS", raising=False)
    secret = tmp_path / "secret.csv"
    secret.write_text("1,2\n3,root:x:0:0\n")
    at = open_page(new_app(), "train", dataset="file", method="kmeans", **{"d.path": str(secret)})
    assert_clean(at)
    assert "reads data files only from uploads" in messages(at) and "root" not in messages(at)
    assert at.session_state["config"] is None


def test_the_runs_table_shows_seconds_to_one_decimal(runs, finished):
    at = open_page(new_app(), "runs")
    seconds = at.dataframe[0].value["seconds"].iloc[0]
    assert seconds == round(seconds, 1)
