"""The Streamlit app through streamlit.testing (no browser): every page against a runs folder holding real
tiny runs (finished, failed, running, stopped, broken, image and many-feature data), URL set-up, presets,
form errors, and starting runs, comparisons and sweeps from the pages."""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from deepclust_core import jobs, runs
from pages import common

APP = Path(__file__).resolve().parent.parent / "app.py"
PAGES = ["train", "latent", "traversals", "compare", "ablation", "runs"]
SMALL = {"hidden_dims": (8, 8), "latent_dim": 2, "epochs": 3, "pretrain_epochs": 3, "gmm_restarts": 1}
DGG_SMALL = {**SMALL, "n_neighbors": 5, "classifier_pretrain_epochs": 5}
SMALL_URL = {"dataset": "moons", "method": "dgg", "d.n_samples": "300", "p.hidden_dims": "8,8", "p.epochs": "3",
             "p.pretrain_epochs": "3", "p.n_neighbors": "5", "p.gmm_restarts": "1",
             "p.classifier_pretrain_epochs": "5"}


@pytest.fixture(autouse=True)
def _navigation_mode(monkeypatch):
    """AppTest resets Streamlit's "pages directory" flag before every run, so with a pages/ folder next to
    app.py its reruns would run the page file alone; a real server clears the flag once st.navigation ran."""
    from streamlit.runtime import pages_manager
    from streamlit.testing.v1 import app_test

    class NavigationPagesManager(pages_manager.PagesManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pages_manager.PagesManager.uses_pages_directory = False

    monkeypatch.setattr(app_test, "PagesManager", NavigationPagesManager)


def _execute(runs_dir, config):
    run_dir = runs.create_run(runs_dir, config)
    runs.execute_run(run_dir)
    return run_dir.name


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A runs folder with one run of every kind the pages must cope with; name -> run id."""
    base = tmp_path_factory.mktemp("app")
    os.environ["DEEPCLUST_CACHE"] = str(base / "cache")
    runs_dir = base / "runs"
    moons = {"dataset": "moons", "dataset_options": {"n_samples": 300}}
    ids = {"dgg": _execute(runs_dir, {**moons, "method": "dgg", "params": DGG_SMALL, "label": "demo"})}
    for method, params in (("vade", SMALL), ("dgg", DGG_SMALL)):
        ids[f"compare-{method}"] = _execute(runs_dir, {**moons, "method": method, "params": params,
                                                       "group": "compare-test"})
    for n_neighbors in (0, 5):
        ids[f"ablation-{n_neighbors}"] = _execute(runs_dir, {**moons, "method": "dgg", "group": "ablation-test",
                                                             "params": {**DGG_SMALL, "n_neighbors": n_neighbors}})
    ids["failed"] = _execute(runs_dir, {**moons, "method": "dgg", "params": {**DGG_SMALL, "n_neighbors": 500}})
    ids["kmeans"] = _execute(runs_dir, {**moons, "method": "kmeans", "params": {}})  # no latent space
    rng = np.random.default_rng(0)
    images = base / "images.npz"
    np.savez(images, x=rng.random((120, 64)).astype(np.float32), y=rng.integers(0, 2, 120))
    ids["image"] = _execute(runs_dir, {"dataset": "file", "dataset_options": {"path": str(images)},
                                       "method": "vade", "params": {**SMALL, "hidden_dims": (16,)}})
    features = base / "features.npz"
    np.savez(features, x=rng.normal(size=(120, 10)).astype(np.float32) * 3, y=rng.integers(0, 2, 120))
    ids["features"] = _execute(runs_dir, {"dataset": "file", "dataset_options": {"path": str(features)},
                                          "method": "vade", "params": SMALL})
    # A run that is "running" in this very process (alive pid), with partial results.
    running = runs.create_run(runs_dir, {**moons, "method": "dgg", "params": DGG_SMALL})
    source = runs_dir / ids["dgg"]
    shutil.copy(source / "metrics.jsonl", running / "metrics.jsonl")
    shutil.copytree(source / "snapshots", running / "snapshots")
    runs.update_status(running, state="running", pid=os.getpid(), pid_start=runs.process_start_time(os.getpid()),
                       progress={"phase": "train", "epoch": 2, "n_epochs": 3})
    ids["running"] = running.name
    broken = runs_dir / "20000101-000000-000-broken"
    broken.mkdir()
    (broken / "config.json").write_text("{half a file")
    ids["broken"] = broken.name
    return runs_dir, ids


@pytest.fixture
def app(store, monkeypatch):
    runs_dir, _ = store
    monkeypatch.setenv("DEEPCLUST_RUNS", str(runs_dir))
    monkeypatch.setenv("DEEPCLUST_MAX_JOBS", "1")
    return AppTest.from_file(str(APP), default_timeout=120)


def open_page(at, page, **query):
    at.query_params.update(query)
    at.run()
    if page != "train":
        at.switch_page(f"pages/{page}.py").run()
    return at


def assert_clean(at):
    assert not at.exception, [e.value for e in at.exception]
    unexpected = [e.value for e in at.error if "Unexpected error" in e.value]
    assert not unexpected, unexpected


def charts(at):
    return at.get("plotly_chart")


def test_every_page_renders_with_a_finished_run(app, store):
    _, ids = store
    at = open_page(app, "train", run=ids["dgg"])
    assert_clean(at)
    assert at.title[0].value == "Train"
    assert at.button(key="train.start").label == "Start run"
    assert {m.label for m in at.metric} >= {"ACC", "NMI", "ARI"}
    assert len(charts(at)) == 2
    assert any("Dashed: DGG's Gaussian mixture" in c.value for c in at.caption)  # DGG's mixture diagnostics
    assert '"f2 = mixture"' in charts(at)[0].proto.spec
    for page, title in zip(PAGES[1:], ["Latent space", "Traversals", "Compare", "Ablation: graph size N_s", "Runs"]):
        at.switch_page(f"pages/{page}.py").run()
        assert_clean(at)
        assert at.title[0].value == title
        assert not at.error, [e.value for e in at.error]
    at.switch_page("pages/latent.py").run()
    assert len(charts(at)) == 2  # latent scatter and the input space with its graph


@pytest.mark.parametrize("name", ["dgg", "failed", "running", "broken", "image", "features", "ablation-0",
                                  "kmeans"])
@pytest.mark.parametrize("page", ["train", "latent", "traversals", "runs"])
def test_pages_cope_with_every_kind_of_run(app, store, page, name):
    _, ids = store
    at = open_page(app, page, run=ids[name])
    assert_clean(at)


def test_train_page_draws_no_mixture_diagnostics_for_vade(app, store):
    _, ids = store
    at = open_page(app, "train", run=ids["compare-vade"])
    assert_clean(at)
    assert len(charts(at)) == 2
    assert not any("Dashed" in c.value for c in at.caption)
    assert "mixture" not in charts(at)[0].proto.spec


def test_failed_and_broken_runs_explain_themselves(app, store):
    _, ids = store
    at = open_page(app, "train", run=ids["failed"])
    assert any("n_neighbors" in e.value and "Failed" in e.value for e in at.error)
    at = open_page(AppTest.from_file(str(APP), default_timeout=120), "runs", run=ids["broken"])
    assert any("damaged" in w.value for w in at.warning)
    frame = at.dataframe[0].value
    assert set(ids.values()) <= set(frame["id"])
    assert frame.set_index("id").loc[ids["broken"], "state"] == "broken"


def test_traversal_views_per_kind_of_data(app, store):
    _, ids = store
    at = open_page(app, "traversals", run=ids["image"])
    assert_clean(at)
    assert len(charts(at)) == 2  # variance bars + image grid
    at.query_params["run"] = ids["features"]
    at = open_page(AppTest.from_file(str(APP), default_timeout=120), "traversals", run=ids["features"])
    assert at.selectbox(key="traversals.dimension") is not None  # tf-idf-style term view


def test_latent_page_views_and_colours(app, store):
    _, ids = store
    at = open_page(app, "latent", run=ids["dgg"])
    at.selectbox(key="latent.view.2").set_value("pca").run()
    at.radio(key="latent.colour").set_value("true class").run()
    assert_clean(at)
    assert len(charts(at)) == 2


def test_compare_and_ablation_pages_show_their_groups(app, store):
    at = open_page(app, "compare")
    assert at.selectbox(key="compare.pick").value == "compare-test"
    assert len(charts(at)) >= 2
    at.switch_page("pages/ablation.py").run()
    assert_clean(at)
    table = at.dataframe[0].value
    assert list(table["N_s"]) == [0, 5] and list(table["done"]) == [1, 1]


def test_url_sets_up_the_form_and_bad_values_are_reported(app):
    at = open_page(app, "train", **SMALL_URL, seed="4", **{"p.lr": "-1", "p.colour": "red"})
    assert_clean(at)
    config = at.session_state["config"]
    assert config["dataset_options"]["n_samples"] == 300
    assert config["params"]["hidden_dims"] == (8, 8) and config["params"]["random_state"] == 4
    assert config["params"]["lr"] == 0.02  # the moons recipe, since -1 was refused
    warnings = " ".join(w.value for w in at.sidebar.warning)
    assert "lr must be" in warnings and "'colour' is not an option" in warnings
    assert at.query_params["p.hidden_dims"] == "8,8"  # the set-up is mirrored back into the URL


def test_invalid_form_value_shows_an_error_and_disables_start(app):
    at = open_page(app, "train", dataset="moons", method="dgg")
    at.text_input(key="p.dgg.hidden_dims").set_value("a,b").run()
    assert any("hidden_dims" in e.value for e in at.sidebar.error)
    assert at.session_state["config"] is None
    assert at.button(key="train.start").disabled


def test_method_change_and_presets_refill_the_form(app):
    at = open_page(app, "train", dataset="moons", method="dgg")
    at.selectbox(key="cfg.method").set_value("vade").run()
    assert "n_neighbors" not in at.session_state["config"]["params"]
    assert at.session_state["config"]["params"]["hidden_dims"] == (20, 20)  # the moons recipe
    at.selectbox(key="cfg.preset").set_value("Close moons: DGG vs VaDE").run()
    at.button(key="cfg.apply_preset").click().run()
    config = at.session_state["config"]
    assert config["method"] == "dgg" and config["dataset_options"]["gap"] == -0.25
    at.selectbox(key="cfg.preset").set_value("MNIST 10k · DGG").run()
    at.button(key="cfg.apply_preset").click().run()
    config = at.session_state["config"]
    assert config["dataset"] == "mnist" and config["dataset_options"]["n_samples"] == 10000
    params = config["params"]
    assert params["pretrain_augment"] is True and params["classifier_hidden"] == (64,)
    assert (params["init"], params["umap_metric"], params["graph_space"]) == ("umap", "cosine", "umap")
    assert (params["lr"], params["epochs"], params["pretrain_epochs"]) == (0.0005, 20, 150)


def test_compare_presets_set_the_data_they_name(app):
    at = open_page(app, "compare", dataset="moons", method="dgg")
    expected_gap = {"Close moons: DGG vs VaDE": -0.25, "Far moons": 0.5, "Moons · DGG (paper recipe)": 0.0}
    assert set(expected_gap) == set(common.COMPARE_PRESETS)
    for name in ("Close moons: DGG vs VaDE", "Moons · DGG (paper recipe)", "Far moons"):  # each overrides the last
        at.button(key=f"compare.preset.{name}").click().run()
        assert_clean(at)
        config = at.session_state["config"]
        assert config["dataset"] == "moons" and config["method"] == "dgg"
        assert config["dataset_options"]["gap"] == expected_gap[name], name
        assert config["params"]["n_neighbors"] == 40  # the moons recipe


def test_starting_runs_from_the_pages_creates_run_folders(tmp_path, monkeypatch):
    runs_dir = tmp_path / "runs"
    monkeypatch.setenv("DEEPCLUST_RUNS", str(runs_dir))
    monkeypatch.setenv("DEEPCLUST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DEEPCLUST_MAX_JOBS", "1")
    try:
        at = open_page(AppTest.from_file(str(APP), default_timeout=120), "train", **SMALL_URL)
        at.button(key="train.start").click().run()
        assert_clean(at)
        created = runs.list_runs(runs_dir)
        assert len(created) == 1 and created[0]["state"] in ("queued", "running")
        assert created[0]["config"]["params"]["epochs"] == 3
        assert at.session_state["run"] == created[0]["id"]
        at.switch_page("pages/compare.py").run()
        at.button(key="compare.start").click().run()
        at.switch_page("pages/ablation.py").run()
        at.text_input(key="ablation.values").set_value("0,5").run()
        at.text_input(key="ablation.seeds").set_value("1").run()
        at.button(key="ablation.start").click().run()
        assert_clean(at)
        groups = {}
        for run in runs.list_runs(runs_dir):
            group = run["config"].get("group")
            groups.setdefault(group.split("-")[0] if group else "single", []).append(run)
        assert {key: len(value) for key, value in groups.items()} == {"single": 1, "compare": 2, "ablation": 2}
        assert sum(run["state"] == "running" for run in runs.list_runs(runs_dir)) <= 1
        assert sorted(r["config"]["params"]["n_neighbors"] for r in groups["ablation"]) == [0, 5]
    finally:
        for run in runs.list_runs(runs_dir):
            if run["state"] in runs.ACTIVE_STATES:
                jobs.stop(run["path"], grace=0.0, wait=True)


def test_runs_page_deletes_a_run(store, monkeypatch):
    runs_dir, _ = store
    monkeypatch.setenv("DEEPCLUST_RUNS", str(runs_dir))
    doomed = runs.create_run(runs_dir, {"dataset": "moons", "method": "vade", "params": SMALL})
    runs.update_status(doomed, state="stopped")
    at = open_page(AppTest.from_file(str(APP), default_timeout=120), "runs", run=doomed.name)
    at.checkbox(key=f"runs.confirm.{doomed.name}").check().run()
    at.button(key="runs.delete").click().run()
    assert_clean(at)
    assert not doomed.exists()
    assert any("Deleted" in message.value for message in at.info)


def test_runs_page_loads_a_runs_set_up_into_the_sidebar(app, store):
    _, ids = store
    at = open_page(app, "runs", run=ids["image"])
    at.button(key="runs.use").click().run()
    assert_clean(at)
    config = at.session_state["config"]
    assert config["dataset"] == "file" and config["method"] == "vade"
    assert config["params"]["hidden_dims"] == (16,) and config["dataset_options"]["path"].endswith("images.npz")


def test_latent_page_shows_data_space_clusters_of_a_method_without_latent(app, store):
    _, ids = store
    at = open_page(app, "latent", run=ids["kmeans"])
    assert_clean(at)
    assert any("no latent space" in c.value for c in at.caption)
    assert len(charts(at)) == 1
