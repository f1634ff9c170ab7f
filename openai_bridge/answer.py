"""The neutral pieces of an answer, between Dify's events and any OpenAI response format.

Dify's event vocabulary differs per app mode; OpenAI has several response formats (chat completions, responses,
legacy completions). Translating both sides to and from these few values keeps each side simple.
"""

from __future__ import annotations

from dataclasses import dataclass

from openai_bridge.errors import OpenAIError


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Reasoning:
    text: str
    from_agent_steps: bool = False  # an agent's tool round trip rather than the model's own reasoning


@dataclass(frozen=True, slots=True)
class Replace:
    """Dify's output moderation replaced the whole answer with this text."""

    text: str


@dataclass(frozen=True, slots=True)
class TokenUsage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True, slots=True)
class Finish:
    reason: str = "stop"


@dataclass(frozen=True, slots=True)
class Failure:
    error: OpenAIError


@dataclass(frozen=True, slots=True)
class Source:
    """A passage the app's knowledge retrieval gave the model (Dify's retriever resources)."""

    position: int
    title: str  # the document's name
    content: str  # the passage itself
    collection: str = ""  # the knowledge base (Dify's dataset) it came from
    url: str = ""  # where the document lives, when Dify knows (a crawled web page)
    document_id: str = ""
    score: float | None = None


@dataclass(frozen=True, slots=True)
class Sources:
    items: tuple[Source, ...]


AnswerPart = Text | Reasoning | Replace | TokenUsage | Sources | Finish | Failure
