"""What the browser tests share: Debian's Chromium (never a downloaded one) and the app served on a free port of
127.0.0.1 with its own runs folder and cache."""
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Tuple

import pytest

from deepclust_core import jobs, store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
APP = Path(__file__).resolve().parent.parent / "app.py"
# `streamlit run app.py`, or `python app.py` (the same server, with the library imported before it serves)
LAUNCHERS = {"streamlit": ["-m", "streamlit", "run", str(APP)], "python": [str(APP)]}


def require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium); the browser tests never download one",
                    allow_module_level=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def app_server(base: Path, max_jobs: int = 1, launcher: str = "streamlit") -> Iterator[Tuple[str, Path]]:
    """(url, runs folder) of the app served from ``base``; stops its runs and the server afterwards."""
    runs_dir, port = base / "runs", free_port()
    env = {**os.environ, "DEEPCLUST_RUNS": str(runs_dir), "DEEPCLUST_CACHE": str(base / "cache"),
           "DEEPCLUST_MAX_JOBS": str(max_jobs)}
    log_path = base / "streamlit.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, *LAUNCHERS[launcher], "--server.headless", "true", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.fileWatcherType", "none", "--browser.gatherUsageStats",
             "false"], cwd=APP.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the app did not start ({launcher}); log: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        try:
            yield url, runs_dir
        finally:
            for run in store.list_runs(runs_dir):
                if run.active:
                    jobs.stop(run.path, grace=0.0, wait=True)
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
