"""The Playground in a real browser (Debian's Chromium via Playwright, never a downloaded one), on a small
moons set-up whose epochs are naturally short (600 points, 8-8 networks, N_s = 5): the data is drawn before
any run; the live data view changes between two epochs; Pause holds (the epoch shown does not move for 5 s, the
worker is alive); a click on a point shows its neighbours; Step trains exactly one epoch; Resume finishes the
run with its result; Fig. 1 starts VaDE and DGG with one click and shows both panels."""
import io
import re
import time
from urllib.parse import urlencode

import numpy as np
import pytest

from deepclust_core import store
from deepclust_core.store import states
from tests.browser import CHROMIUM, CHROMIUM_ARGS, app_server, require_chromium

pytestmark = pytest.mark.browser

SMALL = {"dataset": "moons", "method": "dgg", "d.n_samples": "600", "p.hidden_dims": "8,8", "p.epochs": "150",
         "p.pretrain_epochs": "2", "p.n_neighbors": "5", "p.gmm_restarts": "1", "p.classifier_pretrain_epochs": "5",
         "p.classifier_hidden": "8"}
EPOCH_TEXT = re.compile(r"(running|paused|finished|stopped) · (pretrain|train) epoch (\d+)/\d+(?: · view of epoch (\d+))?")

require_chromium()
sync_api = pytest.importorskip("playwright.sync_api")
Image = pytest.importorskip("PIL.Image")
PlaywrightError = sync_api.Error


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # Fig. 1's two runs train at once; served by `python app.py` (the launcher `make run` uses)
    with app_server(tmp_path_factory.mktemp("playground"), max_jobs=2, launcher="python app.py") as served:
        yield served


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser.new_page(viewport={"width": 1600, "height": 1800})
        browser.close()


def button(page, name):
    """A button of the page itself (Streamlit's own status widget has a "Stop" button too)."""
    return page.get_by_test_id("stMainBlockContainer").get_by_role("button", name=name, exact=True)


def status(page):
    """(state, phase, epoch trained, training epoch shown or None) from the live panel's status line."""
    text = page.get_by_text(EPOCH_TEXT).first.inner_text(timeout=30_000)
    match = EPOCH_TEXT.search(text)
    return match.group(1), match.group(2), int(match.group(3)), match.group(4) and int(match.group(4))


def wait_status(page, predicate, timeout=60.0, what="status"):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            last = status(page)
            if predicate(*last):
                return last
        except (sync_api.TimeoutError, AttributeError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last status {last}")


def data_chart(page):
    return page.locator(".js-plotly-plot").filter(has_text="x1").first


def latent_chart(page):
    """The live latent view: the chart on z1/z2 with the mixture's ellipses ("component k (2σ)"), not another
    chart on the latent such as a clicked point's neighbours."""
    return page.locator(".js-plotly-plot").filter(has_text="z2").filter(has_text="σ)").first


def step_once(page, run_dir):
    """Step: exactly one more epoch recorded, then paused again with that epoch shown."""
    records = len(store.read_metrics(run_dir))
    button(page, "Step").click()
    end = time.monotonic() + 60
    while len(store.read_metrics(run_dir)) < records + 1 and time.monotonic() < end:
        time.sleep(0.05)
    last = store.read_metrics(run_dir)[-1]
    shown = wait_status(page, lambda state, phase, trained, seen: state == "paused" and phase == last["phase"]
                        and trained == last["epoch"], what="the stepped epoch")
    time.sleep(1.0)
    assert len(store.read_metrics(run_dir)) == records + 1, "Step trained more or less than one epoch"
    return shown


def pixels(locator, attempts=5):
    """The element's screenshot as RGB values; a live view is redrawn every second, so a screenshot that
    catches the old element as it is replaced is taken again (the locator finds the new one)."""
    for attempt in range(attempts):
        try:
            return np.asarray(Image.open(io.BytesIO(locator.screenshot(timeout=20_000))).convert("RGB"),
                              dtype=np.int16)
        except PlaywrightError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2)


