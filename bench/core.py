"""The pure translation core's speed, in-process: Dify events in, `chat.completion.chunk` frames out.

Two figures: the translation alone (AnswerPipeline + ChatStreamWriter), and the whole in-process request path
(`app.handle` with a scripted Dify, the ThreadedReader helper thread and the response generator), without any SDK.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from typing import Any

from openai_bridge.apis.chat.stream import ChatStreamWriter
from openai_bridge.dify.call import DifyCall
from openai_bridge.dify.form import AppFormCache
from openai_bridge.http.messages import IncomingRequest
from openai_bridge.http.server import handle
from openai_bridge.run.pipeline import AnswerPipeline
from openai_bridge.run.timing import Timing
from openai_bridge.settings import parse_settings

from .common import ENVELOPE, message_events

SETTINGS = {"api_key": "k", "app_id": "app", "memory_mode": "last_user_message"}


class ScriptedDify:
    """The DifyPort (openai_bridge/ports.py) with a scripted stream and no storage."""

    endpoint_id = "ep"
    accepts_query_files = False
    runs_text_generators = False

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def invoke_app(self, call: DifyCall) -> Iterator[dict[str, Any]]:
        return iter(self.events)

    def fetch_app_parameters(self, app_id: str) -> dict[str, Any]:
        return {"data": {}}

    def upload_file(self, app_id: str, filename: str, content: bytes, mimetype: str, user: str) -> dict[str, str]:
        return {"transfer_method": "tool_file", "tool_file_id": "f"}

    def storage_get(self, key: str) -> bytes | None:
        return None

    def storage_set(self, key: str, value: bytes) -> None:
        pass


def translate(events: list[dict[str, Any]]) -> int:
    pipeline = AnswerPipeline(parse_settings(SETTINGS), [])
    writer = ChatStreamWriter("chatcmpl-x", 1, "dify-app", False, ENVELOPE["conversation_id"])
    size = len(writer.start())
    for event in events:
        for part in pipeline.feed(event):
            size += len(writer.write(part))
    return size


def request_path(events: list[dict[str, Any]]) -> int:
    body = b'{"model": "dify-app", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    request = IncomingRequest("POST", "/v1/chat/completions", {"authorization": "Bearer k"}, body, len(body))
    response = handle(request, SETTINGS, ScriptedDify(events), AppFormCache(), Timing())
    if response.status != 200 or isinstance(response.body, bytes):
        raise RuntimeError(f"the request path failed: {response.status} {response.body!r:.300}")
    return sum(len(chunk) for chunk in response.body)


def best_rate(run, events: list[dict[str, Any]], trials: int) -> float:
    durations = []
    for _ in range(trials):
        started = time.perf_counter()
        run(events)
        durations.append(time.perf_counter() - started)
    return len(events) / statistics.median(durations)


def core_events_per_second(count: int = 100_000, trials: int = 5) -> dict[str, float]:
    events = message_events(count)
    return {"pipeline_events_per_s": best_rate(translate, events, trials),
            "handle_events_per_s": best_rate(request_path, events, trials)}


if __name__ == "__main__":
    for name, value in core_events_per_second().items():
        print(f"{name}: {value:,.0f}")
