"""What OpenAI clients rely on beyond the answer: framing, headers, routes, auth, validation, settings."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from .conftest import API_KEY, scenario

pytestmark = pytest.mark.both_adapters

AUTH = {"Authorization": f"Bearer {API_KEY}"}
MESSAGES = [{"role": "user", "content": "frame me"}]


def post(emu, path, body, headers=AUTH, **kwargs):
    return httpx.post(f"{emu.base_url}{path}", headers=headers, json=body, timeout=30, **kwargs)


def test_stream_framing_is_only_data_lines(emu):
    with httpx.stream("POST", f"{emu.base_url}/v1/chat/completions", headers={**AUTH, "Accept": "application/json"},
                      json={"model": "m", "messages": MESSAGES, "stream": True}, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["x-request-id"].startswith("req_")
        raw = response.read().decode()
    blocks = [b for b in raw.split("\n\n") if b]
    assert all(b.startswith("data: ") for b in blocks)
    assert not any(line.startswith(("event:", "id:", "retry:")) for line in raw.splitlines())
    assert raw.count("data: [DONE]") == 1 and raw.endswith("data: [DONE]\n\n")
    chunks = [json.loads(b[6:]) for b in blocks[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["choices"][0]["index"] == 0 for c in chunks)
    assert all(b[6:] == json.dumps(json.loads(b[6:]), separators=(",", ":"), ensure_ascii=False)
               for b in blocks[:-1])  # compact JSON
    assert "usage" not in chunks[0]  # only with stream_options.include_usage


def test_routes_with_and_without_v1_and_trailing_slash(emu):
    for path in ("/chat/completions", "/v1/chat/completions", "/v1/chat/completions/"):
        assert post(emu, path, {"model": "m", "messages": MESSAGES}).status_code == 200
    for path in ("/models", "/v1/models", "/v1/models/"):
        response = httpx.get(f"{emu.base_url}{path}", headers=AUTH, timeout=30)
        assert response.status_code == 200 and response.json()["object"] == "list"


def test_models_list_and_retrieve(emu, client):
    models = client.models.list()
    assert [m.id for m in models.data] == ["dify-app"]
    assert client.models.retrieve("dify-app").owned_by == "dify"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")
    emu.load_scenario(scenario(model_name="support-bot"))
    assert [m.id for m in client.models.list().data] == ["support-bot"]
    reply = client.chat.completions.create(model="whatever-name", messages=MESSAGES)
    assert reply.model == "whatever-name"


def test_models_need_the_key(emu):
    response = httpx.get(f"{emu.base_url}/v1/models", timeout=30)
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("header", ["api-key", "x-api-key"])
def test_alternative_key_headers(emu, header):
    assert post(emu, "/v1/chat/completions", {"model": "m", "messages": MESSAGES},
                headers={header: API_KEY}).status_code == 200


def test_unknown_route_and_wrong_method(emu):
    response = httpx.get(f"{emu.base_url}/v1/chat/completions", headers=AUTH, timeout=30)
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    for method in ("PUT", "DELETE"):
        response = httpx.request(method, f"{emu.base_url}/v1/models", headers=AUTH, timeout=30)
        assert response.status_code == 405
    response = httpx.get(f"{emu.base_url}/", headers=AUTH, timeout=30)
    assert response.status_code == 404 and response.json()["error"]["message"] == "Invalid URL (GET /)"


def test_cors_closed_by_default_and_configurable(emu):
    preflight = {"Origin": "https://chat.example.com", "Access-Control-Request-Method": "POST"}
    response = httpx.options(f"{emu.base_url}/v1/chat/completions", headers=preflight, timeout=30)
    assert response.status_code == 204 and "access-control-allow-origin" not in response.headers
    emu.load_scenario(scenario(cors_allow_origins="https://chat.example.com, https://other.example"))
    response = httpx.options(f"{emu.base_url}/v1/chat/completions", headers=preflight, timeout=30)
    assert response.headers["access-control-allow-origin"] == "https://chat.example.com"
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    response = post(emu, "/v1/chat/completions", {"model": "m", "messages": MESSAGES},
                    headers={**AUTH, "Origin": "https://chat.example.com"})
    assert response.headers["access-control-allow-origin"] == "https://chat.example.com"
    response = post(emu, "/v1/chat/completions", {"model": "m", "messages": MESSAGES},
                    headers={**AUTH, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "m", "messages": MESSAGES, "n": 3}, "n"),
    ({"model": "m", "messages": MESSAGES, "logprobs": True}, "logprobs"),
    ({"model": "m", "messages": MESSAGES, "tool_choice": "required"}, "tool_choice"),
    ({"model": "m", "messages": []}, "messages"),
    ({"model": "m", "messages": MESSAGES, "stream": "true"}, "stream"),
    ({"model": "m", "messages": [{"role": "user", "content": {"bad": 1}}]}, "messages[0].content"),
])
def test_bad_requests_name_the_param(emu, body, param):
    response = post(emu, "/v1/chat/completions", body)
    assert response.status_code == 400 and response.json()["error"]["param"] == param
    assert not [r for r in emu.records if r["type"] == "app"]


def test_malformed_json(emu):
    response = httpx.post(f"{emu.base_url}/v1/chat/completions", headers=AUTH, content=b"{not json", timeout=30)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


def test_body_cut_by_difys_10_mb_limit_is_413(emu):
    huge = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * (11 * 1024 * 1024)}]})
    response = httpx.post(f"{emu.base_url}/v1/chat/completions", headers=AUTH, content=huge, timeout=60)
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"


def test_history_with_tools_and_odd_fields_is_accepted(emu, client):
    reply = client.chat.completions.create(model="m", user="u-1", temperature=0.1, max_tokens=10, messages=[
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "call a tool"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\": 1}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        {"role": "user", "content": [{"type": "text", "text": "thanks"}]},
    ], tools=[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        extra_body={"reasoning_content": None, "metadata": {"a": "b"}})
    assert reply.choices[0].message.content.endswith("thanks")


def test_stop_sequence(emu, client):
    reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "alpha beta gamma"}],
                                           stop=["gam"])
    assert reply.choices[0].message.content == "alpha beta "


def test_open_webui_style_non_string_user(emu):
    body = {"model": "m", "messages": MESSAGES, "user": {"name": "Ann", "id": "u1", "email": "a@x", "role": "user"}}
    assert post(emu, "/v1/chat/completions", body).status_code == 200


def test_cherry_studio_check(emu, client):
    reply = client.chat.completions.create(model="m", messages=[{"role": "system", "content": "test"},
                                                                {"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content.strip()
