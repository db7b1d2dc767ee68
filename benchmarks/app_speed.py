"""The app's speed in a real browser (Debian's Chromium): the first Playground draw, the time a click takes to
update the page while a run trains, and the default moons DGG run trained from the app (watched, and with the tab
left while it trains) against the same run from the CLI (one process, and with torch's threads set to 1 and to 2,
the cause of the app's old slowdown).

    python -m benchmarks.app_speed [--clicks 7] [--skip-cli]

Starts the app on a free port with a temporary runs folder, both ways (`streamlit run app.py`, which imports
the library in the first session, and `python app.py`, which imports it before it serves), each with a new
Chromium driven by Playwright; the run and the clicks use the first. Prints one JSON object and writes
benchmarks/results/app_speed.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Dict

from deepclust_core import jobs, store

from .common import record

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DATA_CHART = "() => !!document.querySelector('.vega-embed canvas, .vega-embed svg.marks')"  # the data preview


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


LAUNCHERS = {"streamlit run app.py": ["-m", "streamlit", "run", str(ROOT / "app.py")],
             "python app.py": [str(ROOT / "app.py")]}  # the second imports the library before it serves


def start_server(runs_dir: Path, cache: Path, log_path: Path, launcher: str = "streamlit run app.py",
                 max_jobs: int = 1):
    """(process, url, open log) of the app served on a free port of 127.0.0.1 with its own runs folder and cache,
    once it answers its health check; RuntimeError with the end of its log when it does not start. The browser
    tests start the app with this too."""
    port = _free_port()
    env = {**os.environ, "DEEPCLUST_RUNS": str(runs_dir), "DEEPCLUST_CACHE": str(cache),
           "DEEPCLUST_MAX_JOBS": str(max_jobs)}
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, *LAUNCHERS[launcher], "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return process, url, log
        except OSError:
            time.sleep(0.3)
    process.kill()
    log.close()
    raise RuntimeError(f"the app did not start ({launcher}); log: {log_path.read_text()[-2000:]}")


def _first_draw(browser, url: str) -> float:
    page = browser.new_page(viewport={"width": 1600, "height": 1400})
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_function(DATA_CHART, timeout=120_000)
    seconds = time.perf_counter() - started
    page.close()
    return seconds


def _processes() -> Dict[int, tuple]:
    """pid -> (parent pid, CPU seconds so far, command line) of every process (Linux /proc)."""
    table, tick = {}, os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fields[0] == "Z":  # an exited worker not yet reaped: its time is no longer anyone's
            continue
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick, command)
    return table


def _cpu_split(server_pid: int) -> Dict[str, float]:
    """CPU seconds so far of the Chromium processes this benchmark started, of the app's server and of its
    training workers (``deepclust_core.jobs run``), each summed over live processes."""
    table = _processes()

    def under(root: int):
        pid_set, grew = {root}, True
        while grew:
            more = {pid for pid, (parent, _, _) in table.items() if parent in pid_set} - pid_set
            pid_set |= more
            grew = bool(more)
        return pid_set

    served, mine = under(server_pid), under(os.getpid())
    workers = {pid for pid in served if "deepclust_core.jobs run" in table[pid][2]}
    chromium = {pid for pid in mine - served if "chrom" in table[pid][2].split(" ")[0]}
    return {"browser": sum(table[p][1] for p in chromium), "server": sum(table[p][1] for p in served - workers),
            "worker": sum(table[p][1] for p in workers)}


def _playground(browser, url: str):
    """A new page on the Playground, once its data chart is drawn."""
    page = browser.new_page(viewport={"width": 1600, "height": 1400})
    page.goto(url)
    page.wait_for_function(DATA_CHART, timeout=120_000)
    return page


def _cpu_until_done(run_dir: Path, server_pid: int, before: Dict[str, float]) -> Dict[str, float]:
    """Wait for the run to end; CPU seconds since ``before`` of Chromium and the server, and the worker's whole
    CPU time (its last reading before it exits)."""
    worker_cpu = 0.0
    while store.load_run(run_dir).active:
        worker_cpu = max(worker_cpu, _cpu_split(server_pid)["worker"])
        time.sleep(0.5)
    after = _cpu_split(server_pid)
    return {"browser": after["browser"] - before["browser"], "server": after["server"] - before["server"],
            "worker": worker_cpu}


def _app_run(browser, url: str, runs_dir: Path, clicks: int, server_pid: int) -> dict:
    page = _playground(browser, url)
    main = page.get_by_test_id("stMainBlockContainer")
    before = _cpu_split(server_pid)
    clicked = time.perf_counter()
    main.get_by_role("button", name="Start", exact=True).click()
    while not store.list_runs(runs_dir) or store.list_runs(runs_dir)[0].progress.get("phase") != "train":
        time.sleep(0.2)
    run_dir = store.list_runs(runs_dir)[0].path
    # Clicks while it trains: a new seed reruns the page and puts the set-up in the URL.
    seed = page.get_by_role("spinbutton", name="Seed")
    timings = []
    for value in range(1, clicks + 1):
        seed.fill(str(value))
        started = time.perf_counter()
        seed.press("Enter")
        page.wait_for_function(f"() => window.location.search.includes('seed={value}')", timeout=60_000)
        timings.append(time.perf_counter() - started)
    training_when_measured = store.load_run(run_dir).state == "running"
    cpu = _cpu_until_done(run_dir, server_pid, before)
    app_wall = time.perf_counter() - clicked
    page.close()
    run = store.load_run(run_dir)
    log = run.folder.log.read_text()
    return {"click_to_update_seconds": timings, "click_to_update_median": statistics.median(timings),
            "clicks_while_training": training_when_measured, "app_run_state": run.state,
            "app_run_seconds": run.result.get("seconds"), "app_run_acc": run.result.get("acc"),
            "app_click_to_finished_seconds": app_wall,
            "cpu_seconds_from_start_click_to_finished": cpu,  # Chromium, the app's server, the training worker
            "worker_threads_line": next((line for line in log.splitlines() if line.startswith("threads:")), None)}


def _app_run_unwatched(browser, url: str, runs_dir: Path, server_pid: int) -> dict:
    """The same run started from the Playground, the tab then left for about:blank until it ends: what the app
    costs with nobody drawing its live views."""
    page = _playground(browser, url)
    known = {run.id for run in store.list_runs(runs_dir)}
    before = _cpu_split(server_pid)
    page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Start", exact=True).click()
    while not [run for run in store.list_runs(runs_dir) if run.id not in known]:
        time.sleep(0.2)
    page.goto("about:blank")
    run_dir = next(run for run in store.list_runs(runs_dir) if run.id not in known).path
    cpu = _cpu_until_done(run_dir, server_pid, before)
    page.close()
    run = store.load_run(run_dir)
    return {"app_run_unwatched_seconds": run.result.get("seconds"), "app_run_unwatched_acc": run.result.get("acc"),
            "cpu_seconds_unwatched": cpu}


def _cli_run(threads: int) -> dict:
    """The same run from the CLI, from nothing like the app's: an empty pretraining cache of its own (a cached
    autoencoder would skip the pretraining the app's run does)."""
    cache = tempfile.mkdtemp(prefix="deepclust-appspeed-cli-")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT), "DEEPCLUST_CACHE": cache}
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "deepclust_core", "train", "--dataset", "moons", "--method", "dgg",
                          "--json"], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    wall = time.perf_counter() - started
    shutil.rmtree(cache, ignore_errors=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {"threads": threads, "seconds": result.get("seconds"), "wall_seconds": wall, "acc": result.get("acc")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=7)
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()
    started = time.time()
    from playwright.sync_api import sync_playwright

    figures: dict = {"run": "moons, dgg, recipe defaults, seed 0 (the Playground's default set-up)"}
    with tempfile.TemporaryDirectory(prefix="deepclust-appspeed-") as scratch, sync_playwright() as playwright:
        base = Path(scratch)
        for launcher in LAUNCHERS:  # each server's first session, then later ones, from a new browser (cold, warm)
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            runs_dir, begun = base / launcher.split()[0] / "runs", time.perf_counter()
            process, url, log = start_server(runs_dir, base / "cache", base / "streamlit.log", launcher)
            draws = {"server_start_seconds": time.perf_counter() - begun,
                     "first_draw_cold_seconds": _first_draw(browser, url),
                     "first_draw_warm_seconds": [_first_draw(browser, url) for _ in range(3)]}
            figures.setdefault("launchers", {})[launcher] = draws
            try:
                if launcher == "streamlit run app.py":
                    figures.update(draws)
                    figures.update(_app_run(browser, url, runs_dir, args.clicks, process.pid))
                    figures.update(_app_run_unwatched(browser, url, runs_dir, process.pid))
            finally:
                for run in store.list_runs(runs_dir):
                    if run.active:
                        jobs.stop(run.path, grace=0.0, wait=True)
                process.terminate()
                process.wait(timeout=30)
                log.close()
                browser.close()
    if not args.skip_cli:
        figures["cli"] = [_cli_run(1), _cli_run(2)]
    record("app_speed", figures, started)


if __name__ == "__main__":
    main()
