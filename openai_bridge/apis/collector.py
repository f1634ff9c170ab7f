"""Answer parts gathered into one whole answer, for the non-streaming response of any OpenAI API."""

from __future__ import annotations

from openai_bridge.answer import AnswerPart, Failure, Finish, Reasoning, Replace, Source, Sources, Text, TokenUsage
from openai_bridge.errors import OpenAIError


class AnswerCollector:
    def __init__(self) -> None:
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.usage = TokenUsage(0, 0, 0)
        self.finish_reason = "stop"
        self.sources: tuple[Source, ...] = ()
        self.error: OpenAIError | None = None

    @property
    def text(self) -> str:
        return "".join(self.content)

    def add(self, part: AnswerPart) -> None:
        if isinstance(part, Text):
            self.content.append(part.text)
        elif isinstance(part, Reasoning):
            self.reasoning.append(part.text)
        elif isinstance(part, Replace):
            # Nothing was shown yet, so the moderated replacement simply takes the answer's place.
            self.content = [part.text]
            self.finish_reason = "content_filter"
        elif isinstance(part, TokenUsage):
            self.usage = part
        elif isinstance(part, Sources):
            self.sources = part.items
        elif isinstance(part, Finish):
            if self.finish_reason != "content_filter":
                self.finish_reason = part.reason
        elif isinstance(part, Failure):
            self.error = part.error
