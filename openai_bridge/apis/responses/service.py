"""Serving `POST /responses` and `GET /responses/{id}` (the Responses API).

A request is restated as a chat completion request and run like one, so memory modes, system prompts, inputs,
files and error mapping are the chat ones. `previous_response_id` names the Dify conversation to continue: each
finished response's id is remembered next to the conversation memory (unless the request says `store: false`),
with its conversation and its turn's text (capped), so that a chain whose Dify conversation is gone goes on in a
new one seeded with its recent turns. Responses themselves are not stored; Dify's logs keep the conversation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NoReturn

from openai_bridge.apis.responses.output import ResponseBuilder, ResponseEcho
from openai_bridge.apis.responses.request import ResponsesCall, parse_responses_request
from openai_bridge.apis.responses.stream import ResponsesStreamWriter
from openai_bridge.dify.call import Continuation, Source
from openai_bridge.dify.form import AppFormCache
from openai_bridge.dify.transcript import transcript
from openai_bridge.errors import OpenAIError, invalid_request
from openai_bridge.http.messages import HttpResponse, IncomingRequest
from openai_bridge.memory.conversations import ConversationMemory, Lookup, ResponseRecord
from openai_bridge.ports import DifyPort
from openai_bridge.run import delivery
from openai_bridge.run.run import Run
from openai_bridge.run.start import named_conversation, start_run
from openai_bridge.run.timing import Timing
from openai_bridge.settings import EndpointSettings
from openai_bridge.wire.chat import ChatMessage
from openai_bridge.wire.extensions import CONVERSATION_HEADER

logger = logging.getLogger(__name__)

ID_PREFIX = "resp_"


def create_response(request: IncomingRequest, settings: EndpointSettings, dify: DifyPort, forms: AppFormCache,
                    timing: Timing) -> HttpResponse:
    call = parse_responses_request(request.body, request.declared_length)
    settings = settings.serving(call.chat.model)
    named, earlier = _continued_conversation(request, call, ConversationMemory(dify, dify.endpoint_id,
                                                                               settings.app_id))
    try:
        run = start_run(request, call.chat, settings, dify, forms, timing, named, earlier_turns=earlier)
    except OpenAIError as error:
        raise call.in_request_terms(error) from None
    echo = ResponseEcho.of(call.request)
    remember = _remembering(run, call, echo.store)

    def builder() -> ResponseBuilder:
        response_id, created, _ = run.identity(ID_PREFIX)
        return ResponseBuilder(response_id, created, echo)

    if call.request.stream:
        return delivery.stream(run, lambda: ResponsesStreamWriter(builder()), timing, remember)
    whole = builder()
    return delivery.whole(run, whole, lambda: whole.response().model_dump(), remember)


def retrieve_response(response_id: str) -> NoReturn:
    raise OpenAIError(
        404,
        f"Response '{response_id[:80]}' not found: this endpoint does not store responses. It only remembers "
        "which Dify conversation a response belongs to, so that 'previous_response_id' can continue it; the "
        "conversation itself is in the Dify app's logs.",
        "invalid_request_error", None, "not_found")


def _continued_conversation(request: IncomingRequest, call: ResponsesCall,
                            memory: ConversationMemory) -> tuple[Continuation | None, list[str]]:
    """The conversation the request continues, and the stored dialogue to seed a new one with instead."""
    explicit = named_conversation(request, call.chat)
    previous = call.request.previous_response_id
    if not previous:
        return explicit, []
    if explicit is not None:
        raise invalid_request(f"Send either 'previous_response_id' or a conversation id ('conversation_id' or "
                              f"the {CONVERSATION_HEADER} header), not both.", "previous_response_id")
    found = memory.find_response(previous)
    if found is Lookup.UNAVAILABLE:
        logger.warning("previous_response_id %.80s: plugin storage is unavailable; answering without its history",
                       previous)
        return None, []
    if found is Lookup.MISSING:
        raise invalid_request(
            f"Previous response with id '{previous[:80]}' not found. This endpoint remembers the ids of its latest "
            "responses from chat-type apps (not workflow apps, not those made with 'store': false); send the "
            "whole conversation in 'input' instead.", "previous_response_id", "previous_response_not_found")
    if not found.conversation_id:  # Dify lost the chain's conversation earlier: seed a new one right away
        return None, memory.chain_history(found)
    return Continuation(found.conversation_id, Source.RESPONSE, response_id=previous), []


def _remembering(run: Run, call: ResponsesCall, store: bool) -> Callable[[], None]:
    def remember() -> None:
        run.remember()
        response_id, _, conversation_id = run.identity(ID_PREFIX)
        if store and conversation_id:
            turn = transcript([*call.said, ChatMessage(role="assistant", content=run.pipeline.answer)])
            run.memory.remember_response(response_id, ResponseRecord(
                conversation_id, call.request.previous_response_id or "", turn))

    return remember
