"""Responses API events -> server-sent events: `event: <type>` and `data: <json>` lines, numbered in order.

Unlike Chat Completions, this API names every event in an `event:` line and ends without `[DONE]`; the terminal
event is `response.completed`, `response.incomplete` or `response.failed`.
"""

from __future__ import annotations

from openai_bridge.answer import AnswerPart
from openai_bridge.apis.responses.output import ResponseBuilder
from openai_bridge.wire.responses import ResponseEvent
from openai_bridge.wire.sse import dumps


class ResponsesStreamWriter:
    def __init__(self, builder: ResponseBuilder) -> None:
        self._builder = builder
        self._sequence = 0

    def start(self) -> bytes:
        return self._frames(self._builder.start())

    def write(self, part: AnswerPart) -> bytes:
        return self._frames(self._builder.add(part))

    def _frames(self, events: list[ResponseEvent]) -> bytes:
        out = b""
        for event in events:
            event.sequence_number = self._sequence
            self._sequence += 1
            out += f"event: {event.type}\ndata: {dumps(event.model_dump())}\n\n".encode()
        return out
