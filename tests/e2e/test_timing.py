"""Keep-alives while Dify is silent, and a slow start, with short timings set through the plugin's environment."""

from __future__ import annotations

import json

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
    """Dify waits 1.2 s before each event; the plugin waits 0.3 s for the first one and keeps alive every 0.3 s.

    Checked by what arrives, in order, not by when: the stream begins with a keep-alive (Dify was still silent),
    every silent gap between two events holds at least one keep-alive (each gap is 4 keep-alive intervals long, so
    a loaded machine does not change that), and the opening chunk, although it came late, names the response and
    the conversation.
    """
    conversation = "5f0c5a4e-8f2b-4c47-9d77-3f4c2f7a9b10"
    env = {"conversation_id": conversation, "message_id": "m-late", "created_at": 1, "task_id": "t"}
    events = [{"event": "message", "answer": "first", **env}, {"event": "message", "answer": " second", **env},
              {"event": "message_end", **env}]
    slow_emulator.load_scenario(scenario(replies=[{"events": events, "delay_ms": 1200}]))
    with httpx.stream("POST", f"{slow_emulator.base_url}/v1/chat/completions",
                      headers={"Authorization": f"Bearer {API_KEY}"},
                      json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]},
                      timeout=30) as response:
        assert response.status_code == 200
        assert "X-Dify-Conversation-Id" not in response.headers  # the headers left before Dify named it
        lines = [line for line in response.iter_lines() if line]
    assert lines[0] == ": keep-alive" and lines[-1] == "data: [DONE]"
    data = [i for i, line in enumerate(lines) if line.startswith("data: {")]
    opening = json.loads(lines[data[0]][6:])
    assert opening["choices"][0]["delta"]["role"] == "assistant"
    assert opening["id"] == "chatcmpl-m-late" and opening["conversation_id"] == conversation
    contents = [i for i in data if '"content":"' in lines[i] and '"content":""' not in lines[i]]
    assert len(contents) == 2
    assert ": keep-alive" in lines[contents[0] + 1:contents[1]]  # the silence between the two deltas
