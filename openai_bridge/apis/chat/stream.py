"""Answer parts -> `chat.completion.chunk` server-sent events.

Knowledge-base sources go out where each kind of client looks for them: one chunk per passage with an Open WebUI
`event` (see wire/sources.py); on the finish chunk, the web pages among them as `delta.annotations`, where LobeChat
and OpenAI's own search models put them, and every passage as `sources`, as a whole answer carries them.
"""

from __future__ import annotations

from typing import Any

from openai_bridge.answer import Source, Sources, TokenUsage
from openai_bridge.apis.citations import source_documents, url_annotations
from openai_bridge.apis.data_stream import PLACEHOLDER, DataStreamWriter, fill, frame_around
from openai_bridge.wire.chat import ChatCompletionChunk, ChunkChoice, Delta, Usage
from openai_bridge.wire.sources import SourceEventBody
from openai_bridge.wire.sse import data_line


class ChatStreamWriter(DataStreamWriter):
    def __init__(self, completion_id: str, created: int, model: str, include_usage: bool,
                 conversation_id: str = "") -> None:
        super().__init__(include_usage)
        self._base: dict[str, Any] = {"id": completion_id, "created": created, "model": model}
        self._conversation_id = conversation_id
        self._content_frame = frame_around(self._chunk(Delta(content=PLACEHOLDER)))
        self._reasoning_frame = frame_around(self._chunk(Delta(reasoning_content=PLACEHOLDER)))
        self._length = 0  # of the content sent, which a URL citation spans
        self._cited: tuple[Source, ...] = ()

    def _chunk(self, delta: Delta | None, finish_reason: str | None = None) -> dict[str, Any]:
        choices = [ChunkChoice(delta=delta, finish_reason=finish_reason)] if delta is not None else []
        data = ChatCompletionChunk(**self._base, choices=choices).model_dump(exclude={"conversation_id"})
        if not self._include_usage:
            del data["usage"]
        return data

    def start(self) -> bytes:
        data = self._chunk(Delta(role="assistant", content=""))
        if self._conversation_id:
            data["conversation_id"] = self._conversation_id
        return data_line(data)

    def _content(self, text: str) -> bytes:
        self._length += len(text)
        return fill(self._content_frame, text)

    def _reasoning(self, text: str) -> bytes:
        return fill(self._reasoning_frame, text)

    def _sources(self, sources: Sources) -> bytes:
        self._cited = sources.items
        out = b""
        for document in source_documents(sources.items):
            chunk = self._chunk(None)
            chunk["event"] = SourceEventBody(data=document).model_dump(exclude_none=True)
            out += data_line(chunk)
        return out

    def _finish_chunk(self, reason: str) -> dict[str, Any]:
        chunk = self._chunk(Delta(annotations=url_annotations(self._cited, self._length) or None), reason)
        if self._cited:  # all passages again, as a whole answer's `sources`, for clients that read only the end
            chunk["sources"] = [d.model_dump(exclude_none=True) for d in source_documents(self._cited)]
        return chunk

    def _usage_chunk(self, usage: TokenUsage) -> dict[str, Any]:
        chunk = ChatCompletionChunk(**self._base, choices=[], usage=Usage.model_validate(usage, from_attributes=True))
        return chunk.model_dump(exclude={"conversation_id"})
