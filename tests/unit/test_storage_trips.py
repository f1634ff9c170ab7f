"""Plugin-storage round trips per request (issue #11): each is a stdio round trip through Dify's daemon.

In `conversation` mode a warm thread reads storage at most once before Dify is called, and storage is written only
when something changed. Counted here on the core's storage port, where the calls are decided; what the SDK adapter
(endpoints/_serve.py) turns them into (the daemon's get/exist/del/set) is counted in tests/e2e/test_storage_trips.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from openai_bridge.dify.call import DifyCall
from openai_bridge.dify.form import AppFormCache
from openai_bridge.http.server import handle
from openai_bridge.memory.conversations import ConversationMemory, thread_of
from openai_bridge.run.timing import Timing
from openai_bridge.wire.chat import ChatMessage

from .fakes import SETTINGS, FakeDify, chat_events, post

CONVERSATION = {**SETTINGS, "memory_mode": "conversation"}


@dataclass
class CountingDify(FakeDify):
    """FakeDify that logs storage calls and the app call in the order they happen."""

    log: list[str] = field(default_factory=list)

    def invoke_app(self, call: DifyCall) -> Iterator[dict[str, Any]]:
        self.log.append("invoke")
        return super().invoke_app(call)

    def storage_get(self, key: str) -> bytes | None:
        self.log.append("get")
        return super().storage_get(key)

    def storage_set(self, key: str, value: bytes) -> None:
        self.log.append("set")
        super().storage_set(key, value)

    def turn(self, path: str, body: dict[str, Any], settings: dict[str, Any] = CONVERSATION) -> tuple[
            list[str], list[str], bytes]:
        """(storage calls before the app call, after it, the response body) of one request."""
        self.log.clear()
        response = handle(post(path, body), settings, self, AppFormCache(), Timing(5, 10))
        data = response.body if isinstance(response.body, bytes) else b"".join(response.body)
        assert response.status == 200, data
        at = self.log.index("invoke")
        return self.log[:at], self.log[at + 1:], data


def _chat(messages: list[dict[str, str]], stream: bool = False) -> dict[str, Any]:
    return {"model": "m", "stream": stream, "messages": messages}


FIRST = [{"role": "user", "content": "hello"}]
SECOND = [*FIRST, {"role": "assistant", "content": "Hi there"}, {"role": "user", "content": "and now?"}]


@pytest.mark.parametrize("stream", [False, True])
def test_a_warm_thread_reads_once_before_dify_and_updates_once_after(stream):
    dify = CountingDify(events=chat_events("Hi ", "there"))
    assert dify.turn("/v1/chat/completions", _chat(FIRST, stream))[:2] == ([], ["get", "set"])
    before, after, _ = dify.turn("/v1/chat/completions", _chat(SECOND, stream))
    assert before == ["get"]
    # The record is read again after Dify: another request may have updated it during the call.
    assert after == ["get", "set"]
    assert dify.calls[-1]["conversation_id"] == "c0ffee00-0000-4000-8000-000000000001"


def test_last_user_message_mode_never_touches_storage():
    dify = CountingDify(events=chat_events("Hi ", "there"))
    dify.turn("/v1/chat/completions", _chat(SECOND), {**SETTINGS, "memory_mode": "last_user_message"})
    assert dify.log == ["invoke"]


def test_previous_response_id_reads_its_record_once_and_no_thread():
    dify = CountingDify(events=chat_events("Hi ", "there"))
    _, _, data = dify.turn("/v1/responses", {"model": "m", "input": "hello"})
    before, after, _ = dify.turn("/v1/responses", {"model": "m", "input": "and now?",
                                                   "previous_response_id": json.loads(data)["id"]})
    assert before == ["get"]
    assert after == ["get", "set"]  # the new response's record only: thread memory is not consulted


def test_store_false_keeps_thread_memory_but_no_response_record():
    """Codex sends `store: false` with the whole conversation: thread memory still matches it (README)."""
    dify = CountingDify(events=chat_events("Hi ", "there"))
    dify.turn("/v1/responses", {"model": "m", "input": FIRST, "store": False})
    before, after, _ = dify.turn("/v1/responses", {"model": "m", "input": SECOND, "store": False})
    assert (before, after) == (["get"], ["get", "set"])
    assert all("/threads/" in key for key in dify.storage)


def test_an_update_that_changes_nothing_writes_nothing():
    dify = CountingDify()
    memory = ConversationMemory(dify, "ep", "app", clock=lambda: 1000.0)
    before = thread_of("me", [ChatMessage(role="user", content="a")])
    after = thread_of("me", [ChatMessage(role="user", content="a"), ChatMessage(role="assistant", content="b")])
    assert before is not None and after is not None
    memory.advance(before, after, "c-1")
    dify.log.clear()
    memory.advance(before, after, "c-1")  # the same entry, the same second
    assert dify.log == ["get"]
    dify.log.clear()
    memory.forget_response_conversation("resp_unknown")
    assert dify.log == ["get"]
