"""Request options a Dify app cannot honour, refused the same way by every OpenAI API."""

from __future__ import annotations

from typing import Any

from .errors import unsupported_value


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
