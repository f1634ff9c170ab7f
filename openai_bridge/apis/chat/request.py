"""Parsing and checking a Chat Completions request: bytes in, a `ChatCompletionRequest` or an OpenAIError out."""

from __future__ import annotations

from openai_bridge.apis.rules import (
    check_single_choice,
    check_stop,
    check_tool_choice,
    refuse_logprobs,
    refuse_partial_answer,
)
from openai_bridge.errors import invalid_request, unsupported_value
from openai_bridge.wire.body import parse_json_object, validate
from openai_bridge.wire.chat import ChatCompletionRequest


def parse_chat_request(body: bytes, declared_length: int | None = None) -> ChatCompletionRequest:
    request = validate(ChatCompletionRequest, parse_json_object(body, declared_length))
    _reject_unsupported(request)
    return request


def _reject_unsupported(request: ChatCompletionRequest) -> None:
    check_single_choice(request.n)
    if request.logprobs:
        refuse_logprobs("logprobs")
    if request.top_logprobs:
        refuse_logprobs("top_logprobs", "be 0")
    if request.modalities and any(m != "text" for m in request.modalities):
        raise unsupported_value("This endpoint only produces text; 'modalities' must be [\"text\"].", "modalities")
    if request.audio is not None:
        raise unsupported_value("This endpoint does not produce audio output; leave 'audio' unset.", "audio")
    check_tool_choice(request.tool_choice)
    check_stop(request.stop)
    if not any(m.role == "user" for m in request.messages):
        raise invalid_request("'messages' must contain at least one message with role 'user'.", "messages")
    refuse_partial_answer(request.messages, [f"messages[{i}].content" for i in range(len(request.messages))])
