"""The models an emulated app calls: scripted stand-ins for a model provider, and Dify's usage accounting.

A model is `{"provider", "name", "script"}`; the script decides the answer:
- `echo`: the last user message, cut into several deltas;
- `fake`: the fake provider the golden recordings were made with (tests/golden/recordings/llm/README.md):
  fixed texts chosen by the prompt, `<think>` deltas, a `current_time` tool call, ReAct steps, a provider error.
Either way the last chunk carries only the usage, with empty text, as real providers send it.
"""

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

SCRIPTS = ("echo", "fake")
DELTA_COUNT = 4

# The fake provider's prices (per unit of PRICE_UNIT USD), non-zero so that price fields are exercised.
PROMPT_UNIT_PRICE = Decimal("1")
COMPLETION_UNIT_PRICE = Decimal("2")
PRICE_UNIT = Decimal("0.000001")
PRICE_QUANTUM = Decimal("0.0000001")
# Tokens a tool call costs on top of the answer's words, and each message on top of its words.
TOOL_CALL_TOKENS = 8
MESSAGE_TOKENS = 3
FAKE_CALL_ID = "call_fake_0001"
FAKE_ERROR = "fake provider: rate limit reached"
# Dify's ReAct instruction names the action format $JSON_BLOB: that is how the fake tells a ReAct prompt.
REACT_MARKER = "$JSON_BLOB"


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as providers send it


@dataclass(frozen=True)
class Message:
    """A prompt message as Dify sends it to the model."""

    role: str  # system | user | assistant | tool
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    name: str | None = None  # the tool's name, for tool messages


@dataclass(frozen=True)
class Tool:
    """A tool offered to the model (function calling)."""

    name: str
    description: str


@dataclass(frozen=True)
class Chunk:
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: dict[str, Any] | None = None


@dataclass(frozen=True)
class Model:
    provider: str
    name: str
    script: str

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> "Model":
        """A scenario's model; without one, the echo model (`dify-emulator/echo/echo`)."""
        spec = spec or {}
        script = str(spec.get("script", "echo"))
        return cls(str(spec.get("provider", f"dify-emulator/{script}/{script}")), str(spec.get("name", script)), script)


class ModelError(Exception):
    """The provider failed (Dify reports it as an InvokeError with this message)."""


@dataclass
class Reply:
    """What one model call streamed."""

    chunks: list[Chunk] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(chunk.text for chunk in self.chunks)

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return tuple(call for chunk in self.chunks for call in chunk.tool_calls)

    @property
    def usage(self) -> dict[str, Any]:
        return next((chunk.usage for chunk in reversed(self.chunks) if chunk.usage), empty_usage())


