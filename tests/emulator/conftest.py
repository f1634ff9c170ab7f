"""Shared fixtures: one probe-plugin emulator for the whole run, reset before each test.

Starting the plugin costs a couple of seconds, so tests switch scenarios with load_scenario instead.
"""

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
PROBE_DIR = REPO_ROOT / "tests" / "fixtures" / "probe_plugin"
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from dify_emulator import Emulator  # noqa: E402

HTTP_TIMEOUT = 15


@pytest.fixture(scope="session")
def probe() -> Iterator[Emulator]:
    with Emulator(plugin_dir=PROBE_DIR) as emulator:
        yield emulator


@pytest.fixture
def emu(probe: Emulator) -> Emulator:
    """The shared emulator, back to the demo scenario with empty state."""
    if not probe.plugin_alive:
        probe.restart_plugin()
    probe.load_scenario(None)
    probe.records.clear()
    probe.storage.clear()
    probe.uploads.clear()
    probe.conversations.clear()
    probe.fail_storage = False
    probe.max_execution_timeout = 600
    return probe


def call_app(emu: Emulator, **body: Any) -> list[dict[str, Any]]:
    """POST /app on the probe: the app's events (or one blocking dict, or {"error": ...}), one per line."""
    response = requests.post(emu.base_url + "/app", json=body, timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def storage_ops(emu: Emulator, *ops: dict[str, Any]) -> list[dict[str, Any]]:
    response = requests.post(emu.base_url + "/storage", json={"ops": list(ops)}, timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()
