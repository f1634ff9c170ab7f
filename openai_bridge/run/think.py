"""Splitting `<think>...</think>` blocks out of streamed answer text.

Model plugins inline their reasoning as `<think>` blocks in the answer, and the tags can be split across deltas,
so the splitter holds back a tail that might be the start of a tag until the next delta tells.
"""

from __future__ import annotations

from openai_bridge.answer import AnswerPart, Reasoning, Text
from openai_bridge.run.holdback import partial_marker_length
from openai_bridge.settings import ReasoningMode

OPEN, CLOSE = "<think>", "</think>"


class ThinkSplitter:
    def __init__(self, mode: ReasoningMode = ReasoningMode.SPLIT) -> None:
        self.mode = mode
        self._buffer = ""
        self._thinking = False
        self._at_block_start = False  # strip the newline after <think> and after </think>

    def feed(self, text: str) -> list[AnswerPart]:
        if self.mode is ReasoningMode.INLINE:
            return [Text(text)] if text else []
        self._buffer += text
        parts: list[AnswerPart] = []
        while self._buffer:
            marker = CLOSE if self._thinking else OPEN
            at = self._buffer.find(marker)
            if at < 0:
                keep = partial_marker_length(self._buffer, (marker,))
                if self._thinking:
                    # Newlines before </think> are the block's layout, not reasoning: held until text follows.
                    keep = len(self._buffer) - len(self._buffer[: len(self._buffer) - keep].rstrip("\r\n"))
                ready, self._buffer = self._buffer[: len(self._buffer) - keep], self._buffer[len(self._buffer) - keep:]
                self._emit(ready, parts)
                break
            before = self._buffer[:at]
            self._emit(before.rstrip("\r\n") if self._thinking else before, parts)
            self._buffer = self._buffer[at + len(marker):]
            self._thinking = not self._thinking
            self._at_block_start = True
        return parts

    def flush(self) -> list[AnswerPart]:
        parts: list[AnswerPart] = []
        if self.mode is not ReasoningMode.INLINE:
            self._emit(self._buffer, parts)
        self._buffer = ""
        return parts

    def _emit(self, text: str, parts: list[AnswerPart]) -> None:
        if self._at_block_start:
            text = text.lstrip("\r\n")
            if not text:
                return
            self._at_block_start = False
        if not text:
            return
        if not self._thinking:
            parts.append(Text(text))
        elif self.mode is ReasoningMode.SPLIT:
            parts.append(Reasoning(text))
