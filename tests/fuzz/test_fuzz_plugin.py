"""The same hostile requests through the real plugin process (the SDK runtime over stdio, via dify_emulator).

`FUZZ_PLUGIN_EXAMPLES` sets how many (600 under `make fuzz`). Afterwards the plugin process must be the same one,
alive, answering normally, and its logs free of tracebacks.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import psutil
import pytest
from hypothesis import HealthCheck, given, settings

from dify_emulator import Emulator
from tests.faults.support import tapped_logs

from .harness import FILE_LIST, SYSTEM, budget
from .oracle import check_answer
from .strategies import API_KEY, requests

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = budget("FUZZ_PLUGIN_EXAMPLES", 40)
SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
             HealthCheck.function_scoped_fixture]


SCENARIO = {
    "hook_id": "fuzz",
    "settings": {"api_key": API_KEY,
                 "app_id": {"app_id": f"app-{uuid.uuid4().hex[:8]}", "inputs": {}, "files": [], "type": "app-selector"},
                 "memory_mode": "conversation", "cors_allow_origins": "https://chat.example.com"},
    "app": {"mode": "chat", "name": "Fuzz", "parameters": {"user_input_form": [FILE_LIST, SYSTEM]}},
    "replies": [{"echo": True}],
}


@pytest.fixture(scope="module")
def plugin():
    with tapped_logs() as tap, Emulator(scenario=SCENARIO, plugin_dir=ROOT) as emu, \
            httpx.Client(timeout=60) as client:
        yield emu, client, tap, emu.plugin_pid, psutil.Process(emu.plugin_pid).memory_info().rss


CONTROL = {c: None for c in [*range(0x20), 0x7F] if c != 0x09}


def wire_value(value: str) -> bytes:
    """A header value as it can reach the plugin: Dify's daemon (Go) refuses control characters with a 400 of its
    own, and the SDK (dify_plugin 0.10.2) cannot parse header bytes that are not UTF-8 (see
    test_headers_the_sdk_cannot_parse); the in-process target covers raw latin-1 values."""
    return value.translate(CONTROL).strip(" \t").encode("utf-8")


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=SLOW_DATA, database=None)
@given(request=requests())
def test_hostile_requests_through_the_plugin_process(plugin, request):
    emu, client, _, _, _ = plugin
    method, path, headers, body = request
    raw_headers = [(name.encode("latin-1"), wire_value(value)) for name, value in headers]
    response = client.request(method, emu.base_url + path, headers=raw_headers, content=body)
    check_answer(method, path, response.status_code, dict(response.headers), response.content, target="plugin")


def test_the_plugin_process_is_healthy_after_the_fuzzing(plugin):
    emu, client, tap, pid, rss_before = plugin
    assert emu.plugin_alive and emu.plugin_pid == pid
    query = f"still fine {uuid.uuid4()}"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    whole = client.post(emu.base_url + "/v1/chat/completions", headers=headers,
                        json={"model": "m", "messages": [{"role": "user", "content": query}]})
    assert whole.status_code == 200 and whole.json()["choices"][0]["message"]["content"] == query
    streamed = client.post(emu.base_url + "/v1/chat/completions", headers=headers,
                           json={"model": "m", "stream": True, "messages": [{"role": "user", "content": query}]})
    assert streamed.status_code == 200 and streamed.text.endswith("data: [DONE]\n\n")
    problems = [line for line in tap.lines if "Traceback" in line or "unexpected failure" in line]
    assert not problems, problems[:20]
    rss_after = psutil.Process(pid).memory_info().rss
    print(f"\nplugin RSS {rss_before / 2**20:.1f} MiB before the fuzzing, {rss_after / 2**20:.1f} MiB after")
