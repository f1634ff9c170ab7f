"""`data:`-only server-sent events, as Chat Completions and legacy Completions stream them.

Both formats send one chunk per delta, then a chunk with the finish reason, an optional usage chunk and one
`data: [DONE]`; a failure after the stream started is a `data: {"error": ...}` chunk before `[DONE]`. Only the
shape of a chunk differs, so subclasses say how a chunk looks and this class decides what is sent when.

Content deltas are the hot path (one per Dify delta), so their frame is rendered once around a placeholder and
only the text is encoded per chunk.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any

from openai_bridge.answer import AnswerPart, Failure, Finish, Reasoning, Sources, Text, TokenUsage
from openai_bridge.wire.sse import DONE, data_line, dumps

PLACEHOLDER = "\x00delta\x00"

Frame = tuple[bytes, bytes]


def frame_around(chunk: dict[str, Any]) -> Frame:
    """`chunk` (holding PLACEHOLDER where the text goes) as the bytes before and after that text."""
    head, _, tail = dumps(chunk).partition(json.dumps(PLACEHOLDER))
    return f"data: {head}".encode(), f"{tail}\n\n".encode()


# json.dumps(text, ensure_ascii=False) builds a JSONEncoder per call; its string encoder (C) gives the same bytes.
_json_string = json.encoder.encode_basestring


def fill(frame: Frame, text: str) -> bytes:
    return frame[0] + _json_string(text).encode() + frame[1]


class DataStreamWriter(ABC):
    def __init__(self, include_usage: bool) -> None:
        self._include_usage = include_usage
        self._usage = TokenUsage(0, 0, 0)
        self.finished = False

    @abstractmethod
    def _content(self, text: str) -> bytes:
        """The frame of one content delta."""

    @abstractmethod
    def _finish_chunk(self, reason: str) -> dict[str, Any]:
        """The chunk that carries the finish reason."""

    @abstractmethod
    def _usage_chunk(self, usage: TokenUsage) -> dict[str, Any]:
        """The trailing chunk with token usage, sent when the client asked for it."""

    def _reasoning(self, text: str) -> bytes:
        return b""  # a format without a reasoning field leaves it out

    def _sources(self, sources: Sources) -> bytes:
        return b""  # a format without a place for them leaves them out

    def write(self, part: AnswerPart) -> bytes:
        if self.finished:
            return b""  # nothing may follow [DONE]
        if isinstance(part, Text):
            return self._content(part.text)
        if isinstance(part, Reasoning):
            return self._reasoning(part.text) if part.text else b""
        if isinstance(part, TokenUsage):
            self._usage = part
            return b""
        if isinstance(part, Sources):
            return self._sources(part)
        if isinstance(part, Finish):
            return self.finish(part)
        if isinstance(part, Failure):
            return self.fail(part)
        return b""

    def finish(self, part: Finish) -> bytes:
        if self.finished:
            return b""
        self.finished = True
        out = data_line(self._finish_chunk(part.reason))
        if self._include_usage:
            out += data_line(self._usage_chunk(self._usage))
        return out + DONE

    def fail(self, part: Failure) -> bytes:
        if self.finished:
            return b""
        self.finished = True
        return data_line(part.error.envelope()) + DONE
