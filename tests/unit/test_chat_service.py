"""The whole request path in-process: handle() with a scripted Dify."""

import json

from openai_bridge.dify.form import AppFormCache
from openai_bridge.http.messages import IncomingRequest
from openai_bridge.http.server import handle
from openai_bridge.run.timing import Timing

from .fakes import SETTINGS, FakeDify, chat_events, post

BODY = {"model": "my-model", "messages": [{"role": "user", "content": "hi"}]}
FAST = Timing(first_event_wait=1.0, keepalive_interval=0.05)


def call(request, dify, settings=SETTINGS, timing=FAST):
    response = handle(request, settings, dify, AppFormCache(), timing)
    body = response.body if isinstance(response.body, bytes) else b"".join(response.body)
    return response, body


def sse_events(body: bytes):
    lines = [line for line in body.decode().split("\n\n") if line]
    return lines


def test_non_streaming_completion():
    dify = FakeDify(chat_events("Hel", "lo"))
    response, body = call(post("/v1/chat/completions", BODY), dify)
    assert response.status == 200 and response.headers["Content-Type"] == "application/json"
    data = json.loads(body)
    assert data["object"] == "chat.completion" and data["model"] == "my-model"
    assert data["id"] == "chatcmpl-m-1" and data["created"] == 1700000000
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "Hello", "refusal": None,
                                               "annotations": []}
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    assert response.headers["x-request-id"].startswith("req_")
    assert dify.calls[0]["query"] == "hi"


def test_streaming_sequence():
    dify = FakeDify(chat_events("Hel", "lo"))
    response, body = call(post("/chat/completions", {**BODY, "stream": True,
                                                     "stream_options": {"include_usage": True}}), dify)
    assert response.headers["Content-Type"].startswith("text/event-stream")
    frames = sse_events(body)
    assert frames[-1] == "data: [DONE]" and sum(f == "data: [DONE]" for f in frames) == 1
    chunks = [json.loads(f[6:]) for f in frames[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:3]] == ["Hel", "lo"]
    assert chunks[3]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert chunks[4]["choices"] == [] and chunks[4]["usage"]["total_tokens"] == 8
    assert all(c["usage"] is None for c in chunks[:4])
    assert len({(c["id"], c["created"], c["model"]) for c in chunks}) == 1


def test_error_before_first_event_is_http_error():
    dify = FakeDify(fail='request failed with status code: 429 and respond with: {"code": "too_many_requests"}')
    response, body = call(post("/chat/completions", {**BODY, "stream": True}), dify)
    assert response.status == 429 and json.loads(body)["error"]["code"] == "rate_limit_exceeded"


def test_error_event_first_is_http_error():
    dify = FakeDify([{"event": "error", "code": "provider_quota_exceeded", "message": "quota", "status": 400}])
    response, _ = call(post("/chat/completions", {**BODY, "stream": True}), dify)
    assert response.status == 429


def test_mid_stream_error_then_done():
    dify = FakeDify(chat_events("partial")[:1] + [{"event": "error", "code": "completion_request_error",
                                                   "message": "LLM died", "status": 400}])
    response, body = call(post("/chat/completions", {**BODY, "stream": True}), dify)
    frames = sse_events(body)
    assert response.status == 200
    assert json.loads(frames[-2][6:])["error"]["message"].endswith("LLM died")
    assert frames[-1] == "data: [DONE]"


def test_broken_stream_mid_way():
    dify = FakeDify(chat_events("partial")[:1], fail_after="connection reset")
    _, body = call(post("/chat/completions", {**BODY, "stream": True}), dify)
    assert '"error"' in sse_events(body)[-2]


def test_non_streaming_failure_mid_way_is_an_error_status():
    dify = FakeDify(chat_events("partial")[:1] + [{"event": "error", "code": "x", "message": "bad"}])
    response, body = call(post("/chat/completions", BODY), dify)
    assert response.status == 502 and response.headers["x-should-retry"] == "false"


def test_keepalive_while_silent():
    dify = FakeDify(chat_events("a"), delay=0.12)
    _, body = call(post("/chat/completions", {**BODY, "stream": True}), dify,
                   timing=Timing(first_event_wait=0.05, keepalive_interval=0.05))
    assert b": keep-alive\n\n" in body
    assert b"data: [DONE]" in body


def test_stop_sequence_cuts_and_stops_reading():
    dify = FakeDify(chat_events("one two ", "STOP three"))
    response, body = call(post("/chat/completions", {**BODY, "stop": "STOP"}), dify)
    assert json.loads(body)["choices"][0]["message"]["content"] == "one two "
    assert dify.closed


def test_think_split_in_both_modes():
    events = chat_events("<think>pondering</think>", "Answer")
    _, body = call(post("/chat/completions", BODY), FakeDify(events))
    message = json.loads(body)["choices"][0]["message"]
    assert message["content"] == "Answer" and message["reasoning_content"] == "pondering"
    _, body = call(post("/chat/completions", {**BODY, "stream": True}), FakeDify(events))
    deltas = [json.loads(f[6:])["choices"][0]["delta"] for f in sse_events(body)[:-1]]
    assert {"reasoning_content": "pondering"} in deltas and {"content": "Answer"} in deltas
    assert all(d.get("reasoning_content") != "" for d in deltas)


def test_auth():
    dify = FakeDify(chat_events("x"))
    for request in (post("/chat/completions", BODY, key="wrong"),
                    IncomingRequest("POST", "/chat/completions", {}, json.dumps(BODY).encode())):
        response, body = call(request, dify)
        assert response.status == 401 and json.loads(body)["error"]["code"] == "invalid_api_key"
    for header in ("api-key", "x-api-key"):
        request = IncomingRequest("POST", "/chat/completions", {header: "sk-test"}, json.dumps(BODY).encode())
        assert call(request, dify)[0].status == 200
    response, _ = call(post("/chat/completions", BODY), dify, settings={**SETTINGS, "api_key": ""})
    assert response.status == 401
    assert not any("sk-test" in c["query"] for c in dify.calls)


def test_models():
    request = IncomingRequest("GET", "/v1/models", {"authorization": "Bearer sk-test"})
    response, body = call(request, FakeDify())
    assert json.loads(body)["data"][0]["id"] == "dify-app"
    request = IncomingRequest("GET", "/v1/models/other", {"authorization": "Bearer sk-test"})
    assert call(request, FakeDify())[0].status == 404


def test_unknown_route_and_method():
    response, body = call(IncomingRequest("POST", "/v1/embeddings", {"authorization": "Bearer sk-test"}), FakeDify())
    assert response.status == 404 and json.loads(body)["error"]["message"] == "Invalid URL (POST /v1/embeddings)"
    response, _ = call(IncomingRequest("GET", "/v1/chat/completions", {}), FakeDify())
    assert response.status == 405


def test_unexpected_exception_is_a_clean_500(monkeypatch):
    def explode(*args):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("openai_bridge.run.start.plan_chat_call", explode)
    response, body = call(post("/chat/completions", BODY), FakeDify())
    assert response.status == 500 and b"secret internals" not in body
    assert json.loads(body)["error"]["type"] == "server_error"


def test_dify_exception_text_is_forwarded_as_upstream_error():
    response, body = call(post("/chat/completions", BODY), FakeDify(fail="Dify exploded"))
    assert response.status == 502 and "Dify exploded" in json.loads(body)["error"]["message"]
