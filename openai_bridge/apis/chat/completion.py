"""Answer parts -> one `chat.completion` object, for non-streaming requests."""

from __future__ import annotations

from openai_bridge.apis.citations import source_documents, url_annotations
from openai_bridge.apis.collector import AnswerCollector
from openai_bridge.wire.chat import AssistantMessage, ChatCompletion, Choice, Usage


class ChatResponseBuilder(AnswerCollector):
    def build(self, completion_id: str, created: int, model: str, conversation_id: str = "") -> ChatCompletion:
        text = self.text
        message = AssistantMessage.build(text, "".join(self.reasoning), url_annotations(self.sources, len(text)))
        return ChatCompletion(id=completion_id, created=created, model=model,
                              choices=[Choice(message=message, finish_reason=self.finish_reason)],
                              usage=Usage.model_validate(self.usage, from_attributes=True),
                              conversation_id=conversation_id or None,
                              sources=source_documents(self.sources) or None)
