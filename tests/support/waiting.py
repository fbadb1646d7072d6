"""Waiting, bounded, for a model version to be served."""

import time

import httpx
import pytest
from fastapi.testclient import TestClient


def wait_for_version(client: httpx.Client | TestClient, version: int, within: float = 5.0
                     ) -> float:
    """Seconds until GET /model answers with `version` (fails after `within`): through
    nginx, or straight to the app (TestClient)."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if client.get("/model").json().get("model_version") == version:
            return time.monotonic() - started
        time.sleep(0.02)
    pytest.fail(f"still not serving version {version} after {within} s")
