"""Serving `POST /completions` (legacy Completions): the prompt is one user message to the app.

The prompt is run like a one-message chat, so inputs, `stop` and error mapping are the chat ones; conversation
memory has nothing to continue (each prompt stands alone) unless the request names a `conversation_id`.
"""

from __future__ import annotations

from typing import Any

from . import delivery
from .answer_collector import AnswerCollector
from .app_form import AppFormCache
from .app_run import Timing, requested_conversation, start_app_run
from .completions_protocol import CompletionChoice, TextCompletion
from .completions_request import parse_completion_request, to_chat
from .completions_stream import CompletionStreamWriter
from .dify_port import DifyPort
from .http import HttpResponse, IncomingRequest
from .protocol import Usage
from .settings import EndpointSettings

ID_PREFIX = "cmpl-"


def completions(request: IncomingRequest, settings: EndpointSettings, dify: DifyPort, forms: AppFormCache,
                timing: Timing) -> HttpResponse:
    chat = to_chat(parse_completion_request(request.body, request.declared_length))
    # Each prompt stands alone: remembering prompts as threads would only push chat threads out of the memory.
    run = start_app_run(request, chat, settings, dify, forms, timing, requested_conversation(request, chat),
                        keep_thread=False)
    if isinstance(run, HttpResponse):
        return run
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
            usage=Usage.model_validate(collector.usage, from_attributes=True)).model_dump()

    return delivery.whole(run, collector, render)
