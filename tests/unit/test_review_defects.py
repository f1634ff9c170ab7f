"""The defects an outside review found against `make run` (issue #11), each pinned by a test that failed before it.

In-process: handle() with a scripted Dify. The same behaviour through the plugin process is in tests/e2e.
"""

from __future__ import annotations

import gc
import json
import threading
import time

import pytest

from openai_bridge.apis.rules import MAX_STOP_SEQUENCES
from openai_bridge.dify.form import AppFormCache
from openai_bridge.http.messages import MAX_CHUNK_BYTES, HttpResponse, IncomingRequest
from openai_bridge.http.server import handle
from openai_bridge.run.timing import Timing

from .fakes import SETTINGS, FakeDify, chat_events, post

FAST = Timing(first_event_wait=1.0, keepalive_interval=0.05)
ORIGIN = "https://chat.example.com"
CORS = {**SETTINGS, "cors_allow_origins": ORIGIN}
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def call(request, dify, settings=SETTINGS, timing=FAST):
    response = handle(request, settings, dify, AppFormCache(), timing)
    body = response.body if isinstance(response.body, bytes) else b"".join(response.body)
    return response, body


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def test_1_a_client_input_named_like_a_chat_message_is_a_400_on_the_responses_api():
    body = {"model": "m", "input": "hi", "inputs": {"messages[99].content": nested(40)}}
    response, raw = call(post("/v1/responses", body), FakeDify(chat_events("x")))
    error = json.loads(raw)["error"]
    assert response.status == 400 and error["param"] == "inputs.messages[99].content"
    assert "inputs.messages[99].content" in error["message"]  # the client's own name, not rewritten


@pytest.mark.parametrize(("case", "settings", "body"), [
    ("a validation error", CORS, {"model": "m", "messages": []}),
    ("an unconfigured endpoint", {**CORS, "app_id": {"app_id": ""}}, CHAT),
    ("a wrong key", CORS, CHAT),
])
def test_2_every_error_carries_the_cors_headers(case, settings, body):
    key = "wrong" if case == "a wrong key" else "sk-test"
    response, _ = call(post("/v1/chat/completions", body, key=key, headers={"Origin": ORIGIN}), FakeDify(),
                       settings)
    assert response.status >= 400
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "x-request-id" in response.headers["Access-Control-Expose-Headers"]


def test_2_an_unexpected_failure_carries_them_too(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("openai_bridge.http.server.chat_completions", broken)
    response, raw = call(post("/v1/chat/completions", CHAT, headers={"Origin": ORIGIN}), FakeDify(), CORS)
    assert response.status == 500 and json.loads(raw)["error"]["code"] == "internal_error"
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_5_a_multi_megabyte_whole_answer_leaves_in_chunks():
    answer = "x" * (3 * 1024 * 1024)
    response = handle(post("/v1/chat/completions", CHAT), SETTINGS, FakeDify(chat_events(answer)), AppFormCache(),
                      FAST)
    assert not isinstance(response.body, bytes | list)  # a generator: the SDK sends those chunk by chunk
    pieces = list(response.body)
    assert len(pieces) > 40 and max(len(p) for p in pieces) <= MAX_CHUNK_BYTES
    assert json.loads(b"".join(pieces))["choices"][0]["message"]["content"] == answer
    small = HttpResponse.json({"ok": True})
    assert isinstance(small.body, bytes)


def test_6_legacy_completions_keep_no_thread_memory():
    dify = FakeDify(chat_events("x"))
    conv = {**SETTINGS, "memory_mode": "conversation"}
    for prompt in ("one", "two", "three"):
        response, _ = call(post("/v1/completions", {"model": "m", "prompt": prompt}), dify, conv)
        assert response.status == 200
    assert dify.storage == {}


@pytest.mark.parametrize("stream", [False, True])
def test_6_a_moderated_answer_still_continues_its_thread(stream):
    env = {"conversation_id": "c0ffee00-0000-4000-8000-000000000001", "message_id": "m-1", "created_at": 1,
           "task_id": "t"}
    replaced = [{"event": "message", "answer": "something bad", **env},
                {"event": "message_replace", "answer": "I can't answer that.", **env},
                {"event": "message_end", **env, "metadata": {"usage": {"prompt_tokens": 2, "completion_tokens": 3}}}]
    dify = FakeDify(replaced)
    conv = {**SETTINGS, "memory_mode": "conversation"}
    _, raw = call(post("/v1/chat/completions", {**CHAT, "stream": stream}), dify, conv)
    if stream:
        deltas = [json.loads(line[6:]) for line in raw.decode().split("\n\n") if line.startswith("data: {")]
        held = "".join(d["choices"][0]["delta"].get("content", "") for d in deltas if d["choices"])
        assert held == "something bad\n\nI can't answer that."
        assert deltas[-1]["choices"][0]["finish_reason"] == "content_filter"
    else:
        held = json.loads(raw)["choices"][0]["message"]["content"]
        assert held == "I can't answer that."
    dify.events = chat_events("next")
    history = [CHAT["messages"][0], {"role": "assistant", "content": held}, {"role": "user", "content": "more"}]
    call(post("/v1/chat/completions", {"model": "m", "messages": history}), dify, conv)
    assert dify.calls[1]["conversation_id"] == env["conversation_id"] and dify.calls[1]["query"] == "more"


def pump_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("Thread") and t.daemon and t.is_alive()]


