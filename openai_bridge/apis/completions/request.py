"""Parsing a legacy Completions request and restating it as a chat completion request with one user message."""

from __future__ import annotations

from openai_bridge.apis.rules import check_single_choice, check_stop, refuse_logprobs
from openai_bridge.errors import invalid_request, unsupported_value
from openai_bridge.wire.body import parse_json_object, validate
from openai_bridge.wire.chat import ChatCompletionRequest, ChatMessage
from openai_bridge.wire.completions import CompletionRequest


def parse_completion_request(body: bytes, declared_length: int | None = None) -> CompletionRequest:
    request = validate(CompletionRequest, parse_json_object(body, declared_length))
    _reject_unsupported(request)
    return request


def to_chat(request: CompletionRequest) -> ChatCompletionRequest:
    return ChatCompletionRequest(model=request.model, messages=[ChatMessage(role="user", content=_prompt(request))],
                                 stream=request.stream, stream_options=request.stream_options, stop=request.stop,
                                 user=request.user, conversation_id=request.conversation_id, inputs=request.inputs)


def _prompt(request: CompletionRequest) -> str:
    prompt = request.prompt
    if isinstance(prompt, list):
        if not all(isinstance(p, str) for p in prompt):
            raise unsupported_value("Token arrays are not supported: a Dify app reads text; send 'prompt' as a "
                                    "string.", "prompt")
        if len(prompt) != 1:
            raise unsupported_value("A Dify app answers one prompt per request; send 'prompt' as one string.",
                                    "prompt")
        prompt = prompt[0]
    if not prompt.strip():
        raise invalid_request("'prompt' is empty; send some text.", "prompt")
    return prompt


def _reject_unsupported(request: CompletionRequest) -> None:
    check_single_choice(request.n)
    check_single_choice(request.best_of, "best_of")
    check_stop(request.stop)
    if request.echo:
        raise unsupported_value("This endpoint cannot echo the prompt; 'echo' must be false.", "echo")
    if request.suffix:
        raise unsupported_value("Dify apps do not insert text before a suffix; leave 'suffix' unset.", "suffix")
    if request.logprobs is not None:
        refuse_logprobs("logprobs", "be null")
