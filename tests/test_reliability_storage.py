"""Reliability, second pass: storage that fails (read-only, full, not a folder), the run store's reports of
dead workers, signals, the CLI's doors (--runs-dir, compare), and the optional cache.

A read-only folder is made with ``chmod`` when the tests run as a normal user; as root (where chmod does not
stop writes) with ``chattr +i`` (an immutable folder, which stops root too), and the test is skipped when
neither is possible. A full disk is simulated by making the atomic writer raise ENOSPC.
"""
import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from deepclust_core import DeepClustError, fileio, jobs, store
from deepclust_core.cli import main as cli_main
from deepclust_core.store import states

TINY = {"hidden_dims": (8, 8), "latent_dim": 2, "epochs": 2, "pretrain_epochs": 2, "gmm_restarts": 1}
MOONS = {"dataset": "moons", "dataset_options": {"n_samples": 200}}
ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def read_only(folder: Path):
    """``folder`` cannot be written while the block runs (chmod, or chattr +i as root)."""
    folder = Path(folder)
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield "chmod"
        finally:
            folder.chmod(mode)
        return
    made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("running as root without chattr +i: no way to make a folder read-only here")
    try:
        yield "chattr"
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def disk_full(monkeypatch):
    """Every atomic write (status, results, snapshots) fails as on a full disk."""
    def full(path, write):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(fileio, "write_atomically", full)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def running_run(runs_dir: Path, log: str = "") -> Path:
    """A run marked running whose worker is dead (killed -9), with ``log`` in its log.txt."""
    run = store.create_run(runs_dir, {**MOONS, "method": "kmeans", "params": {}})
    states.mark_scheduled(run.path)
    states.record_worker(run.path, dead_pid())
    if log:
        (run.path / "log.txt").write_text(log)
    return run.path


# ------------------------------------------------------------------------------ dead workers, full disk

def test_list_runs_never_reports_a_dead_worker_as_running(tmp_path):
    path = running_run(tmp_path, log="Traceback ...\nOSError: [Errno 28] No space left on device\n")
    run = store.list_runs(tmp_path)[0]
    assert run.state == "failed" and "No space left on device" in run.reason
    assert json.loads((path / "status.json").read_text())["state"] == "running"  # a reader never writes


def test_startup_survives_a_full_disk_with_a_dead_worker(tmp_path, monkeypatch):
    """Full disk + a dead worker: startup cannot record the death, but does not fail; the list says it."""
    running_run(tmp_path, log="worker output\nOSError: No space left on device\n")
    disk_full(monkeypatch)
    assert jobs.startup(tmp_path, supervise=False) == []
    assert store.reconcile(tmp_path) == []
    run = store.list_runs(tmp_path)[0]
    assert run.state == "failed" and "No space left" in run.reason
    assert "runs folder" in (store.storage_problem(tmp_path) or "")


def test_a_run_ending_on_a_full_disk_records_its_reason_in_place(tmp_path, monkeypatch):
    """The end and its reason reach status.json even when no new file can be written."""
    run = store.create_run(tmp_path, {**MOONS, "method": "kmeans", "params": {}})
    states.mark_started(run.path, os.getpid(), time.time())
    states.set_progress(run.path, "train", 3, 10)
    disk_full(monkeypatch)
    states.mark_ended(run.path, "failed", "disk full (No space left on device) while writing a snapshot")
    status = json.loads((run.path / "status.json").read_text())
    assert status["state"] == "failed" and status["reason"].startswith("disk full")
    assert store.load_run(run.path).state == "failed"


def test_max_jobs_typo_queues_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPCLUST_MAX_JOBS", "abc")
    with pytest.raises(Exception, match="DEEPCLUST_MAX_JOBS"):
        jobs.submit(tmp_path, {**MOONS, "method": "kmeans", "params": {}})
    assert store.list_runs(tmp_path) == []


def test_read_only_runs_folder_is_a_clear_error_everywhere(tmp_path):
    runs = tmp_path / "runs"
    old = store.create_run(runs, {**MOONS, "method": "kmeans", "params": {}})
    states.mark_ended(old.path, "stopped", "test")
    with read_only(runs):
        assert "cannot be written" in store.storage_problem(runs)
        jobs.startup(runs, supervise=False)  # no exception
        assert jobs.startup_error and "cannot be written" in jobs.startup_error
        with pytest.raises(DeepClustError, match="Cannot create a run"):
            jobs.submit(runs, {**MOONS, "method": "kmeans", "params": {}})
        files = sorted(p.name for p in old.path.rglob("*"))
        with pytest.raises(Exception, match="Cannot delete run"):
            store.delete_run(runs, old.id)
        assert sorted(p.name for p in old.path.rglob("*")) == files  # a refused delete removes nothing
        assert [run.id for run in store.list_runs(runs)] == [old.id]  # viewing still works
    assert store.storage_problem(runs) is None