def test_6_a_stream_whose_body_is_never_read_stops_reading_dify():
    long_answer = chat_events(*["word "] * 2000)
    dify = FakeDify(long_answer, delay=0.001)
    before = set(pump_threads())
    response = handle(post("/v1/chat/completions", {**CHAT, "stream": True}), SETTINGS, dify, AppFormCache(), FAST)
    assert response.status == 200
    del response  # the body was never started: nothing else holds the run
    gc.collect()
    deadline = time.monotonic() + 10
    while set(pump_threads()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(pump_threads()) - before
    assert dify.closed  # Dify's stream was closed, not read to its end for nobody


def test_6_stop_takes_a_bounded_number_of_sequences():
    too_many = [f"s{i}" for i in range(MAX_STOP_SEQUENCES + 1)]
    response, raw = call(post("/v1/chat/completions", {**CHAT, "stop": too_many}), FakeDify(chat_events("x")))
    assert response.status == 400 and json.loads(raw)["error"]["param"] == "stop"
    response, _ = call(post("/v1/completions", {"model": "m", "prompt": "x", "stop": too_many}),
                       FakeDify(chat_events("x")))
    assert response.status == 400
    fine, _ = call(post("/v1/chat/completions", {**CHAT, "stop": too_many[:5]}), FakeDify(chat_events("x")))
    assert fine.status == 200  # more than OpenAI's 4: some clients send a few more


def test_6_an_unconfigured_endpoint_is_final_and_says_so_once():
    response, _ = call(post("/v1/chat/completions", CHAT), FakeDify(), {**SETTINGS, "app_id": {"app_id": ""}})
    assert response.status == 503 and response.headers["x-should-retry"] == "false"
    assert "Retry-After" not in response.headers


def test_7_a_stream_that_began_before_dify_spoke_still_names_its_response_and_conversation():
    slow = FakeDify(chat_events("late", " answer"), delay=0.3)
    timing = Timing(first_event_wait=0.05, keepalive_interval=0.1)
    response, raw = call(post("/v1/chat/completions", {**CHAT, "stream": True}), slow, timing=timing)
    frames = [f for f in raw.decode().split("\n\n") if f]
    assert frames[0] == ": keep-alive"  # the stream began while Dify was silent
    first = json.loads(next(f for f in frames if f.startswith("data: {"))[6:])
    assert first["id"] == "chatcmpl-m-1" and first["conversation_id"] == "c0ffee00-0000-4000-8000-000000000001"
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert "X-Dify-Conversation-Id" not in response.headers  # the headers had left before Dify named it


def test_7_the_responses_stream_waits_for_its_id_too():
    slow = FakeDify(chat_events("late"), delay=0.3)
    timing = Timing(first_event_wait=0.05, keepalive_interval=0.1)
    _, raw = call(post("/v1/responses", {"model": "m", "input": "hi", "stream": True}), slow, timing=timing)
    frames = [f for f in raw.decode().split("\n\n") if f]
    assert frames[0] == ": keep-alive"
    created = json.loads(next(f for f in frames if f.startswith("event: response.created")).split("data: ")[1])
    assert created["response"]["id"] == "resp_m-1"


def test_8_the_file_refusal_reads_right():
    dify = FakeDify(parameters={"user_input_form": []})
    image = {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}
    _, raw = call(post("/v1/chat/completions", {"model": "m", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "x"}, image]}]}), dify)
    message = json.loads(raw)["error"]["message"]
    assert "it has no file or file-list input variable" in message and "no a " not in message


