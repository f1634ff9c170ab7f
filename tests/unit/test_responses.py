"""The Responses API in-process: handle() with a scripted Dify, checked against the official SDK's models."""

from __future__ import annotations

import base64
import json

import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from openai_bridge.dify.form import AppFormCache
from openai_bridge.http.messages import IncomingRequest
from openai_bridge.http.server import handle
from openai_bridge.run.timing import Timing

from .fakes import SETTINGS, FakeDify, chat_events, post

FAST = Timing(first_event_wait=1.0, keepalive_interval=0.05)
CONVERSATION = "c0ffee00-0000-4000-8000-000000000001"
EVENTS = TypeAdapter(ResponseStreamEvent)
BODY = {"model": "my-model", "input": "hi"}


def call(request, dify, settings=SETTINGS, timing=FAST):
    response = handle(request, settings, dify, AppFormCache(), timing)
    body = response.body if isinstance(response.body, bytes) else b"".join(response.body)
    return response, body


def create(body, dify, **kwargs):
    response, raw = call(post("/v1/responses", body), dify, **kwargs)
    return response, json.loads(raw) if raw else None


def stream_events(body: bytes) -> list[dict]:
    """Each frame's `event:` line must name the type its data carries; keep-alive comments are skipped."""
    events = []
    for frame in body.decode().split("\n\n"):
        if not frame or frame.startswith(":"):
            continue
        name, data = frame.split("\n")
        event = json.loads(data.removeprefix("data: "))
        assert name == f"event: {event['type']}"
        EVENTS.validate_python(event)
        events.append(event)
    return events


def stream(body, dify, **kwargs):
    response, raw = call(post("/responses", {**body, "stream": True}), dify, **kwargs)
    return response, stream_events(raw)


def test_non_streaming_response_parses_with_the_sdk_model():
    dify = FakeDify(chat_events("<think>pondering</think>Hel", "lo"))
    response, data = create({**BODY, "instructions": "Be brief.", "metadata": {"k": "v"}}, dify)
    assert response.status == 200 and response.headers["X-Dify-Conversation-Id"] == CONVERSATION
    parsed = Response.model_validate(data)
    assert parsed.output_text == "Hello" and parsed.id == "resp_m-1" and parsed.created_at == 1700000000
    assert parsed.status == "completed" and parsed.model == "my-model" and parsed.instructions == "Be brief."
    assert parsed.metadata == {"k": "v"} and parsed.previous_response_id is None
    reasoning, message = data["output"]
    assert reasoning["type"] == "reasoning" and reasoning["summary"] == [{"type": "summary_text", "text": "pondering"}]
    assert message == {"type": "message", "id": message["id"], "status": "completed", "role": "assistant",
                       "content": [{"type": "output_text", "text": "Hello", "annotations": []}]}
    assert message["id"].startswith("msg_") and reasoning["id"].startswith("rs_")
    assert data["usage"] == {"input_tokens": 3, "output_tokens": 5, "total_tokens": 8,
                             "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                             "output_tokens_details": {"reasoning_tokens": 0}}


def test_stream_follows_the_official_event_order():
    response, events = stream(BODY, FakeDify(chat_events("<think>pondering</think>Hel", "lo")))
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["output_index"] for e in events if e["type"] == "response.output_item.added"] == [0, 1]
    assert [e["delta"] for e in events if e["type"] == "response.output_text.delta"] == ["Hel", "lo"]
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    final = Response.model_validate(events[-1]["response"])
    assert final.output_text == "Hello" and final.usage.total_tokens == 8
    assert {e["response"]["id"] for e in events if "response" in e} == {"resp_m-1"}


def test_an_empty_answer_is_still_one_message():
    _, data = create(BODY, FakeDify(chat_events()))
    assert Response.model_validate(data).output_text == "" and data["output"][0]["type"] == "message"


def test_agent_thinking_between_answers_opens_new_items_in_order():
    env = {"conversation_id": CONVERSATION, "message_id": "m-1", "created_at": 1, "task_id": "t"}
    events = [{"event": "agent_message", "answer": "Let me look. ", **env},
              {"event": "agent_thought", "id": "th", "tool": "search", "tool_input": "{}", "observation": "x", **env},
              {"event": "agent_message", "answer": "Found it.", **env}, {"event": "message_end", **env}]
    _, data = create(BODY, FakeDify(events))
    assert [item["type"] for item in data["output"]] == ["message", "reasoning", "message"]
    assert len({item["id"] for item in data["output"]}) == 3
    assert Response.model_validate(data).output_text == "Let me look. Found it."
    _, streamed = stream(BODY, FakeDify(events))
    assert [item["type"] for item in streamed[-1]["response"]["output"]] == ["message", "reasoning", "message"]