def click_a_point(page):
    """Click the first point of the data view's first cluster trace (its pixel position from Plotly)."""
    where = page.evaluate("""() => {
        const plots = [...document.querySelectorAll('.js-plotly-plot')];
        const gd = plots.find(p => p._fullData && p._fullData.some(t => (t.name || '').startsWith('cluster'))
                                   && p._fullLayout.xaxis.title.text === 'x1');
        const trace = gd._fullData.find(t => (t.name || '').startsWith('cluster'));
        const L = gd._fullLayout, box = gd.getBoundingClientRect();
        return {x: box.left + L.xaxis._offset + L.xaxis.l2p(trace.x[0]), y: box.top + L.yaxis._offset + L.yaxis.l2p(trace.y[0])};
    }""")
    page.mouse.click(where["x"], where["y"])


def test_playground_draws_trains_live_pauses_steps_resumes_and_runs_fig1(server, page, tmp_path):
    url, runs_dir = server
    started = time.perf_counter()
    page.goto(f"{url}/?{urlencode(SMALL)}")
    page.get_by_role("heading", name="Playground").wait_for(timeout=60_000)
    page.locator(".vega-embed").filter(has_text="class 1").locator("canvas, svg.marks").first.wait_for(
        timeout=60_000)  # the data, coloured by class, before any run
    first_draw = time.perf_counter() - started
    assert not store.list_runs(runs_dir)
    page.screenshot(path=str(tmp_path / "playground-data.png"))

    button(page, "Start").click()
    button(page, "Pause").click()  # at the end of the first epoch (pretraining): the worker waits
    state, phase, epoch, _ = wait_status(page, lambda state, *_: state == "paused", what="the pause")
    run = store.list_runs(runs_dir)[0]
    records = len(store.read_metrics(run.path))
    time.sleep(5.0)
    assert status(page)[:3] == ("paused", phase, epoch), "the epoch moved while paused"
    assert len(store.read_metrics(run.path)) == records
    assert states.pid_alive(states.read_status(run.path)["pid"]), "the paused worker is gone"

    while status(page)[1] != "train":  # Step, one epoch at a time, into training
        step_once(page, run.path)
    page.screenshot(path=str(tmp_path / "playground-paused.png"))
    before, (_, _, _, shown) = pixels(latent_chart(page)), status(page)
    step_once(page, run.path)
    time.sleep(0.5)  # let Plotly finish drawing
    after, (_, _, _, seen) = pixels(latent_chart(page)), status(page)
    assert seen == shown + 1
    changed = np.mean(np.abs(before - after).sum(axis=2) > 30) if before.shape == after.shape else 1.0
    assert changed > 0.001, f"the live latent view did not change between epochs {shown} and {seen}"

    click_a_point(page)
    page.get_by_text(re.compile(r"Its 5 graph neighbours")).wait_for(timeout=30_000)
    page.get_by_text("Cluster probabilities γ = q(c|x)").first.wait_for(timeout=10_000)
    page.screenshot(path=str(tmp_path / "playground-point.png"))

    # Resume finishes the run with its result. (That the live view changes between two epochs is checked above
    # with Step, where the epochs are known; a free-running tiny run can finish between two redraws.)
    button(page, "Resume").click()
    page.get_by_text(re.compile(r"finished: ACC \d")).wait_for(timeout=120_000)
    assert store.load_run(run.path).state == "finished"
    page.get_by_text(re.compile(r"Replay")).first.wait_for(timeout=30_000)
    page.screenshot(path=str(tmp_path / "playground-finished.png"))

    page.get_by_role("button", name="Fig. 1: VaDE vs DGG").click()
    page.get_by_text("Fig. 1: the same data").wait_for(timeout=30_000)
    fig1 = [r for r in store.list_runs(runs_dir) if (r.config.get("group") or "").startswith("compare-fig1")]
    assert sorted(r.config["method"] for r in fig1) == ["dgg", "vade"]
    assert len({r.config["params"]["random_state"] for r in fig1}) == 1
    for method in ("vade", "dgg"):
        page.get_by_text(re.compile(rf"^{method} · (queued|running|paused|finished)")).first.wait_for(timeout=60_000)
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')]"
                           ".filter(p => p._fullLayout && p._fullLayout.xaxis.title.text === 'x1').length >= 2",
                           timeout=120_000)
    page.screenshot(path=str(tmp_path / "playground-fig1.png"))
    if any(store.load_run(r.path).active for r in fig1):
        button(page, "Stop").click()
    print(f"\nlive latent view: {changed:.1%} of its pixels changed between epochs {shown} and {seen} (stepped)")
    print(f"first Playground draw (goto until the data chart): {first_draw:.2f}s; screenshots in {tmp_path}")
