"""The foundation, end to end: real plugin process, real SDK runtime, real `openai` client."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from .conftest import API_KEY, scenario

pytestmark = pytest.mark.both_adapters

MESSAGES = [{"role": "user", "content": "Hello from the OpenAI SDK"}]


def test_non_streaming_reply(client, emu):
    completion = client.chat.completions.create(model="any-model", messages=MESSAGES)
    assert completion.choices[0].message.content == "Hello from the OpenAI SDK"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "any-model"
    assert completion.usage.total_tokens > 0
    assert completion.id.startswith("chatcmpl-")
    app_calls = [r for r in emu.records if r["type"] == "app"]
    assert app_calls[-1]["request"]["query"] == "Hello from the OpenAI SDK"
    assert app_calls[-1]["request"]["response_mode"] == "streaming"


def test_non_streaming_is_json(emu):
    response = httpx.post(f"{emu.base_url}/v1/chat/completions", headers={"Authorization": f"Bearer {API_KEY}"},
                          json={"model": "m", "messages": MESSAGES}, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"].startswith("req_")


def test_streaming_reply(client):
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the OpenAI SDK"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert len({c.id for c in chunks}) == 1


def test_wrong_key_is_authentication_error(emu):
    bad = openai.OpenAI(base_url=f"{emu.base_url}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.body["code"] == "invalid_api_key"


def test_dify_failure_is_an_openai_error(emu, client):
    emu.load_scenario(scenario(replies=[{"fail": 'invoke app failed: request failed with status code: 400 and '
                                                 'respond with: {"code": "invalid_param", "message": '
                                                 '"Model is not configured", "status": 400}'}]))
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert "Model is not configured" in info.value.message
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="m", messages=MESSAGES, stream=True)


def test_error_event_mid_stream(emu, client):
    events = [
        {"event": "message", "answer": "Partial ", "conversation_id": "c", "message_id": "m", "created_at": 1,
         "task_id": "t"},
        {"event": "error", "code": "completion_request_error", "message": "The model crashed", "status": 400},
    ]
    emu.load_scenario(scenario(replies=[{"events": events}]))
    with httpx.stream("POST", f"{emu.base_url}/v1/chat/completions",
                      headers={"Authorization": f"Bearer {API_KEY}"},
                      json={"model": "m", "messages": MESSAGES, "stream": True}, timeout=30) as response:
        assert response.status_code == 200
        frames = [line for line in response.iter_lines() if line]
    assert frames[-1] == "data: [DONE]"
    error = json.loads(frames[-2].removeprefix("data: "))
    assert "The model crashed" in error["error"]["message"]
    assert set(error["error"]) == {"message", "type", "param", "code"}
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            pass


def test_unknown_route_is_an_openai_404(emu):
    response = httpx.post(f"{emu.base_url}/v1/embeddings", headers={"Authorization": f"Bearer {API_KEY}"},
                          json={}, timeout=30)
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (POST /v1/embeddings)"
