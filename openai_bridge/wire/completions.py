"""The legacy Completions wire format (`POST /completions`), written down once as pydantic models.

Unknown request fields are ignored (pydantic's default), as in chat completions; `prompt` is taken loosely here
and checked in `completions_request`, so that token arrays and prompt batches get a clear 400 of their own.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, StrictBool, StrictInt, StrictStr

from openai_bridge.wire.chat import StreamOptions, Usage
from openai_bridge.wire.extensions import WithExtensions
from openai_bridge.wire.sources import SourceDocument


class CompletionRequest(BaseModel):
    model: StrictStr
    prompt: StrictStr | list[Any]
    stream: StrictBool | None = False
    stream_options: StreamOptions | None = None
    n: StrictInt | None = None
    best_of: StrictInt | None = None
    echo: StrictBool | None = None
    suffix: StrictStr | None = None
    logprobs: StrictInt | None = None
    stop: StrictStr | list[StrictStr] | None = None
    user: Any = None
    # Extensions of this plugin, as in chat completions: a Dify conversation to continue and extra app inputs.
    conversation_id: StrictStr | None = None
    inputs: dict[str, Any] | None = None


class CompletionChoice(BaseModel):
    text: str
    index: int = 0
    logprobs: None = None
    finish_reason: str | None = None


class TextCompletion(WithExtensions):
    """A whole completion, and also the shape of each streamed chunk."""

    EXTENSIONS = ("sources",)

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    system_fingerprint: str | None = None
    choices: list[CompletionChoice]
    usage: Usage | None = None
    sources: list[SourceDocument] | None = None