def test_instructions_reach_the_query_or_the_system_prompt_input():
    dify = FakeDify(chat_events("ok"))
    create({**BODY, "instructions": "Be brief."}, dify)
    assert dify.calls[0]["query"] == "[System instructions]\nBe brief.\n\n[User message]\nhi"
    form = {"user_input_form": [{"paragraph": {"variable": "system_prompt", "label": "S", "required": False}}]}
    dify = FakeDify(chat_events("ok"), parameters=form)
    create({**BODY, "instructions": "Be brief."}, dify)
    assert dify.calls[0]["query"] == "hi" and dify.calls[0]["inputs"]["system_prompt"] == "Be brief."


def test_item_history_is_flattened_like_chat_tool_messages():
    items = [
        {"role": "developer", "content": "Be brief."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "It is sunny.", "annotations": []}]},
        {"role": "user", "content": "thanks"},
    ]
    dify = FakeDify(chat_events("ok"))
    response, _ = create({"model": "m", "input": items}, dify, settings={**SETTINGS, "memory_mode": "all_messages"})
    assert response.status == 200
    query = dify.calls[0]["query"]
    assert "System: Be brief." in query and "User: weather?" in query
    assert 'called tool weather with {"city": "Paris"}' in query and "Tool result (c1): sunny" in query
    assert "Assistant: It is sunny." in query and query.endswith("User: thanks")


def test_previous_response_id_continues_the_dify_conversation():
    dify = FakeDify(chat_events("first answer"))
    _, first = create({**BODY, "input": "first"}, dify)
    _, second = create({**BODY, "input": "second", "previous_response_id": first["id"]}, dify)
    assert second["previous_response_id"] == first["id"]
    assert dify.calls[0]["conversation_id"] is None
    assert dify.calls[1]["conversation_id"] == CONVERSATION and dify.calls[1]["query"] == "second"


def test_previous_response_id_works_in_every_memory_mode_and_when_streaming():
    dify = FakeDify(chat_events("a"))
    settings = {**SETTINGS, "memory_mode": "last_user_message"}
    _, events = stream(BODY, dify, settings=settings)
    response_id = events[-1]["response"]["id"]
    create({**BODY, "previous_response_id": response_id}, dify, settings=settings)
    assert dify.calls[1]["conversation_id"] == CONVERSATION


def test_unknown_or_unstored_previous_response_is_a_clear_400():
    dify = FakeDify(chat_events("a"))
    response, data = create({**BODY, "previous_response_id": "resp_nope"}, dify)
    assert response.status == 400 and data["error"]["param"] == "previous_response_id"
    assert data["error"]["code"] == "previous_response_not_found" and "resp_nope" in data["error"]["message"]
    _, unstored = create({**BODY, "store": False}, dify)
    response, data = create({**BODY, "previous_response_id": unstored["id"]}, dify)
    assert response.status == 400 and not dify.calls[1:]


def test_previous_response_id_and_conversation_id_together_are_refused():
    dify = FakeDify(chat_events("a"))
    _, first = create(BODY, dify)
    response, data = create({**BODY, "previous_response_id": first["id"], "conversation_id": CONVERSATION}, dify)
    assert response.status == 400 and data["error"]["param"] == "previous_response_id"


