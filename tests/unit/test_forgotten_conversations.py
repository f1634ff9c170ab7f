"""A conversation Dify no longer knows does not break the thread (recorded: d_conversation_deleted_between_turns).

Dify forgets a conversation when it is deleted from the app's logs, and after an upgrade that changes the user plugin
calls run as; it then answers an empty 400. A conversation the plugin remembered is forgotten and the same request
goes on in a new conversation seeded with the history; one the client named stays the client's error.
"""

from __future__ import annotations

import json

from openai_bridge.dify.form import AppFormCache
from openai_bridge.http.server import handle
from openai_bridge.run.timing import Timing

from .fakes import SETTINGS, FakeDify, chat_events, post

CONV = {**SETTINGS, "memory_mode": "conversation"}
FIRST, SECOND = "c0ffee00-0000-4000-8000-000000000001", "c0ffee00-0000-4000-8000-000000000002"
FAST = Timing(1.0, 1.0)


def send(dify: FakeDify, path: str, body: dict, settings: dict = CONV, conversation: str = FIRST,
         answer: str = "reply", message_id: str = "m-1", headers: dict | None = None) -> tuple[int, dict, bytes]:
    dify.events = chat_events(answer, conversation_id=conversation, message_id=message_id)
    response = handle(post(path, body, headers=headers), settings, dify, AppFormCache(), FAST)
    raw = response.body if isinstance(response.body, bytes) else b"".join(response.body)
    return response.status, response.headers, raw


def chat(dify: FakeDify, messages: list[dict], **kwargs) -> tuple[int, dict, bytes]:
    extra = kwargs.pop("extra", {})
    return send(dify, "/v1/chat/completions", {"model": "m", "messages": messages, **extra}, **kwargs)


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def test_a_thread_whose_conversation_dify_forgot_heals_in_one_turn():
    dify = FakeDify()
    chat(dify, [user("one")], answer="reply1")
    dify.forgotten.add(FIRST)  # deleted in Dify's logs
    status, headers, raw = chat(dify, [user("one"), assistant("reply1"), user("two")], conversation=SECOND,
                                answer="reply2")
    assert status == 200 and json.loads(raw)["choices"][0]["message"]["content"] == "reply2"
    refused, healed = dify.calls[1:]
    assert refused["conversation_id"] == FIRST and refused["query"] == "two"
    assert healed["conversation_id"] is None
    assert healed["query"] == "[Conversation so far]\nUser: one\n\nAssistant: reply1\n\n[New message]\ntwo"
    assert headers["X-Dify-Conversation-Id"] == SECOND
    # Later turns continue in the new conversation, with no further refusal.
    chat(dify, [user("one"), assistant("reply1"), user("two"), assistant("reply2"), user("three")],
         conversation=SECOND)
    assert dify.calls[3]["conversation_id"] == SECOND and dify.calls[3]["query"] == "three"
    assert len(dify.calls) == 4


def test_a_streamed_turn_heals_too():
    dify = FakeDify()
    chat(dify, [user("one")], answer="reply1", extra={"stream": True})
    dify.forgotten.add(FIRST)
    status, _, raw = chat(dify, [user("one"), assistant("reply1"), user("two")], conversation=SECOND,
                          extra={"stream": True})
    assert status == 200 and b'"content":"reply"' in raw and raw.endswith(b"data: [DONE]\n\n")
    assert [c["conversation_id"] for c in dify.calls] == [None, FIRST, None]
    first_chunk = json.loads(raw.split(b"\n\n")[0][6:])
    assert first_chunk["conversation_id"] == SECOND


def test_a_conversation_the_client_named_stays_its_error():
    dify = FakeDify(forgotten={FIRST})
    status, headers, raw = chat(dify, [user("hi")], extra={"conversation_id": FIRST})
    error = json.loads(raw)["error"]
    assert (status, error["code"], error["param"]) == (404, "conversation_not_found", "conversation_id")
    assert FIRST in error["message"] and "Dify does not know" in error["message"]
    assert headers["x-should-retry"] == "false" and len(dify.calls) == 1
    status, _, raw = chat(dify, [user("hi")], headers={"X-Dify-Conversation-Id": FIRST})
    assert status == 404 and json.loads(raw)["error"]["param"] == "X-Dify-Conversation-Id"


