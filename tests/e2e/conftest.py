"""End-to-end fixtures: the real plugin process (`python -m main`) driven through dify_emulator.

One emulator (and one plugin process) serves the whole session; each test loads its own scenario, which is much
faster than restarting the plugin and still exercises the real SDK runtime and stdio protocol.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from dify_emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sk-e2e-test-key"
RECORDINGS = ROOT / "tests" / "golden" / "recordings"


def recording(name: str) -> str:
    """A file recorded from a real Dify 1.14.1 (tests/golden/recordings), as text."""
    return (RECORDINGS / name).read_text().strip()


def scenario(mode: str = "chat", replies: list[dict[str, Any]] | None = None, parameters: dict | None = None,
             **settings: Any) -> dict[str, Any]:
    """A full scenario: the tests' key, the app in `mode`, the given replies and endpoint settings.

    Each scenario gets a fresh app id, as a different app would have: the plugin caches app forms per app id.
    """
    app_id = f"app-{uuid.uuid4().hex[:12]}"
    return {
        "settings": {"api_key": API_KEY,
                     "app_id": {"app_id": app_id, "inputs": {}, "files": [], "type": "app-selector"},
                     "memory_mode": "last_user_message", **settings},
        "app": {"mode": mode, "name": "E2E", "parameters": parameters or {}},
        "replies": replies or [{"echo": True}],
    }


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    with Emulator(scenario=scenario(), plugin_dir=str(ROOT)) as emu:
        yield emu


@pytest.fixture
def emu(emulator: Emulator) -> Emulator:
    emulator.load_scenario(scenario())
    emulator.records.clear()
    return emulator


@pytest.fixture
def client(emu: Emulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{emu.base_url}/v1", api_key=API_KEY, max_retries=0, timeout=30)
