"""Shared test set-up: every test session uses its own pretrained-model cache and runs folder, and never
downloads data."""
import pytest


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.getbasetemp() / "deepclust-cache"
    monkeypatch.setenv("DEEPCLUST_CACHE", str(cache))
    monkeypatch.setenv("DEEPCLUST_OFFLINE", "1")
