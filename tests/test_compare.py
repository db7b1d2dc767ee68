"""The comparison runner: rows per (method, seed), the Markdown table and the CSV."""
import csv
import math

import pytest

from deepclust_core import compare as compare_module
from deepclust_core.compare import compare, format_markdown, method_params, write_csv
from deepclust_core.errors import InputError, TrainingError
from deepclust_core.methods.dec import DEC

SMALL_DEC = {"hidden_dims": (8,), "latent_dim": 2, "pretrain_epochs": 3, "pretrain_batch_size": 50,
             "epochs": 2, "batch_size": 50, "kmeans_restarts": 2, "device": "cpu"}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPCLUST_CACHE", str(tmp_path / "cache"))


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
