"""The Playground page in Streamlit's AppTest (no browser): the landing page draws the data and the papers'
knobs before any run, a run's live panels (decision regions, edges across clusters, the mixture's ellipses,
curves), a clicked point's neighbours, γ and reconstruction, the replay, Start and Fig. 1 queueing runs, and the
Pause / Resume / Step / Stop controls on the Playground and the Train page."""
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from deepclust_core import jobs
from deepclust_core import store as run_store
from deepclust_core.store import states
from tests.test_app import DGG_SMALL, SMALL, SMALL_URL, _navigation_mode, assert_clean, open_page  # noqa: F401

APP = Path(__file__).resolve().parent.parent / "app.py"
MOONS = {"dataset": "moons", "dataset_options": {"n_samples": 300}}


def charts(at):
    return [chart.proto.spec for chart in at.get("plotly_chart")]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("playground")
    os.environ["DEEPCLUST_CACHE"] = str(base / "cache")
    runs_dir = base / "runs"
    ids = {}
    for name, method, params in (("dgg", "dgg", DGG_SMALL), ("vade", "vade", SMALL)):
        run = run_store.create_run(runs_dir, {**MOONS, "method": method, "params": params})
        run_store.execute_run(run.path)
        ids[name] = run.id
    # a run "paused" in this very process (alive pid), with the finished DGG run's files
    paused = run_store.create_run(runs_dir, {**MOONS, "method": "dgg", "params": DGG_SMALL}).folder
    source = run_store.RunFolder(runs_dir / ids["dgg"])
    paused.metrics.write_bytes(source.metrics.read_bytes())
    paused.snapshots_dir.mkdir(exist_ok=True)
    for snapshot in source.snapshots_dir.iterdir():
        (paused.snapshots_dir / snapshot.name).write_bytes(snapshot.read_bytes())
    states.transition(paused.path, "running", pid=os.getpid(), pid_start=states.process_start_time(os.getpid()),
                      progress={"phase": "train", "epoch": 3, "n_epochs": 3})
    states.set_paused(paused.path, True)
    paused.pause_file.touch()
    ids["paused"] = paused.id
    return runs_dir, ids


@pytest.fixture
def app(runs, monkeypatch):
    monkeypatch.setenv("DEEPCLUST_RUNS", str(runs[0]))
    monkeypatch.setenv("DEEPCLUST_MAX_JOBS", "1")
    return AppTest.from_file(str(APP), default_timeout=120)


def _field_labels(node):
    """Labels of the number and text fields under ``node``, in page order."""
    labels = []
    for child in getattr(node, "children", {}).values():
        if getattr(child, "type", None) in ("number_input", "text_input"):
            labels.append(child.label)
        labels.extend(_field_labels(child))
    return labels


def test_the_landing_page_draws_the_data_and_the_papers_knobs_before_any_run(app):
    at = open_page(app, "playground", **SMALL_URL)
    assert_clean(at)
    assert at.title[0].value == "Playground"
    (preview,) = [chart.proto.spec for chart in at.get("vega_lite_chart")]  # the data, before any run
    assert '"class 0"' in preview and '"class 1"' in preview and not charts(at)  # coloured by class
    labels = _field_labels(at.main)  # number fields, and text fields for the knobs that accept "auto"
    assert labels[:4] == ["K · n_clusters", "N_s · n_neighbors", "λ · lam", "epochs"]  # up front, in this order
    assert "Seed" in labels
    assert [b.label for b in at.button][:3] == ["Start", "Fig. 1: VaDE vs DGG", "Table 2: N_s sweep"]
    explain = " ".join(block.value for block in at.markdown)
    for cited in ("Jiang, Zheng, Tan, Tang, Zhou", "Yang, Cheung, Li, Fang", r"\mathrm{KL}",
                  r"\pi_{ik} = \tfrac12", "94.82"):
        assert cited in explain
    assert not at.sidebar.selectbox  # the set-up is on the page, not duplicated in the sidebar
    at.switch_page("pages/train.py").run()
    assert at.sidebar.selectbox(key="cfg.method").value == "dgg"  # the same set-up on the other pages


