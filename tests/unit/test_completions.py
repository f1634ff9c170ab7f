"""Legacy Completions in-process: handle() with a scripted Dify, checked against the official SDK's model."""

from __future__ import annotations

import json

import pytest
from openai.types import Completion

from .fakes import FakeDify, chat_events, post
from .test_chat_service import call, sse_events

BODY = {"model": "my-model", "prompt": "Say hi"}


def complete(body, dify):
    response, raw = call(post("/v1/completions", body), dify)
    return response, json.loads(raw)


def chunks(body, dify):
    response, raw = call(post("/completions", {**body, "stream": True}), dify)
    frames = [f for f in sse_events(raw) if not f.startswith(":")]
    assert frames[-1] == "data: [DONE]" and sum(f == "data: [DONE]" for f in frames) == 1
    return response, [json.loads(f.removeprefix("data: ")) for f in frames[:-1]]


def test_non_streaming_text_completion():
    dify = FakeDify(chat_events("<think>hmm</think>Hel", "lo"))
    response, data = complete(BODY, dify)
    assert response.status == 200 and dify.calls[0]["query"] == "Say hi"
    parsed = Completion.model_validate(data)
    assert parsed.id == "cmpl-m-1" and parsed.object == "text_completion" and parsed.model == "my-model"
    assert data["choices"] == [{"text": "Hello", "index": 0, "logprobs": None, "finish_reason": "stop"}]
    assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    assert data["created"] == 1700000000


def test_streamed_chunks_have_the_same_shape():
    response, data = chunks({**BODY, "stream_options": {"include_usage": True}}, FakeDify(chat_events("Hel", "lo")))
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    for chunk in data:
        Completion.model_validate({**chunk, "choices": [{**c, "finish_reason": c["finish_reason"] or "stop"}
                                                        for c in chunk["choices"]]})
    assert [c["choices"][0]["text"] for c in data[:2]] == ["Hel", "lo"]
    assert data[2]["choices"][0] == {"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}
    assert data[3]["choices"] == [] and data[3]["usage"]["total_tokens"] == 8
    assert all(c["usage"] is None for c in data[:3])
    assert {(c["id"], c["object"], c["created"], c["model"]) for c in data} == \
        {("cmpl-m-1", "text_completion", 1700000000, "my-model")}


def test_stream_without_usage_has_no_usage_field():
    _, data = chunks(BODY, FakeDify(chat_events("a")))
    assert all("usage" not in c for c in data) and data[-1]["choices"][0]["finish_reason"] == "stop"


def test_prompt_as_a_list_of_one_string():
    dify = FakeDify(chat_events("a"))
    response, _ = complete({**BODY, "prompt": ["one prompt"]}, dify)
    assert response.status == 200 and dify.calls[0]["query"] == "one prompt"


def test_stop_is_honoured():
    dify = FakeDify(chat_events("one two ", "STOP three"))
    _, data = complete({**BODY, "stop": ["STOP"]}, dify)
    assert data["choices"][0]["text"] == "one two " and dify.closed


@pytest.mark.parametrize(("extra", "param"), [
    ({"prompt": ["a", "b"]}, "prompt"),
    ({"prompt": [1, 2, 3]}, "prompt"),
    ({"prompt": [[1, 2]]}, "prompt"),
    ({"prompt": "  "}, "prompt"),
    ({"suffix": "end"}, "suffix"),
    ({"echo": True}, "echo"),
    ({"best_of": 2}, "best_of"),
    ({"logprobs": 1}, "logprobs"),
    ({"n": 2}, "n"),
    ({"prompt": None}, "prompt"),
])
def test_unsupported_options_are_400s_naming_the_param(extra, param):
    dify = FakeDify(chat_events("a"))
    response, data = complete({**BODY, **extra}, dify)
    assert response.status == 400 and data["error"]["param"] == param, data
    assert not dify.calls


def test_harmless_options_are_accepted():
    response, _ = complete({**BODY, "echo": False, "suffix": None, "best_of": 1, "logprobs": None, "n": 1,
                            "temperature": 0, "max_tokens": 5}, FakeDify(chat_events("a")))
    assert response.status == 200


def test_error_before_the_run_is_an_http_error():
    dify = FakeDify(fail='request failed with status code: 400 and respond with: {"code": "invalid_param", '
                         '"message": "Model is not configured", "status": 400}')
    response, data = complete({**BODY, "stream": True}, dify)
    assert response.status == 400 and "Model is not configured" in data["error"]["message"]


def test_error_mid_stream_then_done():
    dify = FakeDify(chat_events("partial")[:1] + [{"event": "error", "code": "completion_request_error",
                                                   "message": "LLM died", "status": 400}])
    _, data = chunks(BODY, dify)
    assert data[0]["choices"][0]["text"] == "partial" and data[-1]["error"]["message"].endswith("LLM died")


def test_error_mid_run_without_streaming_is_an_error_status():
    dify = FakeDify(chat_events("partial")[:1] + [{"event": "error", "code": "x", "message": "bad"}])
    response, _ = complete(BODY, dify)
    assert response.status == 502
