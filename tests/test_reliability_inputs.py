"""Reliability, second pass: inputs too big for their size on the wire, values echoed into messages, and the
API's raw TypeErrors. The limits are the server operator's (``deepclust_core.settings``)."""
import tracemalloc

import numpy as np
import pytest

from deepclust_core import InputError, create_method, load_dataset, settings
from deepclust_core.config import validate_config
from benchmarks.redteam import bomb_bytes
from deepclust_core.datasets import read_user_file, store_user_file


@pytest.fixture(scope="module")
def bomb():
    return bomb_bytes(data_bytes=1 << 24)  # a few MB of the real bomb's zeros: the check reads the header


def test_a_decompression_bomb_is_refused_from_its_header_without_loading(tmp_path, bomb):
    assert len(bomb) < 3e6
    tracemalloc.start()
    with pytest.raises(InputError, match="holds 400,000,000 values"):
        store_user_file("bomb.npz", bomb, tmp_path, max_bytes=200_000_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50e6, peak  # the 1.6 GB array is never built
    assert not any(tmp_path.rglob("*.npz"))


def test_data_limits_are_the_operators(tmp_path, monkeypatch):
    data = tmp_path / "d.npy"
    np.save(data, np.zeros((100, 10)))  # 8,000 bytes as float64
    assert read_user_file(data)[0].shape == (100, 10)
    monkeypatch.setenv("DEEPCLUST_MAX_DATA_MB", "0.005")
    with pytest.raises(InputError, match="0.005 MB.*DEEPCLUST_MAX_DATA_MB"):
        read_user_file(data)
    monkeypatch.delenv("DEEPCLUST_MAX_DATA_MB")
    monkeypatch.setenv("DEEPCLUST_MAX_CELLS", "999")
    with pytest.raises(InputError, match="1,000 values.*DEEPCLUST_MAX_CELLS"):
        read_user_file(data)
    csv = tmp_path / "d.csv"
    csv.write_text("\n".join(",".join(["1"] * 10) for _ in range(100)) + "\n")
    with pytest.raises(InputError, match="DEEPCLUST_MAX_CELLS"):
        read_user_file(csv)


def test_a_huge_csv_is_refused_before_pandas_reads_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPCLUST_MAX_DATA_MB", "1")
    sparse = tmp_path / "sparse.csv"
    sparse.write_text(",".join(["0"] * 20_000) + "\n" + ",".join([""] * 20_000) + "\n" * 40)
    tracemalloc.start()
    with pytest.raises(InputError, match="DEEPCLUST_MAX_DATA_MB"):
        read_user_file(sparse)
    assert tracemalloc.get_traced_memory()[1] < 20e6
    tracemalloc.stop()


def test_messages_never_repeat_a_files_contents(tmp_path):
    secret = "root:x:0:0:root:/root:/bin/bash"
    big_cell = "A" * 3_000_000
    for name, text in (("a.csv", f"1,2\n3,{secret}\n"), ("b.csv", f"1,2\n3,{big_cell}\n"),
                       ("c.csv", f"x,{secret}\n1,2\n3,4\n")):
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(InputError) as caught:
            read_user_file(path, label_column="nope" if name == "c.csv" else None)
        message = str(caught.value)
        assert "root" not in message and "AAAA" not in message and len(message) < 300, message


def test_typed_values_are_echoed_short(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    long = "k" * 5000
    with pytest.raises(InputError) as caught:
        read_user_file(path, label_column=long)
    assert len(str(caught.value)) < 300 and "5000 characters" in str(caught.value)
    assert len(settings.echo(long)) < 80


@pytest.mark.parametrize("params, message", [
    ({"random_state": 2**32}, "random_state must be <= 4294967295"),
    ({"random_state": 2**64}, "random_state must be <= 4294967295"),
    ({"hidden_dims": 8}, "hidden_dims must be a sequence of whole numbers"),
    ({"hidden_dims": "8,8"}, "hidden_dims must be a sequence of whole numbers"),
    ({"hidden_dims": (10**8,)}, "DEEPCLUST_MAX_NETWORK"),
])
def test_api_values_are_clear_input_errors(params, message):
    x = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    with pytest.raises(InputError, match=message):
        create_method("dgg", **params, epochs=1, pretrain_epochs=1).fit(x)


def test_config_values_are_clear_input_errors(monkeypatch):
    base = {"dataset": "moons", "method": "dgg"}
    with pytest.raises(InputError, match="random_state must be <= 4294967295"):
        validate_config({**base, "params": {"random_state": 2**63}})
    monkeypatch.setenv("DEEPCLUST_MAX_NETWORK", "64")
    with pytest.raises(InputError, match="65 units.*at most 64"):
        validate_config({**base, "params": {"hidden_dims": [65]}})
    assert validate_config({**base, "params": {"hidden_dims": [64, 8]}})["params"]["hidden_dims"] == (64, 8)


def test_a_path_that_is_not_a_path():
    with pytest.raises(InputError, match="must be a file name"):
        load_dataset("file", path=5)
    with pytest.raises(InputError, match="must be a file name"):
        read_user_file(None)


def test_server_paths_are_off_by_default(monkeypatch):
    monkeypatch.delenv("DEEPCLUST_SERVER_PATHS", raising=False)
    assert settings.server_paths_allowed() is False
    monkeypatch.setenv("DEEPCLUST_SERVER_PATHS", "1")
    assert settings.server_paths_allowed() is True
