"""End-to-end fixtures: the real plugin process (`python -m main`) driven through dify_emulator, and the gateway
over the emulated Service API.

One emulator (and one plugin process) serves the whole session; each test loads its own scenario, which is much
faster than restarting the plugin and still exercises the real SDK runtime and stdio protocol. A module marked
`both_adapters` runs every test against the plugin and the gateway (`adapter` is "plugin" or "gateway"), except
tests marked `plugin_only` (behaviour of the plugin path or its daemon, which the Service API does not share).
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


ADAPTERS = ("plugin", "gateway")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_adapters: run against the plugin and the gateway")
    config.addinivalue_line("markers", "plugin_only: plugin-path behaviour the gateway does not share")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "adapter" in metafunc.fixturenames:
        node = metafunc.definition
        both = node.get_closest_marker("both_adapters") and not node.get_closest_marker("plugin_only")
        metafunc.parametrize("adapter", ADAPTERS if both else ADAPTERS[:1], scope="session")


@pytest.fixture(scope="session")
def emulator(adapter: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if adapter == "gateway":
        from .gateway_target import GatewayTarget
        with GatewayTarget(tmp_path_factory.mktemp("gateway") / "state.sqlite3", scenario()) as target:
            yield target
        return
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
