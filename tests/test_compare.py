"""The comparison runner: rows per (method, seed), the Markdown table and the CSV; its runs go through the
executor seam (this process by default, the local queue with workers, Ray with an address: see
test_ray_executor.py for a comparison on a real cluster)."""
import csv
import json
import math

import numpy as np
import pytest

from deepclust_core import cli, store
from deepclust_core import compare as compare_module
from deepclust_core.compare import compare, compare_executor, format_markdown, method_params, write_csv
from deepclust_core.errors import InputError, TrainingError
from deepclust_core.jobs import LocalQueue
from deepclust_core.methods.dec import DEC
from deepclust_core.sweep import InProcess

SMALL_DEC = {"hidden_dims": (8,), "latent_dim": 2, "pretrain_epochs": 3, "pretrain_batch_size": 50,
             "epochs": 2, "batch_size": 50, "kmeans_restarts": 2, "device": "cpu"}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPCLUST_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("DEEPCLUST_RAY_ADDRESS", raising=False)


def run_small(**kwargs):
    lines = []
    rows = compare("moons", ["kmeans", "dec", "gmm"], seeds=[0, 1], n_samples=200,
                   params={"dec": SMALL_DEC, "gmm": {"covariance_type": "diag"}}, progress=lines.append, **kwargs)
    return rows, lines


def test_compare_rows_table_and_csv(tmp_path):
    rows, lines = run_small()
    assert [(row["method"], row["seed"]) for row in rows] == [
        ("kmeans", 0), ("kmeans", 1), ("dec", 0), ("dec", 1), ("gmm", 0), ("gmm", 1)]
    assert len(lines) == 6 and "ACC" in lines[0]
    for row in rows:
        assert row["dataset"] == "moons" and row["n_samples"] == 200 and not row["error"]
        assert 0.5 <= row["acc"] <= 1.0 and -1 <= row["ari"] <= 1 and row["seconds"] >= 0
    assert rows[3]["pretrain_cached"] is False  # seed 1 trains its own autoencoder

    table = format_markdown(rows).splitlines()
    assert table[0] == "| Method | ACC | NMI | ARI | Seconds | Seeds |"
    assert table[1].count("---") == 6
    assert [line.split("|")[1].strip() for line in table[2:]] == ["kmeans", "dec", "gmm"]
    for line in table[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert len(cells) == 6 and cells[-1] == "2"
        assert all("±" in cell for cell in cells[1:4])

    path = write_csv(rows, tmp_path / "out" / "rows.csv")
    with open(path, newline="") as handle:
        read = list(csv.DictReader(handle))
    assert len(read) == 6 and list(read[0]) == list(compare_module.COLUMNS)
    assert float(read[0]["acc"]) == pytest.approx(rows[0]["acc"])


def test_params_merge_recipe_then_overrides():
    merged = method_params("moons", "dec", {"*": {"device": "cpu", "n_neighbors": 3}, "dec": {"epochs": 7}})
    assert merged["device"] == "cpu" and merged["epochs"] == 7
    assert "n_neighbors" not in merged  # "*" only gives a method the parameters it has


def test_bad_names_fail_before_training():
    with pytest.raises(InputError):
        compare("moons", ["no_such_method"], seeds=[0], n_samples=100)
    with pytest.raises(InputError):
        compare("moons", ["kmeans"], seeds=[0], n_samples=100, params={"kmeans": {"no_such_param": 1}})
    with pytest.raises(InputError):
        compare("moons", [], seeds=[0])


def test_a_failed_run_is_reported_not_averaged(monkeypatch):
    def diverge(self, X, y=None, callbacks=None):
        raise TrainingError("diverged on purpose")

    monkeypatch.setattr(DEC, "fit", diverge)
    rows, lines = run_small()
    failed = [row for row in rows if row["error"]]
    assert len(failed) == 2 and math.isnan(failed[0]["acc"]) and "failed" in lines[2]
    dec_line = [line for line in format_markdown(rows).splitlines() if line.startswith("| dec ")][0]
    assert "2 (2 failed)" in dec_line and "–" in dec_line


def test_single_seed_has_no_spread_and_several_datasets_get_a_column():
    rows = compare("moons", ["kmeans"], seeds=[0], n_samples=100)
    assert "±" not in format_markdown(rows)
    other = [dict(row, dataset="moons-b") for row in rows]
    table = format_markdown(rows + other).splitlines()
    assert table[0].startswith("| Dataset | Method |") and len(table) == 4


def test_the_local_queue_gives_the_in_process_rows_and_labels(tmp_path, capsys):
    args = ["compare", "--dataset", "moons", "--methods", "gmm", "--seeds", "0,1", "--n-samples", "200",
            "--workers", "2", "--runs-dir", str(tmp_path / "queue"), "--json"]
    assert cli.main(args) == 0
    printed = capsys.readouterr()
    assert "compare: 2 runs on local queue (2 at once)" in printed.err
    queued = json.loads(printed.out)
    here = compare("moons", ["gmm"], seeds=[0, 1], n_samples=200, runs_dir=tmp_path / "here")
    drop = ("seconds",)
    assert [{k: v for k, v in row.items() if k not in drop} for row in queued] == \
        [{k: v for k, v in row.items() if k not in drop} for row in here]
    by_seed = {}
    for kind in ("queue", "here"):
        for run in store.list_runs(tmp_path / kind):
            assert run.state == "finished" and run.config["label"] == f"gmm seed={run.config['params']['random_state']}"
            by_seed.setdefault(run.config["params"]["random_state"], {})[kind] = run
    assert sorted(by_seed) == [0, 1]
    for runs in by_seed.values():  # a worker process of the queue trained one, this process the other
        assert runs["queue"].status["pid"] != runs["here"].status["pid"]
        np.testing.assert_array_equal(store.load_artifact(runs["queue"].path, "labels")["labels"],
                                      store.load_artifact(runs["here"].path, "labels")["labels"])


def test_a_cluster_address_selects_ray_and_an_unreachable_one_writes_nothing(tmp_path, capsys, monkeypatch):
    assert isinstance(compare_executor(), InProcess) and isinstance(compare_executor(workers=1), LocalQueue)
    with pytest.raises(InputError, match="unreachable|not installed"):
        compare("moons", ["kmeans"], seeds=[0], n_samples=100, runs_dir=tmp_path, address="127.0.0.1:9")
    assert store.list_runs(tmp_path) == []
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")  # the environment selects the cluster too
    assert compare_executor(cpus_per_run=2, gpus_per_run=0.5).describe() == \
        "Ray cluster at 127.0.0.1:9 (2 CPU, 0.5 GPU per run)"
    assert isinstance(compare_executor(address="local"), InProcess) and isinstance(compare_executor(""), InProcess)
    assert cli.main(["compare", "--dataset", "moons", "--methods", "kmeans", "--n-samples", "100",
                     "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error: " in err and ("unreachable" in err or "not installed" in err) and "Traceback" not in err
    assert store.list_runs(tmp_path) == []