def test_a_runs_live_panels_a_clicked_point_and_the_replay(app, runs):
    _, ids = runs
    at = open_page(app, "playground")
    at.session_state["play.run"] = ids["dgg"]
    at.run()
    assert_clean(at)
    specs = charts(at)
    data_view = next(spec for spec in specs if "decision regions" in spec)
    assert '"heatmap"' in data_view and "edges across clusters" in data_view
    assert any("component 0 (2" in spec for spec in specs)  # the latent with the mixture's ellipses
    assert any('"ACC"' in spec for spec in specs) and any("Loss terms" in spec for spec in specs)
    assert any('"Play"' in spec and '"frames"' in spec for spec in specs)  # the replay after the run
    assert any("finished: ACC" in s.value for s in at.success)
    assert any("Fig. 2" in e.label for e in at.expander)
    at.session_state["play.point"] = 7
    at.run()
    assert_clean(at)
    assert any(md.value.startswith("#### Point 7") for md in at.markdown)
    assert any("Its 5 graph neighbours" in c.value for c in at.caption)
    assert any("its reconstruction g(" in spec for spec in charts(at))
    assert any('"cluster 0"' in spec and '"bar"' in spec for spec in charts(at))  # γ
    at.session_state["play.run"] = ids["vade"]
    at.session_state["play.point"] = 7
    at.run()
    assert_clean(at)
    assert any("no neighbour graph" in c.value for c in at.caption)


def test_pause_resume_step_buttons_follow_the_state_on_the_playground_and_train_pages(app, runs):
    _, ids = runs
    folder = run_store.RunFolder(runs[0] / ids["paused"])
    at = open_page(app, "playground")
    at.session_state["play.run"] = ids["paused"]
    at.run()
    assert_clean(at)
    buttons = {b.label: b for b in at.button if b.label in ("Pause", "Resume", "Step", "Stop")}
    assert set(buttons) == {"Pause", "Resume", "Step", "Stop"}
    assert buttons["Pause"].disabled and not buttons["Resume"].disabled and not buttons["Step"].disabled
    buttons["Step"].click().run()
    assert folder.step_file.exists() and folder.pause_file.exists()
    at.button(key="play.resume").click().run()
    assert not folder.pause_file.exists() and not folder.step_file.exists()
    at.switch_page("pages/train.py").run()
    at.session_state["train.pick"] = ids["paused"]
    at.run()
    assert {"Pause", "Resume", "Step", "Stop"} <= {b.label for b in at.button}
    at.button(key="train.pause").click().run()
    assert folder.pause_file.exists()


def test_start_and_fig1_queue_runs_from_the_playground(tmp_path, monkeypatch):
    runs_dir = tmp_path / "runs"
    monkeypatch.setenv("DEEPCLUST_RUNS", str(runs_dir))
    monkeypatch.setenv("DEEPCLUST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DEEPCLUST_MAX_JOBS", "1")
    try:
        at = open_page(AppTest.from_file(str(APP), default_timeout=120), "playground", **SMALL_URL)
        at.button(key="play.start").click().run()
        assert_clean(at)
        (single,) = run_store.list_runs(runs_dir)
        assert at.session_state["play.run"] == single.id and single.config["params"]["n_neighbors"] == 5
        at.button(key="play.fig1.start").click().run()
        assert_clean(at)
        fig1 = [run for run in run_store.list_runs(runs_dir) if run.config.get("group")]
        assert sorted(run.config["method"] for run in fig1) == ["dgg", "vade"]
        assert len({run.config["group"] for run in fig1}) == 1 and fig1[0].config["group"].startswith("compare-fig1")
        shared = ("hidden_dims", "latent_dim", "pretrain_epochs", "random_state", "lam")
        for run in fig1:  # the same pretrained autoencoder and seed
            assert [run.config["params"][k] for k in shared] == [single.config["params"][k] for k in shared]
        assert any("Fig. 1: the same data" in md.value for md in at.markdown)
    finally:
        for run in run_store.list_runs(runs_dir):
            if run.active:
                jobs.stop(run.path, grace=0.0, wait=True)
