"""Sweeps (deepclust_core.sweep, the CLI's `sweep`) and the executor seam's choice, on the local queue: the
Table 2 summary, the CLI and Python giving the same runs, a restarted sweep skipping what finished, and an
unreachable cluster reported before anything is written. The Ray executor is tested in test_ray_executor.py."""
import json
import shutil

import pytest

from deepclust_core import InputError, cli, jobs, store
from deepclust_core.jobs import LocalQueue, get_executor
from deepclust_core.sweep import Sweep, format_table, run_sweep, summarize


@pytest.fixture(autouse=True)
def _environment(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("DEEPCLUST_CACHE", str(tmp_path_factory.getbasetemp() / "sweep-cache"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("DEEPCLUST_RAY_ADDRESS", raising=False)
    monkeypatch.setenv("DEEPCLUST_MAX_JOBS", "1")


def test_summary_is_mean_and_sample_std_per_value_and_leaves_failed_runs_out():
    rows = [{"n_neighbors": 0, "seed": s, "state": "finished", "acc": a, "nmi": a, "ari": a, "seconds": 2.0}
            for s, a in enumerate((0.5, 0.7, 0.9))]
    rows += [{"n_neighbors": 10, "seed": 0, "state": "finished", "acc": 1.0, "nmi": 1.0, "ari": 1.0, "seconds": 4.0},
             {"n_neighbors": 10, "seed": 1, "state": "failed", "acc": None, "nmi": None, "ari": None, "seconds": None}]
    table = summarize(rows, ["n_neighbors"])
    assert [entry["n_neighbors"] for entry in table] == [0, 10]
    assert table[0]["acc"] == pytest.approx(0.7) and table[0]["acc_std"] == pytest.approx(0.2)  # ddof = 1
    assert (table[1]["runs"], table[1]["finished"], table[1]["failed"]) == (2, 1, 1)
    assert table[1]["acc"] == 1.0 and table[1]["acc_std"] is None  # one run has no spread
    text = format_table(table, ["n_neighbors"])
    assert "| 0 | 0.700 ± 0.200 |" in text and "1/2 (1 failed)" in text


def test_a_sweep_is_its_grid_times_its_seeds_on_the_dataset_recipe():
    sweep = Sweep("moons", "dgg", grid={"n_neighbors": [0, 3]}, seeds=[0, 1, 2], params={"epochs": 2})
    configs = sweep.configs()
    assert [(c["params"]["n_neighbors"], c["params"]["random_state"]) for c in configs] == \
        [(0, 0), (0, 1), (0, 2), (3, 0), (3, 1), (3, 2)]
    assert {c["params"]["epochs"] for c in configs} == {2}
    assert {c["params"]["hidden_dims"] for c in configs} == {(20, 20)}  # the moons recipe
    assert sweep.group.startswith("ablation-") and {c["group"] for c in configs} == {sweep.group}
    with pytest.raises(InputError, match="no parameter"):
        Sweep("moons", "kmeans", grid={"n_neighbors": [1, 2]}, seeds=[0])


def test_cli_sweep_then_python_restart_skips_finished_runs(tmp_path, capsys):
    runs, out = tmp_path / "runs", tmp_path / "out"
    argv = ["sweep", "--dataset", "moons", "--method", "kmeans", "--n-init", "1,3", "--seeds", "0",
            "--n-samples", "200", "--workers", "2", "--runs-dir", str(runs), "--csv", str(out / "s.csv"),
            "--json-out", str(out / "s.json")]
    assert cli.main(argv) == 0
    printed = capsys.readouterr()
    assert "| n_init | ACC | NMI | ARI | runs | seconds/run |" in printed.out and "1/1" in printed.out
    assert "n_init=3 seed=0: finished" in printed.err
    written = json.loads((out / "s.json").read_text())
    assert [entry["n_init"] for entry in written["table"]] == [1, 3] and len(written["runs"]) == 2
    assert (out / "s.csv").read_text().splitlines()[0].startswith("n_init,seed,state,acc")
    assert len(store.list_runs(runs)) == 2

    sweep = Sweep("moons", "kmeans", grid={"n_init": [1, 3]}, seeds=[0], dataset_options={"n_samples": 200})
    again = run_sweep(sweep, runs, executor=LocalQueue(2))  # the same sweep from Python: nothing to train
    assert again.skipped == 2 and len(store.list_runs(runs)) == 2
    assert [row["acc"] for row in again.rows] == [row["acc"] for row in written["runs"]]
    lost = again.rows[1]["run_id"]
    shutil.rmtree(runs / lost)  # as if it had never finished: only that run trains again
    third = run_sweep(sweep, runs, executor=LocalQueue(2))
    assert third.skipped == 1 and len(store.list_runs(runs)) == 2
    assert third.rows[1]["run_id"] != lost and third.rows[1]["state"] == "finished"
    assert third.rows[1]["acc"] == pytest.approx(again.rows[1]["acc"])  # same seed, same result


def test_an_unreachable_cluster_is_a_clear_error_and_nothing_is_written(tmp_path):
    config = {"dataset": "moons", "dataset_options": {"n_samples": 200}, "method": "kmeans", "params": {}}
    with pytest.raises(InputError, match="unreachable|not installed"):
        jobs.submit_many(tmp_path, [config, config], address="127.0.0.1:9")
    assert store.list_runs(tmp_path) == []
    with pytest.raises(InputError, match="host:port|not installed"):
        get_executor("no-port-here").check()
    assert isinstance(get_executor(""), LocalQueue) and isinstance(get_executor("local"), LocalQueue)


def test_the_environment_selects_ray_and_an_empty_address_forces_the_local_queue(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.1.2.3:6379")
    assert get_executor(None).name == "ray" and get_executor(None).address == "10.1.2.3:6379"
    assert get_executor(None, cpus_per_run=2, gpus_per_run=0.5).describe().endswith("(2 CPU, 0.5 GPU per run)")
    assert isinstance(get_executor(""), LocalQueue)
    monkeypatch.setenv("DEEPCLUST_RAY_ADDRESS", "local")
    assert isinstance(get_executor(None), LocalQueue)