@pytest.mark.parametrize(("body", "events", "fail"), [
    ({**CHAT, "n": 2}, [], None),  # the client's request: the same one fails again
    (CHAT, [], "invoke app failed: request failed with status code: 400 and respond with: "
               '{"code": "provider_quota_exceeded", "message": "no credits", "status": 400}'),
    (CHAT, [*chat_events("partial")[:1], {"event": "error", "code": "invalid_param", "message": "bad", "status": 400}],
     None),  # a mid-run refusal of a whole answer: the app already ran once
])
def test_9_errors_a_retry_cannot_fix_say_so(body, events, fail):
    response, _ = call(post("/v1/chat/completions", body), FakeDify(events, fail=fail))
    assert response.status >= 400 and response.headers["x-should-retry"] == "false"


def test_9_a_rate_limit_invites_the_retry():
    fail = ("invoke app failed: request failed with status code: 429 and respond with: "
            '{"code": "too_many_requests", "message": "slow down", "status": 429}')
    response, _ = call(post("/v1/chat/completions", CHAT), FakeDify(fail=fail))
    assert response.status == 429 and response.headers["Retry-After"] == "20"
    assert "x-should-retry" not in response.headers


def test_memory_is_saved_before_the_final_frame_leaves():
    # A client may send its next turn the moment it reads [DONE]: the turn must be remembered by then.
    dify = FakeDify(chat_events("a", "b"))
    conv = {**SETTINGS, "memory_mode": "conversation"}
    response = handle(post("/v1/chat/completions", {**CHAT, "stream": True}), conv, dify, AppFormCache(), FAST)
    for chunk in response.body:
        if b"[DONE]" in chunk:
            assert dify.storage, "the final frame left before the turn was remembered"
            break
    else:
        pytest.fail("no [DONE]")


def test_drop_mode_drops_the_models_reasoning_but_not_the_agents_steps():
    env = {"conversation_id": "c0ffee00-0000-4000-8000-000000000001", "message_id": "m-1", "created_at": 1,
           "task_id": "t"}
    events = [{"event": "agent_thought", "id": "th", "thought": "look it up", "tool": "search", "tool_input": "{}",
               "observation": "", **env},
              {"event": "agent_thought", "id": "th", "thought": "look it up", "tool": "search", "tool_input": "{}",
               "observation": "found", **env},
              {"event": "agent_message", "answer": "<think>private</think>Done", **env},
              {"event": "message_end", **env}]
    _, raw = call(post("/v1/chat/completions", CHAT), FakeDify(events), {**SETTINGS, "reasoning_mode": "drop"})
    message = json.loads(raw)["choices"][0]["message"]
    assert message["content"] == "Done"
    assert "Calling tool search" in message["reasoning_content"] and "private" not in message["reasoning_content"]


def test_a_malformed_conversation_id_is_not_repeated_back():
    # Found by fuzzing every API: a header value (a key pasted in the wrong place) came back in the message.
    response, raw = call(post("/v1/chat/completions", CHAT, headers={"X-Dify-Conversation-Id": "sk-test"}),
                         FakeDify(chat_events("x")))
    error = json.loads(raw)["error"]
    assert response.status == 400 and error["code"] == "invalid_conversation_id" and "sk-test" not in raw.decode()


def test_a_model_name_with_a_slash_can_be_retrieved():
    # Found by fuzzing /models: a listed name holding "/" answered 404 unknown_url when retrieved.
    settings = {**SETTINGS, "model_name": "org/dify app"}
    listed, raw = call(IncomingRequest("GET", "/v1/models", {"authorization": "Bearer sk-test"}), FakeDify(), settings)
    assert [m["id"] for m in json.loads(raw)["data"]] == ["org/dify-app"]
    one, raw = call(IncomingRequest("GET", "/v1/models/org/dify-app", {"authorization": "Bearer sk-test"}),
                    FakeDify(), settings)
    assert one.status == 200 and json.loads(raw)["id"] == "org/dify-app"
