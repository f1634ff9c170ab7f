"""Answer parts -> `text_completion` chunks as server-sent events (reasoning has no place in this format)."""

from __future__ import annotations

from typing import Any

from openai_bridge.answer import TokenUsage
from openai_bridge.apis.data_stream import PLACEHOLDER, DataStreamWriter, fill, frame_around
from openai_bridge.wire.chat import Usage
from openai_bridge.wire.completions import CompletionChoice, TextCompletion
from openai_bridge.wire.sse import KEEPALIVE


class CompletionStreamWriter(DataStreamWriter):
    def __init__(self, completion_id: str, created: int, model: str, include_usage: bool) -> None:
        super().__init__(include_usage)
        self._base: dict[str, Any] = {"id": completion_id, "created": created, "model": model}
        self._text_frame = frame_around(self._chunk(PLACEHOLDER))

    def _chunk(self, text: str, finish_reason: str | None = None) -> dict[str, Any]:
        data = TextCompletion(**self._base, choices=[CompletionChoice(text=text, finish_reason=finish_reason)])
        dumped = data.model_dump()
        if not self._include_usage:
            del dumped["usage"]
        return dumped

    def start(self) -> bytes:
        # This format has no opening chunk; a comment starts the stream at once all the same.
        return KEEPALIVE

    def _content(self, text: str) -> bytes:
        return fill(self._text_frame, text)

    def _finish_chunk(self, reason: str) -> dict[str, Any]:
        return self._chunk("", reason)

    def _usage_chunk(self, usage: TokenUsage) -> dict[str, Any]:
        return TextCompletion(**self._base, choices=[],
                              usage=Usage.model_validate(usage, from_attributes=True)).model_dump()
