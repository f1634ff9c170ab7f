"""Request validation: what is accepted, what is ignored, and the 400s with `param` and `code`."""

import json

import pytest

from openai_bridge.apis.chat.request import parse_chat_request
from openai_bridge.errors import OpenAIError
from openai_bridge.wire.body import DIFY_BODY_LIMIT

USER = [{"role": "user", "content": "hi"}]


def parse(body):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_chat_request(raw, len(raw))


def rejects(body, status=400, param=None, code=None):
    with pytest.raises(OpenAIError) as info:
        parse(body)
    err = info.value
    assert err.status == status
    if param is not None:
        assert err.param == param
    if code is not None:
        assert err.code == code
    return err


def test_accepts_what_clients_send():
    req = parse({
        "model": "x", "stream": True, "stream_options": {"include_usage": True}, "temperature": 0.2,
        "top_p": 1, "max_tokens": 5, "max_completion_tokens": 5, "presence_penalty": 0, "logit_bias": {},
        "seed": 1, "metadata": {}, "store": False, "service_tier": "auto", "reasoning_effort": "low",
        "parallel_tool_calls": True, "tools": [{"type": "function", "function": {"name": "f"}}],
        "tool_choice": "auto", "stop": ["a", "b", "c", "d", "e"], "user": {"id": 1}, "n": 1, "logprobs": False,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "really"}]},
            {"role": "user", "content": [{"type": "text", "text": "look"},
                                         {"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
             "cache_control": {"type": "ephemeral"}},
            {"role": "assistant", "content": None, "reasoning_content": "r",
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "result"},
            {"role": "user", "content": "and now?"},
        ],
    })
    assert req.stream and req.stream_options.include_usage and len(req.messages) == 6


@pytest.mark.parametrize(("body", "param", "code"), [
    ({"model": "x", "messages": USER, "n": 2}, "n", "unsupported_value"),
    ({"model": "x", "messages": USER, "logprobs": True}, "logprobs", "unsupported_value"),
    ({"model": "x", "messages": USER, "top_logprobs": 3}, "top_logprobs", "unsupported_value"),
    ({"model": "x", "messages": USER, "modalities": ["text", "audio"]}, "modalities", "unsupported_value"),
    ({"model": "x", "messages": USER, "audio": {"voice": "x"}}, "audio", "unsupported_value"),
    ({"model": "x", "messages": USER, "tool_choice": "required"}, "tool_choice", "unsupported_value"),
    ({"model": "x", "messages": USER, "tool_choice": {"type": "function", "function": {"name": "f"}}},
     "tool_choice", "unsupported_value"),
    ({"model": "x", "messages": []}, "messages", None),
    ({"messages": USER}, "model", "missing_required_parameter"),
    ({"model": 3, "messages": USER}, "model", "invalid_type"),
    ({"model": "x", "messages": USER, "stream": "yes"}, "stream", "invalid_type"),
    ({"model": "x", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role", None),
    ({"model": "x", "messages": [{"role": "user", "content": 5}]}, "messages[0].content", None),
    ({"model": "x", "messages": [{"role": "user", "content": [{"type": "video", "video": {}}]}]},
     "messages[0].content[0]", None),
    ({"model": "x", "messages": [{"role": "system", "content": "only system"}]}, "messages", None),
])
def test_rejections_name_the_param(body, param, code):
    rejects(body, param=param, code=code)


@pytest.mark.parametrize("raw", [b"", b"   ", b"{", b"[1]", b'"str"', b"\xff\xfe{}", b"[" * 100000])
def test_malformed_bodies(raw):
    err = rejects(raw)
    assert err.code == "invalid_json"


def test_cut_body_is_413():
    raw = b'{"model": "x", "messages": [{"role": "user", "content": "' + b"a" * DIFY_BODY_LIMIT
    raw = raw[:DIFY_BODY_LIMIT]
    with pytest.raises(OpenAIError) as info:
        parse_chat_request(raw, len(raw))
    assert info.value.status == 413
    with pytest.raises(OpenAIError) as info:
        parse_chat_request(b'{"model": "x", "mess', 12345)
    assert info.value.status == 413
