"""Regressions for core bugs found by the fuzzing, fault, security and load work (tests/fuzz, faults, security,
bench/load.py)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from werkzeug import Response

from openai_bridge.dify.form import AppFormCache
from openai_bridge.errors import OpenAIError
from openai_bridge.http.server import handle
from openai_bridge.memory import bounded
from openai_bridge.memory.conversations import ConversationMemory, Thread
from openai_bridge.wire.body import parse_json_object
from openai_bridge.wire.extensions import conversation_header, validate_conversation_id

from .fakes import SETTINGS, FakeDify, chat_events, post

CONVERSATION = "c0ffee00-0000-4000-8000-000000000001"
CHAT = {"model": "m", "messages": [{"role": "user", "content": "x"}]}


@pytest.mark.parametrize("tail", ["\n", "\r\n", "\nSet-Cookie: a=b"])
def test_conversation_id_with_a_line_break_never_reaches_a_header(tail):
    # `$` in the UUID pattern matched before a trailing newline: werkzeug then refused the header and the SDK
    # answered a plain-text 404 instead of the completion.
    assert conversation_header(CONVERSATION + tail) == {}
    events = chat_events("hi")
    for event in events:
        event["conversation_id"] = CONVERSATION + tail
    for stream in (False, True):
        response = handle(post("/v1/chat/completions", {**CHAT, "stream": stream}), SETTINGS, FakeDify(events=events),
                          AppFormCache())
        assert response.status == 200
        assert "X-Dify-Conversation-Id" not in response.headers
        Response(response.body, status=response.status, headers=response.headers)  # what _serve builds


def test_requested_conversation_id_with_a_trailing_newline_is_still_accepted_once_stripped():
    assert validate_conversation_id(CONVERSATION + "\n", "conversation_id") == CONVERSATION
    with pytest.raises(OpenAIError):
        validate_conversation_id(CONVERSATION + "\nx", "conversation_id")


@pytest.mark.parametrize("body", [
    b'{"model": "m", "messages": [{"role": "user", "content": "\\ud800"}]}',
    b'{"model": "\\udc00", "stream": true, "messages": [{"role": "user", "content": "x"}]}',
    b'{"model": "m", "messages": [{"role": "user", "content": "\xed\xa0\x80"}]}',
    b'{"model": "m", "user": {"\\udfff": 1}, "messages": [{"role": "user", "content": "x"}]}',
])
def test_lone_surrogates_are_a_400_not_a_500(body):
    # json.loads accepts lone surrogates (as \\u escapes, or UTF-8-encoded with "surrogatepass"); the strings then
    # failed to encode deep in the run (history digest, stream frames) and the client got a 500.
    response = handle(post("/v1/chat/completions", body), SETTINGS, FakeDify(events=chat_events("hi")), AppFormCache())
    assert response.status == 400
    assert json.loads(response.body)["error"]["code"] == "invalid_json"


def test_surrogate_pairs_and_escaped_backslashes_are_fine():
    assert parse_json_object(b'{"a": "\\ud83d\\ude00", "b": "\\\\ud800"}') == {"a": "\U0001f600", "b": "\\ud800"}


@pytest.mark.parametrize("depth, status", [(5, 200), (32, 200), (33, 400), (300, 400)])
def test_deeply_nested_inputs_are_a_400_not_an_upstream_error(depth, status):
    # The SDK serialises the app call with pydantic, which refuses values nested ~255 deep; the plugin reported
    # that as a 502 "Dify failed: Error serializing to JSON" although the request was at fault.
    value: object = "leaf"
    for _ in range(depth):  # `depth` levels of lists
        value = [value]
    response = handle(post("/v1/chat/completions", {**CHAT, "inputs": {"deep": value}}), SETTINGS,
                      FakeDify(events=chat_events("hi")), AppFormCache())
    assert response.status == status
    if status == 400:
        assert json.loads(response.body)["error"]["param"] == "inputs.deep"


def test_nothing_follows_done_when_dify_keeps_streaming_after_a_moderation_replace():
    # A stream ends at message_replace (finish_reason content_filter, [DONE]); deltas Dify sent afterwards were
    # written after [DONE].
    events = [{"event": "message", "answer": "bad"}, {"event": "message_replace", "answer": "moderated"},
              {"event": "message", "answer": "more"}, {"event": "message_end"}]
    response = handle(post("/v1/chat/completions", {**CHAT, "stream": True}), SETTINGS, FakeDify(events=events),
                      AppFormCache())
    frames = b"".join(response.body).decode().split("\n\n")
    assert frames[-2:] == ["data: [DONE]", ""]
    assert "more" not in "".join(frames)


class _SilentStorage:
    """A daemon that never answers (it drops the invocations of a session whose client went away)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def storage_get(self, key: str) -> bytes | None:
        self.calls += 1
        self.release.wait(30)
        raise Exception("invocation exited without response after 250 seconds")

    storage_set = storage_get


