"""Request options a Dify app cannot honour, refused the same way by every OpenAI API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openai_bridge.dify.transcript import content_text
from openai_bridge.errors import invalid_request, unsupported_value
from openai_bridge.wire.chat import ChatMessage


def check_single_choice(n: int | None, param: str = "n") -> None:
    if n is not None and n != 1:
        raise unsupported_value(f"A Dify app gives one answer per request; '{param}' must be 1.", param)


def refuse_logprobs(param: str, should: str = "be false") -> None:
    raise unsupported_value(f"Dify apps do not return log probabilities; '{param}' must {should}.", param)


def check_tool_choice(choice: Any) -> None:
    """Only "auto" and "none" can be honoured: the app decides about its own tools."""
    if isinstance(choice, dict) or choice not in (None, "none", "auto"):
        raise unsupported_value(
            "A Dify app runs its own tools; it cannot be forced to call a client tool. Use tool_choice "
            "'auto' or 'none'.",
            "tool_choice",
        )


# OpenAI takes 4; some clients (code-completion ones) send a few more, so more are taken, but not without bound:
# each delta of the answer is checked against every sequence.
MAX_STOP_SEQUENCES = 16
MAX_STOP_LENGTH = 256


def check_stop(stop: str | list[str] | None) -> None:
    sequences = [stop] if isinstance(stop, str) else stop or []
    if len(sequences) > MAX_STOP_SEQUENCES:
        raise invalid_request(f"'stop' takes at most {MAX_STOP_SEQUENCES} sequences; this request has "
                              f"{len(sequences)}.", "stop")
    for index, sequence in enumerate(sequences):
        if len(sequence) > MAX_STOP_LENGTH:
            raise invalid_request(f"Each 'stop' sequence may be at most {MAX_STOP_LENGTH} characters long.",
                                  "stop" if isinstance(stop, str) else f"stop[{index}]")


def refuse_partial_answer(messages: Sequence[ChatMessage], params: Sequence[str]) -> None:
    """A dialogue that ends in an assistant message asks to continue that answer (Open WebUI's "Continue
    Response"). A Dify app can only answer the newest user message, which would repeat the whole answer after the
    partial one, so it is refused. An empty trailing assistant message is a placeholder and is left out."""
    last = messages[-1]
    if last.role == "assistant" and not last.tool_calls and content_text(last).strip():
        raise unsupported_value(
            "The last message is an assistant answer to continue, but a Dify app can only answer the newest user "
            "message and would start its answer again. Regenerate the response instead, or end the messages "
            "with a user message.", params[len(messages) - 1])
