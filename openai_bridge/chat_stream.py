"""Answer parts -> `chat.completion.chunk` server-sent events.

Content deltas are the hot path (one per Dify delta), so their frame is rendered once from the wire model and
only the text is encoded per chunk.
"""

from __future__ import annotations

import json

from .answer import AnswerPart, Failure, Finish, Reasoning, Replace, Text, TokenUsage
from .protocol import ChatCompletionChunk, ChunkChoice, Delta, Usage
from .sse import DONE, data_line, dumps

_PLACEHOLDER = "\x00delta\x00"


class ChatStreamWriter:
    def __init__(self, completion_id: str, created: int, model: str, include_usage: bool,
                 conversation_id: str = "") -> None:
        self._base = {"id": completion_id, "created": created, "model": model}
        self._include_usage = include_usage
        self._conversation_id = conversation_id
        self._usage = Usage()
        self._sent_content = False
        self.finished = False
        self._content_frame = self._frame("content")
        self._reasoning_frame = self._frame("reasoning_content")

    def _chunk(self, delta: Delta, finish_reason: str | None = None) -> dict:
        chunk = ChatCompletionChunk(**self._base, choices=[ChunkChoice(delta=delta, finish_reason=finish_reason)])
        data = chunk.model_dump(exclude={"conversation_id"})
        if not self._include_usage:
            del data["usage"]
        return data

    def _frame(self, field: str) -> tuple[bytes, bytes]:
        text = dumps(self._chunk(Delta(**{field: _PLACEHOLDER})))
        head, _, tail = text.partition(json.dumps(_PLACEHOLDER))
        return f"data: {head}".encode(), f"{tail}\n\n".encode()

    def _delta(self, frame: tuple[bytes, bytes], text: str) -> bytes:
        return frame[0] + json.dumps(text, ensure_ascii=False).encode() + frame[1]

    def start(self) -> bytes:
        data = self._chunk(Delta(role="assistant", content=""))
        if self._conversation_id:
            data["conversation_id"] = self._conversation_id
        return data_line(data)

    def write(self, part: AnswerPart) -> bytes:
        if isinstance(part, Text):
            self._sent_content = True
            return self._delta(self._content_frame, part.text)
        if isinstance(part, Reasoning):
            return self._delta(self._reasoning_frame, part.text) if part.text else b""
        if isinstance(part, Replace):
            # Text already on the client's screen cannot be taken back: the moderated replacement follows it.
            text = f"\n\n{part.text}" if self._sent_content else part.text
            self._sent_content = True
            return self._delta(self._content_frame, text) + self.finish(Finish("content_filter"))
        if isinstance(part, TokenUsage):
            self._usage = Usage(prompt_tokens=part.prompt_tokens, completion_tokens=part.completion_tokens,
                                total_tokens=part.total_tokens)
            return b""
        if isinstance(part, Finish):
            return self.finish(part)
        if isinstance(part, Failure):
            return self.fail(part)
        return b""

    def finish(self, part: Finish) -> bytes:
        if self.finished:
            return b""
        self.finished = True
        out = data_line(self._chunk(Delta(), part.reason))
        if self._include_usage:
            usage_chunk = ChatCompletionChunk(**self._base, choices=[], usage=self._usage)
            out += data_line(usage_chunk.model_dump(exclude={"conversation_id"}))
        return out + DONE

    def fail(self, part: Failure) -> bytes:
        if self.finished:
            return b""
        self.finished = True
        return data_line(part.error.envelope()) + DONE