def test_storage_calls_the_daemon_never_answers_are_given_up_quickly(monkeypatch):
    # The SDK waits 250 s per unanswered call: remembering a turn after the client left held the session ~25 min.
    monkeypatch.setattr(bounded, "STORAGE_TIMEOUT", 0.2)
    silent = _SilentStorage()
    memory = ConversationMemory(silent, "ep", "app")
    started = time.monotonic()
    try:
        assert memory.find(Thread(0, "digest")) is None
        memory.advance(None, Thread(0, "digest"), CONVERSATION)  # degrades with a log line, never raises
    finally:
        silent.release.set()
    assert time.monotonic() - started < 2
    assert silent.calls == 1  # after the first stall, the request stops asking


def test_bounded_storage_passes_values_and_errors_through():
    fake = FakeDify()
    storage = bounded.BoundedStorage(fake, timeout=5)
    storage.storage_set("k", b"v")
    assert storage.storage_get("k") == b"v" and storage.storage_get("missing") is None
    fake.storage_fails = True
    with pytest.raises(Exception, match="storage is down"):
        storage.storage_get("k")


def test_concurrent_turns_do_not_lose_each_others_thread(monkeypatch):
    # Remembering a turn reads a storage bucket, adds an entry and writes it back: two requests doing that at once
    # for the same bucket lost one entry, and that thread's next turn started a new Dify conversation (the load test
    # lost 85% of follow-up turns at 100 concurrent clients).
    from openai_bridge.memory import conversations as conversation_memory

    class SlowStorage(FakeDify):
        def storage_get(self, key: str) -> bytes | None:
            time.sleep(0.005)  # the round trip to the daemon
            return super().storage_get(key)

    monkeypatch.setattr(conversation_memory, "PER_BUCKET", 100)
    storage = SlowStorage()
    threads = [threading.Thread(target=lambda i=i: ConversationMemory(storage, "ep", "app").advance(
        None, Thread(i % 2, f"digest-{i}"), f"conversation-{i}")) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    memory = ConversationMemory(storage, "ep", "app")
    assert [memory.find(Thread(i % 2, f"digest-{i}")) for i in range(20)] == [f"conversation-{i}" for i in range(20)]


def test_a_thread_is_found_while_its_bucket_is_being_rewritten(monkeypatch):
    # An overwrite is a delete then a set (endpoints/_serve.py): a lookup in between found nothing.
    from openai_bridge.memory import conversations as conversation_memory

    class DeleteThenSet(FakeDify):
        def storage_set(self, key: str, value: bytes) -> None:
            self.storage.pop(key, None)
            time.sleep(0.005)
            self.storage[key] = value

    monkeypatch.setattr(conversation_memory, "PER_BUCKET", 100)
    storage = DeleteThenSet()
    ConversationMemory(storage, "ep", "app").advance(None, Thread(0, "old"), "conversation-old")
    misses: list[object] = []

    def write(i: int) -> None:
        ConversationMemory(storage, "ep", "app").advance(None, Thread(0, f"new-{i}"), f"conversation-{i}")

    def read() -> None:
        for _ in range(10):
            found = ConversationMemory(storage, "ep", "app").find(Thread(0, "old"))
            if found != "conversation-old":
                misses.append(found)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(5)] + \
              [threading.Thread(target=read) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert misses == []
