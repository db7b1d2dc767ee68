"""The command line: JSON output, run folders, method listing, clear errors without tracebacks."""
import json

import pytest

from deepclust_core.cli import main

SMALL = ["--dataset", "moons", "--n-samples", "300", "--epochs", "2", "--pretrain-epochs", "2",
         "--hidden-dims", "8,8"]


def test_train_prints_one_json_object_and_writes_run_dir(tmp_path, capsys):
    runs_dir = tmp_path / "runs"
    code = main(["train", *SMALL, "--method", "dgg", "--n-neighbors", "10", "--seed", "1", "--lambda", "0.05",
                 "--json", "--runs-dir", str(runs_dir)])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(out) == 1
    result = json.loads(out[0])
    assert {"dataset", "method", "acc", "nmi", "ari", "seconds"} <= set(result)
    assert result["dataset"] == "moons" and result["method"] == "dgg" and 0.0 <= result["acc"] <= 1.0
    run_dirs = list(runs_dir.iterdir())
    assert len(run_dirs) == 1
    config = json.loads((run_dirs[0] / "config.json").read_text())
    assert config["params"]["n_neighbors"] == 10 and config["params"]["lam"] == 0.05
    assert config["params"]["random_state"] == 1
    assert (run_dirs[0] / "labels.npz").exists() and (run_dirs[0] / "metrics.jsonl").exists()


def test_methods_lists_registered_methods(capsys):
    assert main(["methods", "--json"]) == 0
    names = {row["name"] for row in json.loads(capsys.readouterr().out)}
    assert {"dgg", "vade"} <= names


def run_cli(argv):
    """main()'s exit code, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exit_info:
        return exit_info.code


@pytest.mark.parametrize("command", ["train", "compare", "bench", "methods", "datasets"])
def test_help_lists_every_option(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    if command == "train":  # without a method, it says how to see a method's hyperparameters
        assert "--dataset" in out and "--n-samples" in out and "--method NAME" in out and "dgg" in out
        assert "--n-neighbors" not in out


def test_train_help_of_a_method_lists_its_hyperparameters(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--method", "dgg", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out  # every hyperparameter, help text included (a "%" in one once broke --help)
    assert "--n-neighbors" in out and "--lambda" in out and "--init" in out and "10 % of the width" in out
    with pytest.raises(SystemExit):
        main(["train", "--method", "dec", "--help"])
    assert "paper: 0.1%" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "--method=vade", "--help"])
    out = capsys.readouterr().out
    assert "--latent-dim" in out and "--n-neighbors" not in out  # only the chosen method's


@pytest.mark.parametrize("args, message", [
    (["--method", "dgg", "--dataset", "nope"], "Unknown dataset 'nope'"),
    (["--method", "dgg", "--n-neighbors", "300"], "smaller than the number of samples"),
    (["--method", "dgg", "--n-neighbors", "-2"], "n_neighbors"),
    (["--method", "dgg", "--lambda", "0"], "lam must be > 0"),
    (["--method", "dgg", "--epochs", "zero"], "epochs must be of type int"),
    (["--method", "vade", "--n-neighbors", "5"], "unrecognized arguments: --n-neighbors 5"),  # VaDE has no graph
])
def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path, capsys, args, message):
    runs_dir = tmp_path / "runs"
    argv = ["train", *SMALL, *args, "--runs-dir", str(runs_dir)]
    assert run_cli(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_unknown_method_is_a_clear_error_and_writes_nothing(tmp_path, capsys):
    runs_dir = tmp_path / "runs"
    assert main(["train", "--dataset", "moons", "--method", "nope", "--runs-dir", str(runs_dir)]) == 2
    err = capsys.readouterr().err
    assert "Unknown method 'nope'" in err and "dgg" in err and "Traceback" not in err
    assert not runs_dir.exists()


def test_bench_reports_throughput_against_the_bare_loop(capsys):
    code = main(["bench", "--quick", "--json"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    for key in ("bare_loop", "vade", "dgg_m1", "dgg_exact_ns20"):
        assert result[f"{key}_samples_per_s"] > 0
    assert 0 < result["dgg_exact_ns20_vs_bare"] < result["dgg_m1_vs_bare"]  # 21 passes per anchor cost more than 2
    assert result["knn_n"] == 5000 and result["knn_seconds"] > 0 and result["knn_float_features_seconds"] > 0
