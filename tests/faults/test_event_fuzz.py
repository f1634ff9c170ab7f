"""Property: whatever Dify streams (missing fields, wrong types, non-dict chunks, a broken stream, no end), the
client gets a well-formed answer: a complete stream ending in one [DONE], or a completion, or an error envelope.

In-process (the FakeDify of the unit tests); `FUZZ_EXAMPLES` scales the budget with the request fuzzing.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletionChunk
from werkzeug import Response

from openai_bridge.dify.form import AppFormCache
from openai_bridge.http.server import handle
from openai_bridge.run.timing import Timing
from tests.fuzz.harness import budget
from tests.fuzz.oracle import check_envelope, check_stream
from tests.unit.fakes import FakeDify, post

EXAMPLES = max(50, budget("FUZZ_EXAMPLES", 300) // 5)
UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"
NAMES = ["message", "agent_message", "message_replace", "message_file", "message_end", "agent_thought",
         "reasoning_chunk", "text_chunk", "workflow_started", "workflow_finished", "node_finished", "error",
         "human_input_required", "workflow_paused", "ping", "tts_message", "", None, 7]
junk = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=8)
maybe = lambda strategy: st.one_of(strategy, strategy, junk)  # noqa: E731
text = st.one_of(st.text(max_size=30), st.sampled_from(["<think>", "</think>", "a<think>b</think>c", "\n", ""]))

event = st.one_of(
    st.fixed_dictionaries(
        {"event": st.sampled_from(NAMES)},
        optional={
            "answer": maybe(text),
            "conversation_id": maybe(st.sampled_from([UUID, UUID + "\n", UUID + "\r\nX-Evil: 1", "", "not-a-uuid"])),
            "message_id": maybe(st.text(max_size=10)),
            "workflow_run_id": maybe(st.text(max_size=10)),
            "created_at": maybe(st.integers(-5, 2**40)),
            "metadata": maybe(st.fixed_dictionaries({}, optional={"usage": maybe(st.fixed_dictionaries(
                {}, optional={"prompt_tokens": maybe(st.integers(-3, 10**6)),
                              "completion_tokens": maybe(st.integers(-3, 10**6)),
                              "total_tokens": maybe(st.integers(-3, 10**6))}))})),
            "data": maybe(st.fixed_dictionaries({}, optional={
                "text": maybe(text), "reasoning": maybe(text), "status": maybe(st.sampled_from(
                    ["succeeded", "failed", "stopped", "partial-succeeded"])),
                "outputs": maybe(st.dictionaries(st.sampled_from(["answer", "text", "x"]), junk, max_size=2)),
                "error": junk, "total_tokens": maybe(st.integers(-1, 100))})),
            "files": maybe(st.lists(maybe(st.fixed_dictionaries({}, optional={
                "url": maybe(st.sampled_from(["https://x/y.png", ""])), "type": maybe(st.just("image")),
                "id": junk})), max_size=2)),
            "tool": maybe(st.text(max_size=8)), "tool_input": junk, "observation": junk, "id": junk,
            "belongs_to": maybe(st.sampled_from(["user", "assistant"])),
            "code": maybe(st.sampled_from(["invalid_param", "too_many_requests", "x"])), "status": junk,
            "message": junk,
        }),
    junk,  # not a dict at all
)


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(events=st.lists(event, max_size=12), fail_after=st.one_of(st.none(), st.sampled_from([
    "read app failed: context canceled", "Failed to parse response: boom",
    'request failed with status code: 429 and respond with: {"code": "too_many_requests", "message": "slow down"}'])),
    stream=st.booleans(), include_usage=st.booleans(), stop=st.sampled_from([None, "b", ["</think>", "zz"]]))
def test_any_event_stream_gives_a_well_formed_answer(events: list[Any], fail_after, stream, include_usage, stop):
    body = {"model": "m", "stream": stream, "messages": [{"role": "user", "content": "q"}],
            "stream_options": {"include_usage": include_usage}, "stop": stop}
    dify = FakeDify(events=events, fail_after=fail_after)
    response = handle(post("/v1/chat/completions", body), {"api_key": "sk-test", "app_id": "app-1",
                                                           "memory_mode": "conversation"},
                      dify, AppFormCache(), Timing(first_event_wait=5, keepalive_interval=10))
    for name, value in response.headers.items():
        assert "\n" not in value and "\r" not in value, (name, value)
    Response(response.body, status=response.status, headers=response.headers)  # what the plugin glue builds
    payload = response.body if isinstance(response.body, bytes) else b"".join(response.body)
    assert dify.closed, "Dify's stream was left open"
    if response.status >= 400:
        assert not response.headers["Content-Type"].startswith("text/event-stream")
        check_envelope(response.status, payload)
        return
    assert response.status == 200
    if not stream:
        data = json.loads(payload)
        assert data["object"] == "chat.completion" and data["choices"][0]["finish_reason"]
        return
    check_stream_or_error(payload)


def check_stream_or_error(payload: bytes) -> None:
    """A 200 stream: chunks and one [DONE]; a failure after the start is one error chunk right before [DONE]."""
    frames = [frame for frame in payload.decode().split("\n\n") if frame and not frame.startswith(":")]
    assert frames[-1] == "data: [DONE]" and frames.count("data: [DONE]") == 1
    last = json.loads(frames[-2][len("data: "):])
    if "error" not in last:
        check_stream("/chat/completions", 200, payload)
        return
    check_envelope(502, json.dumps(last).encode())
    chunks = [ChatCompletionChunk.model_validate(json.loads(frame[len("data: "):])) for frame in frames[:-2]]
    assert chunks and chunks[0].choices[0].delta.role == "assistant"
    assert not any(c.choices and c.choices[0].finish_reason for c in chunks), "an error after the finish chunk"
