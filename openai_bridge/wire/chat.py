"""The OpenAI wire format, written down once as pydantic models.

Request models are lenient where clients differ (unknown fields are ignored, `user` may be any JSON value) and
strict where a wrong type would otherwise be silently coerced (`stream: "yes"`). Response models produce exactly
the fields the official SDKs parse strictly (`finish_reason` never missing, `role` always present).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_serializer

from openai_bridge.wire.extensions import WithExtensions
from openai_bridge.wire.sources import SourceDocument


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


# ---------------------------------------------------------------- request: content parts


class ImageURL(_Lenient):
    url: StrictStr
    detail: StrictStr | None = None


class TextPart(_Lenient):
    type: Literal["text"]
    text: StrictStr


class ImagePart(_Lenient):
    type: Literal["image_url"]
    image_url: ImageURL


class InputAudio(_Lenient):
    data: StrictStr
    format: StrictStr = "wav"


class AudioPart(_Lenient):
    type: Literal["input_audio"]
    input_audio: InputAudio


class FileData(_Lenient):
    file_data: StrictStr | None = None
    file_id: StrictStr | None = None
    filename: StrictStr | None = None


class FilePart(_Lenient):
    type: Literal["file"]
    file: FileData


class RefusalPart(_Lenient):
    type: Literal["refusal"]
    refusal: StrictStr


ContentPart = Annotated[TextPart | ImagePart | AudioPart | FilePart | RefusalPart, Field(discriminator="type")]


# ---------------------------------------------------------------- request: messages


class FunctionCall(_Lenient):
    name: StrictStr = ""
    arguments: StrictStr = ""


class ToolCall(_Lenient):
    id: StrictStr = ""
    type: StrictStr = "function"
    function: FunctionCall = FunctionCall()


class ChatMessage(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: StrictStr | list[ContentPart] | None = None
    name: StrictStr | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: StrictStr | None = None
    function_call: FunctionCall | None = None


class StreamOptions(_Lenient):
    include_usage: StrictBool | None = None


class ChatCompletionRequest(_Lenient):
    model: StrictStr
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool | None = False
    stream_options: StreamOptions | None = None
    n: StrictInt | None = None
    logprobs: StrictBool | None = None
    top_logprobs: StrictInt | None = None
    modalities: list[StrictStr] | None = None
    audio: dict[str, Any] | None = None
    tool_choice: StrictStr | dict[str, Any] | None = None
    stop: StrictStr | list[StrictStr] | None = None
    user: Any = None
    # Extensions of this plugin: a Dify conversation to continue and extra app inputs.
    conversation_id: StrictStr | None = None
    inputs: dict[str, Any] | None = None


# ---------------------------------------------------------------- responses


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class UrlCitation(BaseModel):
    url: str
    title: str
    start_index: int
    end_index: int


class UrlCitationAnnotation(BaseModel):
    type: Literal["url_citation"] = "url_citation"
    url_citation: UrlCitation


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: None = None
    annotations: list[UrlCitationAnnotation] = []
    reasoning_content: str | None = None

    @classmethod
    def build(cls, content: str, reasoning: str,
              annotations: list[UrlCitationAnnotation] | None = None) -> AssistantMessage:
        # Clients show an empty reasoning panel for "", so the field is left out instead.
        return cls(content=content, reasoning_content=reasoning or None, annotations=annotations or [])


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    logprobs: None = None
    finish_reason: str = "stop"


class ChatCompletion(WithExtensions):
    EXTENSIONS = ("conversation_id", "sources")

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    system_fingerprint: str | None = None
    choices: list[Choice]
    usage: Usage
    conversation_id: str | None = None
    sources: list[SourceDocument] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump()
        for choice in data["choices"]:
            if choice["message"]["reasoning_content"] is None:
                del choice["message"]["reasoning_content"]
        return data


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None
    annotations: list[UrlCitationAnnotation] | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    logprobs: None = None
    finish_reason: str | None = None

    @field_serializer("delta")
    def _only_set_fields(self, delta: Delta) -> dict[str, Any]:
        return delta.model_dump(exclude_none=True)


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    system_fingerprint: str | None = None
    choices: list[ChunkChoice]
    usage: Usage | None = None
    conversation_id: str | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
