"""Answer parts -> one `chat.completion` object, for non-streaming requests."""

from __future__ import annotations

from .answer import AnswerPart, Failure, Finish, Reasoning, Replace, Text, TokenUsage
from .errors import OpenAIError
from .protocol import AssistantMessage, ChatCompletion, Choice, Usage


class ChatResponseBuilder:
    def __init__(self) -> None:
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.usage = Usage()
        self.finish_reason = "stop"
        self.error: OpenAIError | None = None

    def add(self, part: AnswerPart) -> None:
        if isinstance(part, Text):
            self.content.append(part.text)
        elif isinstance(part, Reasoning):
            self.reasoning.append(part.text)
        elif isinstance(part, Replace):
            self.content = [part.text]
            self.finish_reason = "content_filter"
        elif isinstance(part, TokenUsage):
            self.usage = Usage(prompt_tokens=part.prompt_tokens, completion_tokens=part.completion_tokens,
                               total_tokens=part.total_tokens)
        elif isinstance(part, Finish):
            if self.finish_reason != "content_filter":
                self.finish_reason = part.reason
        elif isinstance(part, Failure):
            self.error = part.error

    def build(self, completion_id: str, created: int, model: str, conversation_id: str = "") -> ChatCompletion:
        message = AssistantMessage.build("".join(self.content), "".join(self.reasoning))
        return ChatCompletion(id=completion_id, created=created, model=model,
                              choices=[Choice(message=message, finish_reason=self.finish_reason)],
                              usage=self.usage, conversation_id=conversation_id or None)
