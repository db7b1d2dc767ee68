"""End to end in a real browser: `streamlit run app.py` on a free port, Chromium (Debian's, never a
downloaded one) driven by Playwright. Starts a small moons DGG run from the Train page, waits for its
accuracy, opens the Latent page and takes a screenshot. Prints the measured response times."""
import statistics
import time
from urllib.parse import urlencode

import numpy as np
import pytest

from deepclust_core import store, viz
from tests.browser import CHROMIUM, CHROMIUM_ARGS, app_server, require_chromium

pytestmark = pytest.mark.browser

SMALL_URL = {"dataset": "moons", "method": "dgg", "d.n_samples": "400", "p.hidden_dims": "8,8", "p.epochs": "5",
             "p.pretrain_epochs": "5", "p.n_neighbors": "10", "p.gmm_restarts": "1",
             "p.classifier_pretrain_epochs": "10"}

require_chromium()
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    with app_server(base) as (url, runs_dir):
        yield url, runs_dir, base


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _wait_idle(page, timeout=60_000):
    """Until Streamlit has finished the current script run (its status widget disappears)."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)


def test_train_a_run_from_the_browser_and_look_at_its_latent_space(server, browser, tmp_path):
    url, runs_dir, _ = server
    page = browser.new_page(viewport={"width": 1500, "height": 1700})
    page.goto(f"{url}/train?{urlencode(SMALL_URL)}")  # the Playground is the landing page
    start_button = page.get_by_role("button", name="Start run")
    start_button.wait_for(timeout=120_000)
    _wait_idle(page)

    # Click-to-rerender for a light interaction: a new seed reruns the script and updates the URL.
    seed = page.get_by_role("spinbutton", name="Seed")
    timings = []
    for value in (1, 2, 3):
        seed.fill(str(value))
        started = time.perf_counter()
        seed.press("Enter")
        page.wait_for_function(f"() => window.location.search.includes('seed={value}')", timeout=30_000)
        timings.append(time.perf_counter() - started)
    _wait_idle(page)

    started = time.perf_counter()
    start_button.click()
    # the page reruns showing the new run: its Stop button (or its result, had it finished already)
    page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop", exact=True).or_(page.get_by_role("heading", name="Result")).first.wait_for(
        timeout=30_000)
    submit_seconds = time.perf_counter() - started
    created = store.list_runs(runs_dir)
    assert len(created) == 1 and created[0].config["params"]["random_state"] == 3

    page.get_by_role("heading", name="Result").wait_for(timeout=300_000)
    acc_metric = page.locator('[data-testid="stMetric"]', has_text="ACC").last
    acc_text = acc_metric.locator('[data-testid="stMetricValue"]').inner_text()
    assert 0.0 <= float(acc_text) <= 1.0
    assert store.list_runs(runs_dir)[0].state == "finished"
    train_shot = tmp_path / "train.png"
    page.screenshot(path=str(train_shot))

    started = time.perf_counter()
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Latent space").click()
    page.get_by_role("heading", name="Latent space").wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2",
                           timeout=60_000)
    latent_seconds = time.perf_counter() - started
    _wait_idle(page)
    latent_shot = tmp_path / "latent.png"
    page.screenshot(path=str(latent_shot))
    page.close()
    print(f"\nclick-to-rerender (seed change, median of 3): {statistics.median(timings):.3f}s {timings}")
    print(f"Start run click until the run is shown: {submit_seconds:.3f}s")
    print(f"final ACC shown: {acc_text}")
    print(f"Latent page (nav click until both plots drawn): {latent_seconds:.3f}s")
    print(f"screenshots: {train_shot} {latent_shot}")
    assert statistics.median(timings) < 10.0
    assert submit_seconds < 10.0


def test_seventy_thousand_point_scatter_renders_in_the_browser(browser, tmp_path):
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(70_000, 2)).astype(np.float32)
    labels = rng.integers(0, 10, size=70_000)
    started = time.perf_counter()
    figure = viz.latent_scatter(latent, labels, gmm={"means": rng.normal(size=(10, 2)),
                                                     "variances": np.full((10, 2), 0.1)})
    payload = figure.to_json()
    build_seconds = time.perf_counter() - started
    html = tmp_path / "scatter70k.html"
    figure.write_html(html, include_plotlyjs=True, full_html=True)
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    page.goto(html.as_uri())
    page.wait_for_function("() => window.Plotly && document.querySelector('.plotly-graph-div')._fullLayout",
                           timeout=60_000)
    render_ms = page.evaluate("""async () => {
        const source = document.querySelector('.plotly-graph-div');
        const target = document.createElement('div');
        target.style.width = '1100px'; target.style.height = '700px';
        document.body.appendChild(target);
        const started = performance.now();
        await Plotly.newPlot(target, source.data, source.layout);
        await new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)));
        return performance.now() - started;
    }""")
    shot = tmp_path / "scatter70k.png"
    page.screenshot(path=str(shot))
    page.close()
    print(f"\n70,000-point latent scatter: build + JSON {build_seconds:.3f}s ({len(payload) / 1e6:.1f} MB), "
          f"browser render {render_ms / 1000:.3f}s; screenshot {shot}")
    assert render_ms < 30_000
