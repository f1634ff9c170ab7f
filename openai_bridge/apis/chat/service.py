"""Serving `POST /chat/completions`: parse the request, run the app, answer as chunks or one completion."""

from __future__ import annotations

import time
from typing import Any

from openai_bridge.answer import Text
from openai_bridge.apis.chat.completion import ChatResponseBuilder
from openai_bridge.apis.chat.request import parse_chat_request
from openai_bridge.apis.chat.stream import ChatStreamWriter
from openai_bridge.clients.open_webui import background_task, local_answer
from openai_bridge.dify.form import AppFormCache
from openai_bridge.http.messages import HttpResponse, IncomingRequest
from openai_bridge.ids import new_id
from openai_bridge.ports import DifyPort
from openai_bridge.run import delivery
from openai_bridge.run.run import Run
from openai_bridge.run.start import named_conversation, start_run
from openai_bridge.run.timing import Timing
from openai_bridge.settings import BackgroundTaskMode, EndpointSettings

ID_PREFIX = "chatcmpl-"


def chat_completions(request: IncomingRequest, settings: EndpointSettings, dify: DifyPort, forms: AppFormCache,
                     timing: Timing = Timing()) -> HttpResponse:
    chat = parse_chat_request(request.body, request.declared_length)
    settings = settings.serving(chat.model)
    task = background_task(request, chat)
    if task is not None:
        # A client's chore, not a turn of the chat: never remembered, nor run in the chat's Dify conversation.
        answer = local_answer(task) if settings.background_tasks is BackgroundTaskMode.LOCAL else None
        if answer is not None and not chat.stream:
            return _answered_here(answer, chat.model)
        run = start_run(request, chat, settings, dify, forms, timing, keep_thread=False)
    else:
        run = start_run(request, chat, settings, dify, forms, timing, named_conversation(request, chat))
    if chat.stream:
        include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
        return _stream(run, chat.model, include_usage, timing)
    return _whole(run, chat.model)


def _answered_here(text: str, model: str) -> HttpResponse:
    builder = ChatResponseBuilder()
    builder.add(Text(text))
    completion = builder.build(f"{ID_PREFIX}{new_id()}", int(time.time()), model)
    return HttpResponse.json(completion.to_dict())


def _whole(run: Run, model: str) -> HttpResponse:
    builder = ChatResponseBuilder()

    def render() -> dict[str, Any]:
        completion_id, created, conversation_id = run.identity(ID_PREFIX)
        return builder.build(completion_id, created, model, conversation_id).to_dict()

    return delivery.whole(run, builder, render)


def _stream(run: Run, model: str, include_usage: bool, timing: Timing) -> HttpResponse:
    def open_writer() -> ChatStreamWriter:
        completion_id, created, conversation_id = run.identity(ID_PREFIX)
        return ChatStreamWriter(completion_id, created, model, include_usage, conversation_id)

    return delivery.stream(run, open_writer, timing)