def test_memory_is_kept_per_app():
    # recorded: switch_app_same_endpoint, where the old app's conversation id went to the new app
    dify = FakeDify()
    chat(dify, [user("one")], answer="reply1")
    other_app = {**CONV, "app_id": {"app_id": "app-2", "inputs": {}, "files": [], "type": "app-selector"}}
    chat(dify, [user("one"), assistant("reply1"), user("two")], settings=other_app, conversation=SECOND)
    assert dify.calls[1]["app_id"] == "app-2" and dify.calls[1]["conversation_id"] is None
    assert "[Conversation so far]" in dify.calls[1]["query"]
    # ... and the first app's thread still continues where it was.
    chat(dify, [user("one"), assistant("reply1"), user("two")])
    assert dify.calls[2]["conversation_id"] == FIRST


def respond(dify: FakeDify, body: dict, **kwargs) -> dict:
    status, _, raw = send(dify, "/v1/responses", {"model": "m", **body}, **kwargs)
    assert status == 200, raw
    return json.loads(raw)


def test_a_previous_response_whose_conversation_dify_forgot_is_reseeded_from_the_stored_chain():
    dify = FakeDify()
    first = respond(dify, {"input": "first"}, answer="answer one", message_id="m-1")
    second = respond(dify, {"input": "second", "previous_response_id": first["id"]}, answer="answer two",
                     message_id="m-2")
    assert dify.calls[1]["conversation_id"] == FIRST
    dify.forgotten.add(FIRST)
    third = respond(dify, {"input": "third", "instructions": "Be brief.", "previous_response_id": second["id"]},
                    conversation=SECOND, answer="answer three", message_id="m-3")
    refused, healed = dify.calls[2:]
    assert refused["conversation_id"] == FIRST
    assert healed["conversation_id"] is None
    assert healed["query"] == ("[System instructions]\nBe brief.\n\n[Conversation so far]\nUser: first\n\n"
                               "Assistant: answer one\n\nUser: second\n\nAssistant: answer two\n\n"
                               "[New message]\nthird")
    assert third["output"][-1]["content"][0]["text"] == "answer three"
    # The chain goes on in the new conversation, and a branch from the forgotten one re-seeds without asking Dify.
    respond(dify, {"input": "fourth", "previous_response_id": third["id"]}, conversation=SECOND)
    assert dify.calls[4]["conversation_id"] == SECOND and dify.calls[4]["query"] == "fourth"
    respond(dify, {"input": "branch", "previous_response_id": second["id"]}, conversation=SECOND)
    assert dify.calls[5]["conversation_id"] is None and "Assistant: answer two" in dify.calls[5]["query"]


def test_previous_response_id_survives_failing_storage_as_a_new_conversation():
    dify = FakeDify()
    first = respond(dify, {"input": "first"})
    dify.storage_fails = True
    respond(dify, {"input": "second", "previous_response_id": first["id"]})  # served, not a 400
    assert dify.calls[1]["conversation_id"] is None and dify.calls[1]["query"] == "second"


def test_corrupted_records_degrade_to_stateless():
    dify = FakeDify()
    chat(dify, [user("one")], answer="reply1")
    first = respond(dify, {"input": "first"})
    for key in dify.storage:
        dify.storage[key] = b"\x00not json" if "threads" in key else b'{"x": "not a list", "y": [1, "two"]}'
    status, _, _ = chat(dify, [user("one"), assistant("reply1"), user("two")])
    assert status == 200 and dify.calls[-1]["conversation_id"] is None
    status, _, raw = send(dify, "/v1/responses", {"model": "m", "input": "again", "previous_response_id": first["id"]})
    assert status == 400 and json.loads(raw)["error"]["code"] == "previous_response_not_found"
