"""Serving `POST /completions` (legacy Completions): the prompt is one user message to the app.

The prompt is run like a one-message chat, so inputs, `stop` and error mapping are the chat ones; conversation
memory has nothing to continue (each prompt stands alone) unless the request names a `conversation_id`.
"""

from __future__ import annotations

from typing import Any

from openai_bridge.apis.citations import source_documents
from openai_bridge.apis.collector import AnswerCollector
from openai_bridge.apis.completions.request import parse_completion_request, to_chat
from openai_bridge.apis.completions.stream import CompletionStreamWriter
from openai_bridge.dify.form import AppFormCache
from openai_bridge.http.messages import HttpResponse, IncomingRequest
from openai_bridge.ports import DifyPort
from openai_bridge.run import delivery
from openai_bridge.run.start import named_conversation, start_run
from openai_bridge.run.timing import Timing
from openai_bridge.settings import EndpointSettings
from openai_bridge.wire.chat import Usage
from openai_bridge.wire.completions import CompletionChoice, TextCompletion

ID_PREFIX = "cmpl-"


def completions(request: IncomingRequest, settings: EndpointSettings, dify: DifyPort, forms: AppFormCache,
                timing: Timing) -> HttpResponse:
    chat = to_chat(parse_completion_request(request.body, request.declared_length))
    settings = settings.serving(chat.model)
    # Each prompt stands alone: remembering prompts as threads would only push chat threads out of the memory.
    run = start_run(request, chat, settings, dify, forms, timing, named_conversation(request, chat),
                        keep_thread=False)
    if chat.stream:
        include_usage = bool(chat.stream_options and chat.stream_options.include_usage)

        def open_writer() -> CompletionStreamWriter:
            completion_id, created, _ = run.identity(ID_PREFIX)
            return CompletionStreamWriter(completion_id, created, chat.model, include_usage)

        return delivery.stream(run, open_writer, timing)
    collector = AnswerCollector()

    def render() -> dict[str, Any]:
        completion_id, created, _ = run.identity(ID_PREFIX)
        return TextCompletion(
            id=completion_id, created=created, model=chat.model,
            choices=[CompletionChoice(text=collector.text, finish_reason=collector.finish_reason)],
            usage=Usage.model_validate(collector.usage, from_attributes=True),
            sources=source_documents(collector.sources) or None).model_dump()

    return delivery.whole(run, collector, render)
