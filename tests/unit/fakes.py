"""A scripted DifyPort for testing the core without the SDK or the emulator."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from openai_bridge.dify.call import DifyCall
from openai_bridge.http.messages import IncomingRequest


@dataclass
class FakeDify:
    events: list[Any] = field(default_factory=list)
    fail: str | None = None  # raised before the first event, like the SDK does
    fail_after: str | None = None  # raised after the events, like a broken stream
    delay: float = 0.0  # seconds before each event
    parameters: Mapping[str, Any] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False
    endpoint_id: str = "ep-1"
    storage: dict[str, bytes] = field(default_factory=dict)
    uploads: list[tuple[str, bytes, str]] = field(default_factory=list)
    storage_fails: bool = False
    # Conversations Dify refuses as unknown (deleted in its logs, or another run user's), as a real Dify 1.14 does.
    forgotten: set[str] = field(default_factory=set)

    accepts_query_files: bool = False
    runs_text_generators: bool = False

    def invoke_app(self, call: DifyCall) -> Iterator[dict[str, Any]]:
        self.calls.append({"app_id": call.app_id, "query": call.query, "inputs": dict(call.inputs),
                           "conversation_id": call.conversation_id, "user": call.user, "files": call.files})
        return self._stream(UNKNOWN_CONVERSATION if call.conversation_id in self.forgotten else self.fail)

    def _stream(self, fail: str | None) -> Iterator[dict[str, Any]]:
        try:
            if fail:
                raise Exception(fail)
            for event in self.events:
                if self.delay:
                    time.sleep(self.delay)
                yield event
            if self.fail_after:
                raise Exception(self.fail_after)
        finally:
            self.closed = True

    def fetch_app_parameters(self, app_id: str) -> Mapping[str, Any]:
        return self.parameters

    def upload_file(self, app_id: str, filename: str, content: bytes, mimetype: str, user: str) -> dict[str, str]:
        self.uploads.append((filename, content, mimetype))
        return {"transfer_method": "tool_file", "tool_file_id": f"file-{len(self.uploads)}"}

    def storage_get(self, key: str) -> bytes | None:
        if self.storage_fails:
            raise Exception("storage is down")
        return self.storage.get(key)

    def storage_set(self, key: str, value: bytes) -> None:
        if self.storage_fails:
            raise Exception("storage is down")
        self.storage[key] = value


# What the SDK raises when Dify 1.14 does not know the call's conversation (recorded: an empty 400).
UNKNOWN_CONVERSATION = ("invoke app failed: request failed with status code: 400 and respond with: "
                        '{"code":"invalid_param","message":"","status":400}')


def chat_events(*deltas: str, usage: tuple[int, int] = (3, 5),
                conversation_id: str = "c0ffee00-0000-4000-8000-000000000001",
                message_id: str = "m-1") -> list[dict[str, Any]]:
    env = {"conversation_id": conversation_id, "message_id": message_id, "created_at": 1700000000, "task_id": "t-1"}
    events: list[dict[str, Any]] = [{"event": "message", "id": message_id, "answer": d, **env} for d in deltas]
    events.append({"event": "message_end", "id": message_id, **env, "metadata": {"usage": {
        "prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage),
        "total_price": "0.001"}}, "files": []})
    return events


def post(path: str, body: object, key: str = "sk-test", headers: dict[str, str] | None = None) -> IncomingRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return IncomingRequest("POST", path, {"authorization": f"Bearer {key}", **(headers or {})}, raw, len(raw))


SETTINGS = {"api_key": "sk-test", "app_id": {"app_id": "app-1", "inputs": {}, "files": [], "type": "app-selector"}}
