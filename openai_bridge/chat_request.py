"""Parsing and checking a Chat Completions request: bytes in, a `ChatCompletionRequest` or an OpenAIError out."""

from __future__ import annotations

from .errors import invalid_request, unsupported_value
from .protocol import ChatCompletionRequest
from .request_body import parse_json_object, validate


def parse_chat_request(body: bytes, declared_length: int | None = None) -> ChatCompletionRequest:
    request = validate(ChatCompletionRequest, parse_json_object(body, declared_length))
    _reject_unsupported(request)
    return request


def _reject_unsupported(request: ChatCompletionRequest) -> None:
    if request.n is not None and request.n != 1:
        raise unsupported_value("A Dify app gives one answer per request; 'n' must be 1.", "n")
    if request.logprobs:
        raise unsupported_value("Dify apps do not return log probabilities; 'logprobs' must be false.", "logprobs")
    if request.top_logprobs:
        raise unsupported_value("Dify apps do not return log probabilities; 'top_logprobs' must be 0.",
                                "top_logprobs")
    if request.modalities and any(m != "text" for m in request.modalities):
        raise unsupported_value("This endpoint only produces text; 'modalities' must be [\"text\"].", "modalities")
    if request.audio is not None:
        raise unsupported_value("This endpoint does not produce audio output; leave 'audio' unset.", "audio")
    choice = request.tool_choice
    if isinstance(choice, dict) or choice not in (None, "none", "auto"):
        raise unsupported_value(
            "A Dify app runs its own tools; it cannot be forced to call a client tool. Use tool_choice "
            "'auto' or 'none'.",
            "tool_choice",
        )
    if not any(m.role == "user" for m in request.messages):
        raise invalid_request("'messages' must contain at least one message with role 'user'.", "messages")