# -------------------------------------------------------------------------------------------------- CLI

@pytest.mark.parametrize("where", ["file", "proc", "read-only"])
def test_cli_runs_dir_that_cannot_be_written(tmp_path, capsys, where):
    target = {"file": tmp_path / "a-file", "proc": Path("/proc/deepclust-x"), "read-only": tmp_path / "ro"}[where]
    if where == "file":
        target.write_text("x")
    args = ["train", "--dataset", "moons", "--method", "kmeans", "--n-samples", "100", "--runs-dir", str(target)]
    if where == "read-only":
        target.mkdir()
        with read_only(target):
            code = cli_main(args)
    else:
        code = cli_main(args)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --runs-dir") and "Traceback" not in err


@pytest.mark.parametrize("seeds, message", [("a,b", "whole numbers; got 'a'"), (str(2**32), "between 0 and"),
                                            ("-1", "between 0 and"), (",", "at least one seed")])
def test_compare_validates_seeds(capsys, seeds, message):
    assert cli_main(["compare", "--dataset", "moons", "--methods", "kmeans", "--seeds", seeds]) == 2
    assert message in capsys.readouterr().err


def test_compare_checks_the_csv_path_before_training(tmp_path, capsys, monkeypatch):
    from deepclust_core import compare

    monkeypatch.setattr(compare, "compare", lambda *a, **k: pytest.fail("trained before checking --csv"))
    assert cli_main(["compare", "--dataset", "moons", "--methods", "kmeans", "--csv", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert cli_main(["compare", "--dataset", "moons", "--methods", "kmeans", "--csv", "/proc/x/y.csv"]) == 2
    assert "cannot be written" in capsys.readouterr().err


def test_compare_prints_the_table_first_and_fails_when_a_run_failed(tmp_path, capsys, monkeypatch):
    from deepclust_core import compare

    row = {"dataset": "moons", "n_samples": 10, "method": "kmeans", "seed": 0, "acc": 1.0, "nmi": 1.0, "ari": 1.0,
           "seconds": 0.1, "clusters_used": 2, "pretrain_cached": None, "error": ""}
    def lose_the_folder(*args, **kwargs):  # the CSV's folder is replaced by a file while training
        (tmp_path / "sub").rmdir()
        (tmp_path / "sub").write_text("")
        return [row, {**row, "seed": 1, "error": "training diverged"}]

    monkeypatch.setattr(compare, "compare", lose_the_folder)
    code = cli_main(["compare", "--dataset", "moons", "--methods", "kmeans", "--seeds", "0,1",
                     "--csv", str(tmp_path / "sub" / "out.csv")])
    out = capsys.readouterr()
    assert code == 1 and "| kmeans |" in out.out and "1 of 2 runs failed" in out.err
    assert "could not write --csv" in out.err


def test_a_user_files_clusters_reach_train_and_compare(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c, 0.1, (30, 2)) for c in (0, 3, 6)]).astype(np.float32)
    data = tmp_path / "three.npz"
    np.savez(data, x=x, y=np.repeat([0, 1, 2], 30))
    assert cli_main(["train", "--dataset", "file", "--data-path", str(data), "--method", "kmeans", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["clusters_used"] == 3 and result["acc"] == 1.0
    assert cli_main(["train", "--dataset", "file", "--data-path", str(data), "--method", "kmeans", "--json",
                     "--n-clusters", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["clusters_used"] == 2  # --n-clusters is the file's K
    run = store.create_run(tmp_path / "runs", {"dataset": "file", "dataset_options": {"path": str(data)},
                                               "method": "kmeans", "params": {}})
    assert store.execute_run(run.path)["clusters_used"] == 3  # the worker applies it too


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_train_signals_stop_the_run_and_exit_non_zero(tmp_path, sig, code):
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-m", "deepclust_core", "train", "--dataset", "moons", "--method",
                              "vade", "--n-samples", "200", "--hidden-dims", "8", "--epochs", "100000",
                              "--pretrain-epochs", "1", "--runs-dir", str(runs)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = store.list_runs(runs) if runs.is_dir() else []
        if listed and listed[0].progress.get("phase") == "train":
            break
        time.sleep(0.2)
    child.send_signal(sig)
    assert child.wait(30) == code
    run = store.list_runs(runs)[0]
    assert run.state == "stopped", (run.state, run.reason)


# ---------------------------------------------------------------------------------------- optional cache

def test_an_unwritable_cache_is_a_warning_not_a_failure(tmp_path, monkeypatch):
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("DEEPCLUST_CACHE", str(blocker))
    result = store.run_in_process({**MOONS, "method": "vade", "params": TINY})
    assert result["state"] == "finished"
    assert any("not cached" in warning for warning in result["warnings"])
