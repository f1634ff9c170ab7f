"""Answer parts -> one `chat.completion` object, for non-streaming requests."""

from __future__ import annotations

from openai_bridge.apis.collector import AnswerCollector
from openai_bridge.wire.chat import AssistantMessage, ChatCompletion, Choice, Usage


class ChatResponseBuilder(AnswerCollector):
    def build(self, completion_id: str, created: int, model: str, conversation_id: str = "") -> ChatCompletion:
        message = AssistantMessage.build(self.text, "".join(self.reasoning))
        return ChatCompletion(id=completion_id, created=created, model=model,
                              choices=[Choice(message=message, finish_reason=self.finish_reason)],
                              usage=Usage.model_validate(self.usage, from_attributes=True),
                              conversation_id=conversation_id or None)