def split_deltas(text: str, count: int = DELTA_COUNT) -> list[str]:
    """`text` cut into `count` pieces (fewer for very short texts), at word boundaries when there are enough
    words, else inside words, as LLM tokens are; joined they give `text` back exactly."""
    pieces = re.findall(r"\s*\S+\s*|\s+", text)
    if len(pieces) < count:
        pieces = list(text) or [""]
    n, k = len(pieces), min(count, len(pieces))
    return ["".join(pieces[i * n // k : (i + 1) * n // k]) for i in range(k)]


def invoke(model: Model, messages: Sequence[Message], tools: Sequence[Tool] = ()) -> Reply:
    """One streamed model call; raises ModelError when the script makes the provider fail."""
    if model.script == "echo":
        deltas: list[str] = split_deltas(_last_user_message(messages))
        tool_calls: tuple[ToolCall, ...] = ()
    else:
        deltas, tool_calls = _fake(messages, tools)
    extra = TOOL_CALL_TOKENS if tool_calls else 0
    usage = model_usage(_prompt_tokens(messages), _words("".join(deltas)) + extra)
    chunks = [Chunk(text) for text in deltas]
    if tool_calls:
        chunks.append(Chunk("", tool_calls))
    return Reply([*chunks, Chunk("", usage=usage)])


def _fake(messages: Sequence[Message], tools: Sequence[Tool]) -> tuple[list[str], tuple[ToolCall, ...]]:
    query = _last_user_message(messages)
    if "please fail" in query:
        raise ModelError(FAKE_ERROR)
    if any(m.role == "system" and REACT_MARKER in m.content for m in messages):
        return _fake_react(messages, query), ()
    tool_result = next((m.content for m in messages if m.role == "tool"), None)
    if tool_result is not None:
        return ["The current time ", "(from the current_time tool) ", "is ", tool_result, "."], ()
    if "time" in query and any(tool.name == "current_time" for tool in tools):
        return [], (ToolCall(FAKE_CALL_ID, "current_time", json.dumps({"timezone": "UTC"})),)
    if "think" in query:
        return ["<think>\n", "some reasoning", "\n</think>", "\n\nThe answer ", "is 42."], ()
    return ["Hello! ", "This is fake-chat. ", "You said: ", query], ()


def _fake_react(messages: Sequence[Message], query: str) -> list[str]:
    if any(m.role == "assistant" and "Observation:" in m.content for m in messages):
        thought = "I now know the current time."
        action: dict[str, Any] = {"action": "Final Answer",
                                  "action_input": "The current time is known (ReAct final answer)."}
    elif "time" in query:
        thought, action = "I need the current time.", {"action": "current_time", "action_input": {"timezone": "UTC"}}
    else:
        thought, action = "I can answer directly.", {"action": "Final Answer",
                                                     "action_input": "Hello from the ReAct agent."}
    return ["Thought: ", f"{thought}\n", "Action:\n", f"```\n{json.dumps(action)}\n", "```"]


def _last_user_message(messages: Sequence[Message]) -> str:
    return next((m.content for m in reversed(messages) if m.role == "user"), "")


def _words(text: str) -> int:
    return len(text.split())


def _prompt_tokens(messages: Sequence[Message]) -> int:
    return sum(_words(m.content) + MESSAGE_TOKENS for m in messages)


def _price(tokens: int, unit_price: Decimal) -> Decimal:
    return (tokens * unit_price * PRICE_UNIT).quantize(PRICE_QUANTUM)


def model_usage(prompt_tokens: int, completion_tokens: int, latency: float = 0.25) -> dict[str, Any]:
    """LLMUsage of one call as Dify reports it (prices are decimal strings)."""
    prompt_price = _price(prompt_tokens, PROMPT_UNIT_PRICE)
    completion_price = _price(completion_tokens, COMPLETION_UNIT_PRICE)
    return {
        "prompt_tokens": prompt_tokens,
        "prompt_unit_price": str(PROMPT_UNIT_PRICE),
        "prompt_price_unit": str(PRICE_UNIT),
        "prompt_price": f"{prompt_price:f}",
        "completion_tokens": completion_tokens,
        "completion_unit_price": str(COMPLETION_UNIT_PRICE),
        "completion_price_unit": str(PRICE_UNIT),
        "completion_price": f"{completion_price:f}",
        "total_tokens": prompt_tokens + completion_tokens,
        "total_price": f"{prompt_price + completion_price:f}",
        "currency": "USD",
        "latency": latency,
        "time_to_first_token": None,
        "time_to_generate": None,
    }


def empty_usage() -> dict[str, Any]:
    """LLMUsage.empty_usage(): what a run without any model call reports."""
    return {
        "prompt_tokens": 0,
        "prompt_unit_price": "0.0",
        "prompt_price_unit": "0.0",
        "prompt_price": "0.0",
        "completion_tokens": 0,
        "completion_unit_price": "0.0",
        "completion_price_unit": "0.0",
        "completion_price": "0.0",
        "total_tokens": 0,
        "total_price": "0.0",
        "currency": "USD",
        "latency": 0.0,
        "time_to_first_token": None,
        "time_to_generate": None,
    }


def sum_usage(usages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The usage of several calls together, as Dify sums an agent's rounds or a run's LLM nodes."""
    if not usages:
        return empty_usage()
    total = dict(usages[0])
    for usage in usages[1:]:
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            total[key] += usage[key]
        for key in ("prompt_price", "completion_price", "total_price"):
            total[key] = f"{Decimal(total[key]) + Decimal(usage[key]):f}"
        total["latency"] += usage["latency"]
    return total
