"""The Streamlit app through streamlit.testing (no browser): every page against a runs folder holding real
tiny runs (finished, failed, running, stopped, broken, image and many-feature data), URL set-up, presets,
form errors, presets (assets/presets.json), and starting runs, comparisons and sweeps from the pages."""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from deepclust_core import jobs
from deepclust_core import store as run_store  # `store` is the fixture below
from deepclust_core.store import states
from pages.ui.presets import PRESETS_FILE, PresetsFileError, load_presets, presets

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
    run = run_store.create_run(runs_dir, config)
    run_store.execute_run(run.path)
    return run.id


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
    running = run_store.create_run(runs_dir, {**moons, "method": "dgg", "params": DGG_SMALL}).folder
    source = run_store.RunFolder(runs_dir / ids["dgg"])
    shutil.copy(source.metrics, running.metrics)
    shutil.copytree(source.snapshots_dir, running.snapshots_dir)
    states.transition(running.path, "running", pid=os.getpid(), pid_start=states.process_start_time(os.getpid()),
                      progress={"phase": "train", "epoch": 2, "n_epochs": 3})
    ids["running"] = running.id
    broken = run_store.RunFolder(runs_dir / "20000101-000000-000-broken")
    broken.path.mkdir()
    broken.config.write_text("{half a file")
    ids["broken"] = broken.id
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
    if page != "playground":  # the landing page
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
    assert set(expected_gap) == set(presets().compare)
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
        created = run_store.list_runs(runs_dir)
        assert len(created) == 1 and created[0].state in ("queued", "running")
        assert created[0].config["params"]["epochs"] == 3
        assert at.session_state["run"] == created[0].id
        at.switch_page("pages/compare.py").run()
        at.button(key="compare.start").click().run()
        at.switch_page("pages/ablation.py").run()
        at.text_input(key="ablation.values").set_value("0,5").run()
        at.text_input(key="ablation.seeds").set_value("1").run()
        at.button(key="ablation.start").click().run()
        assert_clean(at)
        groups = {}
        for run in run_store.list_runs(runs_dir):
            group = run.config.get("group")
            groups.setdefault(group.split("-")[0] if group else "single", []).append(run)
        assert {key: len(value) for key, value in groups.items()} == {"single": 1, "compare": 2, "ablation": 2}
        assert sum(run.state == "running" for run in run_store.list_runs(runs_dir)) <= 1
        assert sorted(r.config["params"]["n_neighbors"] for r in groups["ablation"]) == [0, 5]
    finally:
        for run in run_store.list_runs(runs_dir):
            if run.active:
                jobs.stop(run.path, grace=0.0, wait=True)


def test_runs_page_deletes_a_run(store, monkeypatch):
    runs_dir, _ = store
    monkeypatch.setenv("DEEPCLUST_RUNS", str(runs_dir))
    doomed = run_store.create_run(runs_dir, {"dataset": "moons", "method": "vade", "params": SMALL})
    states.mark_ended(doomed.path, "stopped")
    at = open_page(AppTest.from_file(str(APP), default_timeout=120), "runs", run=doomed.id)
    at.checkbox(key=f"runs.confirm.{doomed.id}").check().run()
    at.button(key="runs.delete").click().run()
    assert_clean(at)
    assert not doomed.path.exists()
    assert any("Deleted" in message.value for message in at.info)


def test_runs_page_loads_a_runs_set_up_into_the_sidebar(app, store, monkeypatch):
    monkeypatch.setenv("DEEPCLUST_SERVER_PATHS", "1")  # the run read a server path, which the operator allows
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


def test_presets_file_loads_and_every_preset_applies(app):
    loaded = load_presets()
    assert len(loaded.presets) == len(set(loaded.names)) >= 7 and set(loaded.compare) <= set(loaded.names)
    assert loaded.paper_table2_acc[20] == 0.9758 and all(p.why for p in loaded.presets)
    at = open_page(app, "train", dataset="moons", method="dgg")
    for preset in loaded.presets:
        at.selectbox(key="cfg.preset").set_value(preset.name).run()
        assert any(c.value == preset.why for c in at.sidebar.caption), preset.name  # the measured prose, verbatim
        at.button(key="cfg.apply_preset").click().run()
        assert_clean(at)
        config = at.session_state["config"]
        assert config is not None, (preset.name, [e.value for e in at.sidebar.error])
        assert (config["dataset"], config["method"]) == (preset.dataset, preset.method)
        assert {k: config["params"][k] for k in preset.params} == preset.params, preset.name
        assert {k: config["dataset_options"][k] for k in preset.options} == preset.options, preset.name


def _rename(data, index, name):
    data["presets"][index]["name"] = name


@pytest.mark.parametrize("change, message", [
    (lambda d: _rename(d, 1, d["presets"][0]["name"]), "names must be unique; repeated: Moons · quick demo"),
    (lambda d: d["presets"][0].update(dataset="nope"), "dataset 'nope' is not registered"),
    (lambda d: d["presets"][0].update(method="nope"), "method 'nope' is not registered"),
    (lambda d: d["presets"][0]["params"].update(colour="red"), r"Unknown parameter\(s\) for method 'dgg': colour"),
    (lambda d: d["presets"][0]["params"].update(epochs=0), "epochs must be >= 1"),
    (lambda d: d["presets"][0]["options"].update(colour="red"), "'colour' is not an option of dataset 'moons'"),
    (lambda d: d["presets"][0].pop("why"), "exactly the keys"),
    (lambda d: d["compare_presets"].append("Nope"), "compare_presets must list names of presets"),
    (lambda d: d["paper_table2"]["acc"].update(x=1), "paper_table2.acc must map N_s"),
])
def test_a_bad_presets_file_is_refused_with_a_clear_error(tmp_path, change, message):
    data = json.loads(PRESETS_FILE.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "presets.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PresetsFileError, match=message):
        load_presets(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(PresetsFileError, match="Cannot read the presets file"):
        load_presets(path)


def test_an_unparsable_upload_limit_is_a_sidebar_error(app, monkeypatch):
    monkeypatch.setenv("DEEPCLUST_MAX_UPLOAD_MB", "lots")
    at = open_page(app, "train", dataset="file", method="kmeans")
    assert_clean(at)
    assert any("DEEPCLUST_MAX_UPLOAD_MB" in e.value for e in at.sidebar.error)
    assert at.session_state["config"] is None and at.button(key="train.start").disabled
