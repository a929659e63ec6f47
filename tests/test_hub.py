"""Hub assets fail fast with a clear message when there is no hub (no 25-50 s of retries)."""

import time

import pytest

from omni_lib import hub


def test_offline_env_fails_at_once(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.hub_reachable.cache_clear()
    with pytest.raises(hub.HubUnavailable, match=r"'some/repo' is not cached and the Hugging Face hub is off"):
        hub.hub_file("some/repo", "x.json", what="a test asset")


def test_unreachable_hub_fails_fast_without_offline_env(monkeypatch, tmp_path):
    # A hub endpoint on this machine's loopback where nothing listens: connection refused at once.
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    hub.hub_reachable.cache_clear()
    try:
        start = time.monotonic()
        with pytest.raises(hub.HubUnavailable, match=r"cannot be reached(.|\n)*huggingface-cli download some/repo"):
            hub.hub_file("some/repo", "x.json", what="a test asset", how="Or do Y.")
        assert time.monotonic() - start < 10
    finally:
        hub.hub_reachable.cache_clear()
