"""What the browser tests share: Debian's Chromium (never a downloaded one) and the app served on a free port of
127.0.0.1 with its own runs folder and cache, started as the speed benchmark starts it."""
import contextlib
import os
import subprocess
from pathlib import Path
from typing import Iterator, Tuple

import pytest

from benchmarks.app_speed import CHROMIUM, CHROMIUM_ARGS, start_server  # noqa: F401 (used by the test modules)
from deepclust_core import jobs, store


def require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium); the browser tests never download one",
                    allow_module_level=True)


@contextlib.contextmanager
def app_server(base: Path, max_jobs: int = 1, launcher: str = "streamlit run app.py") -> Iterator[Tuple[str, Path]]:
    """(url, runs folder) of the app served from ``base`` (``launcher``: "streamlit run app.py" or
    "python app.py"); stops its runs and the server afterwards."""
    runs_dir = base / "runs"
    try:
        process, url, log = start_server(runs_dir, base / "cache", base / "streamlit.log", launcher, max_jobs)
    except RuntimeError as exc:
        pytest.fail(str(exc))
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
        log.close()
