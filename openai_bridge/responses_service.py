"""Serving `POST /responses` and `GET /responses/{id}` (the Responses API).

A request is restated as a chat completion request and run like one, so memory modes, system prompts, inputs,
files and error mapping are the chat ones. `previous_response_id` names the Dify conversation to continue: each
finished response's id is remembered next to the conversation memory (unless the request says `store: false`).
Responses themselves are not stored; Dify's logs keep the conversation.
"""

from __future__ import annotations

from collections.abc import Callable

from . import delivery
from .app_form import AppFormCache
from .app_run import CONVERSATION_HEADER, AppRun, Timing, conversation_header, requested_conversation, start_app_run
from .conversation_memory import ConversationMemory
from .dify_port import DifyPort
from .errors import OpenAIError, invalid_request
from .http import HttpResponse, IncomingRequest
from .responses_output import ResponseBuilder, ResponseEcho
from .responses_request import ResponsesCall, parse_responses_request
from .responses_stream import ResponsesStreamWriter
from .settings import EndpointSettings

ID_PREFIX = "resp_"


def create_response(request: IncomingRequest, settings: EndpointSettings, dify: DifyPort, forms: AppFormCache,
                    timing: Timing) -> HttpResponse:
    call = parse_responses_request(request.body, request.declared_length)
    memory = ConversationMemory(dify, dify.endpoint_id)
    continued = _continued_conversation(request, call, memory)
    try:
        run = start_app_run(request, call.chat, settings, dify, forms, timing, continued)
    except OpenAIError as error:
        raise call.in_request_terms(error) from None
    if isinstance(run, HttpResponse):
        return run
    response_id, created, conversation_id = run.identity(ID_PREFIX)
    echo = ResponseEcho.of(call.request)
    remember = _remembering(run, response_id, echo.store)
    if call.request.stream:
        writer = ResponsesStreamWriter(ResponseBuilder(response_id, created, echo))
        return delivery.stream(run, writer, timing, conversation_header(conversation_id), remember)
    builder = ResponseBuilder(response_id, created, echo, retract=True)
    return delivery.whole(run, builder, lambda: builder.response().model_dump(), remember)


def retrieve_response(response_id: str) -> HttpResponse:
    return HttpResponse.error(OpenAIError(
        404,
        f"Response '{response_id[:80]}' not found: this endpoint does not store responses. It only remembers "
        "which Dify conversation a response belongs to, so that 'previous_response_id' can continue it; the "
        "conversation itself is in the Dify app's logs.",
        "invalid_request_error", None, "not_found"))


def _continued_conversation(request: IncomingRequest, call: ResponsesCall,
                            memory: ConversationMemory) -> str | None:
    explicit = requested_conversation(request, call.chat)
    previous = call.request.previous_response_id
    if not previous:
        return explicit
    if explicit is not None:
        raise invalid_request(f"Send either 'previous_response_id' or a conversation id ('conversation_id' or "
                              f"the {CONVERSATION_HEADER} header), not both.", "previous_response_id")
    conversation_id = memory.find_response(previous)
    if conversation_id is None:
        raise invalid_request(
            f"Previous response with id '{previous[:80]}' not found. This endpoint remembers the ids of its latest "
            "responses from chat-type apps (not workflow apps, not those made with 'store': false); send the "
            "whole conversation in 'input' instead.", "previous_response_id", "previous_response_not_found")
    return conversation_id


def _remembering(run: AppRun, response_id: str, store: bool) -> Callable[[], None]:
    def remember() -> None:
        run.remember()
        conversation_id = run.pipeline.envelope.conversation_id
        if store and conversation_id:
            run.memory.remember_response(response_id, conversation_id)

    return remember
