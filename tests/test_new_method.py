"""Adding a method touches one file: a registered estimator with a typed config appears in ``methods``, the
CLI's help and flags, ``train``/``compare`` (through the run store) and the app's form with no other change.

The example method is defined here, registered for the test and removed afterwards.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np
import pytest

from deepclust_core import compare as compare_module
from deepclust_core import create_method, list_methods
from deepclust_core.cli import main
from deepclust_core.methods.base import METHODS, BaseClusterer, _CallbackList, register_method
from deepclust_core.params import param
from test_app import APP, _navigation_mode  # noqa: F401  (fixture: the app's navigation mode in AppTest)

NAME = "quantile_split"


@dataclass(eq=False, repr=False)
class QuantileSplit(BaseClusterer):
    """Quantile split: K clusters from the quantiles of one feature (an example method)."""

    feature: int = param(0, "Index of the feature whose quantiles cut the data into K slices.", low=0)

    def fit(self, X, y=None, callbacks=None):
        x, labels = self.check_input(X, y)
        callbacks = _CallbackList(callbacks)
        started = time.perf_counter()
        self.history_, self.warnings_, self.stopped_early_ = [], [], False
        callbacks.fit_start(self, {"n_samples": x.shape[0], "device": "cpu"})
        column = x[:, min(self.feature, x.shape[1] - 1)]
        cuts = np.quantile(column, np.linspace(0, 1, self.n_clusters + 1)[1:-1])
        self.labels_ = np.searchsorted(cuts, column).astype(np.int64)
        self.stopped_early_ = self._record(self.history_, "train", 1, 1, {"loss": 0.0}, callbacks)
        return self._finish_fit(labels, callbacks, started)


@pytest.fixture
def example_method():
    register_method(NAME)(QuantileSplit)
    yield QuantileSplit
    METHODS.unregister(NAME)


def test_it_is_listed_and_created(example_method, capsys):
    assert NAME in list_methods()
    assert main(["methods", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"name": NAME, "class": "QuantileSplit",
            "summary": "Quantile split: K clusters from the quantiles of one feature (an example method)."} in rows
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    assert create_method(NAME, n_clusters=2).fit(x).labels_.tolist() == [0, 0, 1, 1]


def test_its_flags_and_help_come_from_its_config(example_method, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--method", NAME, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "QuantileSplit hyperparameters" in text
    assert "--feature INT Index of the feature whose quantiles cut the data into K slices." in text
    assert "--n-neighbors" not in text  # another method's flag is not offered
    assert main(["train", "--dataset", "moons", "--method", NAME, "--feature", "0", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["state"] == "finished" and result["method"] == NAME and 0.5 <= result["acc"] <= 1.0


def test_compare_runs_it(example_method):
    rows = compare_module.compare("moons", [NAME, "kmeans"], seeds=[0, 1], n_samples=200)
    mine = [row for row in rows if row["method"] == NAME]
    assert len(mine) == 2 and all(not row["error"] and row["acc"] >= 0.5 for row in mine)
    assert mine[0]["acc"] == mine[1]["acc"]  # deterministic: the seed changes nothing here


def test_the_app_form_offers_it(example_method, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DEEPCLUST_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert NAME in at.selectbox(key="cfg.method").options
    at.selectbox(key="cfg.method").set_value(NAME).run()
    assert not at.exception
    field = at.number_input(key=f"p.{NAME}.feature")
    assert field.value == 0 and "quantiles cut the data" in field.help
    field.set_value(1).run()
    assert at.session_state["config"]["method"] == NAME
    assert at.session_state["config"]["params"]["feature"] == 1
