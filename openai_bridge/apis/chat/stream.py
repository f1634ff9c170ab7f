"""Answer parts -> `chat.completion.chunk` server-sent events."""

from __future__ import annotations

from typing import Any

from openai_bridge.answer import TokenUsage
from openai_bridge.apis.data_stream import PLACEHOLDER, DataStreamWriter, fill, frame_around
from openai_bridge.wire.chat import ChatCompletionChunk, ChunkChoice, Delta, Usage
from openai_bridge.wire.sse import data_line


class ChatStreamWriter(DataStreamWriter):
    def __init__(self, completion_id: str, created: int, model: str, include_usage: bool,
                 conversation_id: str = "") -> None:
        super().__init__(include_usage)
        self._base: dict[str, Any] = {"id": completion_id, "created": created, "model": model}
        self._conversation_id = conversation_id
        self._content_frame = frame_around(self._chunk(Delta(content=PLACEHOLDER)))
        self._reasoning_frame = frame_around(self._chunk(Delta(reasoning_content=PLACEHOLDER)))

    def _chunk(self, delta: Delta, finish_reason: str | None = None) -> dict[str, Any]:
        chunk = ChatCompletionChunk(**self._base, choices=[ChunkChoice(delta=delta, finish_reason=finish_reason)])
        data = chunk.model_dump(exclude={"conversation_id"})
        if not self._include_usage:
            del data["usage"]
        return data

    def start(self) -> bytes:
        data = self._chunk(Delta(role="assistant", content=""))
        if self._conversation_id:
            data["conversation_id"] = self._conversation_id
        return data_line(data)

    def _content(self, text: str) -> bytes:
        return fill(self._content_frame, text)

    def _reasoning(self, text: str) -> bytes:
        return fill(self._reasoning_frame, text)

    def _finish_chunk(self, reason: str) -> dict[str, Any]:
        return self._chunk(Delta(), reason)

    def _usage_chunk(self, usage: TokenUsage) -> dict[str, Any]:
        chunk = ChatCompletionChunk(**self._base, choices=[], usage=Usage.model_validate(usage, from_attributes=True))
        return chunk.model_dump(exclude={"conversation_id"})