@pytest.mark.parametrize(("extra", "param"), [
    ({"tool_choice": "required"}, "tool_choice"),
    ({"tool_choice": {"type": "function", "name": "f"}}, "tool_choice"),
    ({"background": True}, "background"),
    ({"input": [{"role": "user", "content": "a"}, {"type": "computer_call_output", "call_id": "x"}]}, "input[1]"),
    ({"input": [{"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "bogus"}]}]},
     "input[0].content[1]"),
    ({"input": [{"role": "robot", "content": "a"}]}, "input[0].role"),
    ({"input": [{"role": "user", "content": [{"type": "input_text"}]}]}, "input[0].content[0].text"),
    ({"input": []}, "input"),
    ({"input": [{"role": "assistant", "content": "only me"}]}, "input"),
    ({"input": 5}, "input"),
    ({"stream": "yes"}, "stream"),
])
def test_bad_requests_name_the_param(extra, param):
    dify = FakeDify(chat_events("a"))
    response, data = create({**BODY, **extra}, dify)
    assert response.status == 400 and data["error"]["param"] == param, data
    assert set(data["error"]) == {"message", "type", "param", "code"} and not dify.calls


def test_tools_and_auto_tool_choice_are_ignored():
    tools = [{"type": "web_search"}, {"type": "function", "name": "shell", "parameters": {}}, {"type": "custom"}]
    response, _ = create({**BODY, "tools": tools, "tool_choice": "auto", "temperature": 0.2,
                          "store": True, "user": {"id": 1}}, FakeDify(chat_events("a")))
    assert response.status == 200


def test_file_errors_name_the_input_item():
    png = base64.b64encode(b"not a png").decode()
    content = [{"type": "input_text", "text": "look"},
               {"type": "input_image", "image_url": f"data:image/png;base64,{png}"}]
    form = {"user_input_form": [{"file": {"variable": "image", "label": "I", "required": False,
                                          "allowed_file_types": ["image"]}}]}
    response, data = create({**BODY, "input": [{"role": "user", "content": content}]},
                            FakeDify(chat_events("a"), parameters=form))
    assert response.status == 400 and data["error"]["param"] == "input[0].content[1]"
    assert "input[0].content[1]" in data["error"]["message"] and "messages" not in data["error"]["message"]


def test_images_and_files_reach_the_app():
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
    pdf = base64.b64encode(b"%PDF-1.4\n%%EOF\n").decode()
    content = [{"type": "input_text", "text": "look"},
               {"type": "input_image", "image_url": "data:image/png;base64," + base64.b64encode(png).decode()},
               {"type": "input_file", "file_data": f"data:application/pdf;base64,{pdf}", "filename": "a.pdf"}]
    form = {"user_input_form": [{"file-list": {"variable": "files", "label": "F", "required": False,
                                               "max_length": 5}}]}
    dify = FakeDify(chat_events("a"), parameters=form)
    response, _ = create({**BODY, "input": [{"role": "user", "content": content}]}, dify)
    assert response.status == 200 and [u[0] for u in dify.uploads] == ["upload.png", "a.pdf"]
    assert [f["type"] for f in dify.calls[0]["inputs"]["files"]] == ["image", "document"]
    assert dify.calls[0]["query"] == "look"


def test_error_before_the_run_is_an_http_error():
    dify = FakeDify(fail='request failed with status code: 429 and respond with: {"code": "too_many_requests"}')
    response, raw = call(post("/responses", {**BODY, "stream": True}), dify)
    assert response.status == 429 and json.loads(raw)["error"]["code"] == "rate_limit_exceeded"


def test_error_mid_stream_is_response_failed():
    dify = FakeDify(chat_events("partial")[:1] + [{"event": "error", "code": "completion_request_error",
                                                   "message": "LLM died", "status": 400}])
    response, events = stream(BODY, dify)
    assert response.status == 200 and events[-1]["type"] == "response.failed"
    failed = Response.model_validate(events[-1]["response"])
    assert failed.status == "failed" and failed.error.code == "server_error" and "LLM died" in failed.error.message
    assert failed.output[0].status == "incomplete" and failed.output_text == "partial"
    assert not any(e["type"] == "response.completed" for e in events)


def test_error_mid_run_without_streaming_is_an_error_status():
    dify = FakeDify(chat_events("partial")[:1] + [{"event": "error", "code": "x", "message": "bad"}])
    response, data = create(BODY, dify)
    assert response.status == 502 and data["error"]["message"].endswith("bad")


def test_moderated_answer_is_incomplete_for_content_filter():
    env = {"conversation_id": CONVERSATION, "message_id": "m-1", "created_at": 1, "task_id": "t"}
    events = [{"event": "message", "answer": "bad words", **env},
              {"event": "message_replace", "answer": "[removed]", **env}, {"event": "message_end", **env}]
    _, data = create(BODY, FakeDify(events))
    assert data["status"] == "incomplete" and data["incomplete_details"] == {"reason": "content_filter"}
    assert Response.model_validate(data).output_text == "[removed]"
    _, streamed = stream(BODY, FakeDify(events))
    assert streamed[-1]["type"] == "response.incomplete"
    assert Response.model_validate(streamed[-1]["response"]).output_text == "bad words\n\n[removed]"


def test_keepalive_while_silent():
    _, raw = call(post("/responses", {**BODY, "stream": True}), FakeDify(chat_events("a"), delay=0.12),
                  timing=Timing(first_event_wait=0.05, keepalive_interval=0.05))
    assert b": keep-alive\n\n" in raw and stream_events(raw)[-1]["type"] == "response.completed"


def test_retrieving_a_response_says_responses_are_not_stored():
    request = IncomingRequest("GET", "/v1/responses/resp_abc", {"authorization": "Bearer sk-test"})
    response, raw = call(request, FakeDify())
    error = json.loads(raw)["error"]
    assert response.status == 404 and error["code"] == "not_found" and "does not store responses" in error["message"]
    assert call(IncomingRequest("GET", "/v1/responses/resp_abc", {}), FakeDify())[0].status == 401


def test_routes_with_and_without_v1():
    for path in ("/responses", "/v1/responses", "/v1/responses/"):
        assert call(post(path, BODY), FakeDify(chat_events("a")))[0].status == 200
    assert call(IncomingRequest("GET", "/v1/responses", {"authorization": "Bearer sk-test"}), FakeDify())[0].status \
        == 405
