"""Keep-alives while Dify is silent, and a slow start, with short timings set through the plugin's environment."""

from __future__ import annotations

import time

import httpx
import pytest

from dify_emulator import Emulator

from .conftest import API_KEY, ROOT, scenario

ENV = {"OPENAI_BRIDGE_KEEPALIVE_INTERVAL": "0.3", "OPENAI_BRIDGE_FIRST_EVENT_WAIT": "0.3"}


@pytest.fixture(scope="module")
def slow_emulator():
    with Emulator(scenario=scenario(), plugin_dir=str(ROOT), env=ENV) as emu:
        yield emu


def test_keepalive_comments_while_dify_is_silent(slow_emulator):
    env = {"conversation_id": "5f0c5a4e-8f2b-4c47-9d77-3f4c2f7a9b10", "message_id": "m", "created_at": 1,
           "task_id": "t"}
    events = [{"event": "message", "answer": "first", **env}, {"event": "message", "answer": " second", **env},
              {"event": "message_end", **env}]
    slow_emulator.load_scenario(scenario(replies=[{"events": events, "delay_ms": 1200}]))
    started = time.monotonic()
    arrivals = []
    with httpx.stream("POST", f"{slow_emulator.base_url}/v1/chat/completions",
                      headers={"Authorization": f"Bearer {API_KEY}"},
                      json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]},
                      timeout=30) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line:
                arrivals.append((time.monotonic() - started, line))
    keepalives = [t for t, line in arrivals if line == ": keep-alive"]
    assert len(keepalives) >= 3
    assert arrivals[-1][1] == "data: [DONE]"
    # the role chunk left before the first content, i.e. the stream started while Dify was still silent
    assert arrivals[0][1].startswith(": keep-alive") or '"role":"assistant"' in arrivals[0][1]
