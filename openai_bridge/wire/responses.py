"""The Responses API wire format (`POST /responses`), written down once as pydantic models.

Requests are lenient where clients differ (unknown fields are ignored, message items may leave out `type`) and
strict about types. Responses and stream events carry every field the official SDK's `Response` model requires.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, StrictBool, StrictStr, Tag

from openai_bridge.wire.chat import InputAudio
from openai_bridge.wire.extensions import WithExtensions
from openai_bridge.wire.sources import SourceDocument

# ---------------------------------------------------------------- request


def _tag_of(default: str | None) -> Callable[[Any], str | None]:
    def tag(value: Any) -> str | None:
        kind = value.get("type", default) if isinstance(value, dict) else getattr(value, "type", None)
        # Tags are not identifiers, so request_body.param_path leaves them out of a 400's `param`.
        return f"<{kind}>" if isinstance(kind, str) else None

    return tag


def _by_type(default: str | None, accepted: str) -> Discriminator:
    return Discriminator(_tag_of(default), custom_error_type="unsupported_type",
                         custom_error_message=f"unsupported type; this endpoint accepts {accepted}")


class InputTextPart(BaseModel):
    type: Literal["input_text"] = "input_text"
    text: StrictStr


class OutputTextPart(BaseModel):
    """Assistant text replayed in the history (the previous turns' output items)."""

    type: Literal["output_text"] = "output_text"
    text: StrictStr


class RefusalPart(BaseModel):
    type: Literal["refusal"] = "refusal"
    refusal: StrictStr


class InputImagePart(BaseModel):
    type: Literal["input_image"] = "input_image"
    image_url: StrictStr | None = None
    file_id: StrictStr | None = None
    detail: StrictStr | None = None


class InputFilePart(BaseModel):
    type: Literal["input_file"] = "input_file"
    file_data: StrictStr | None = None
    file_id: StrictStr | None = None
    file_url: StrictStr | None = None
    filename: StrictStr | None = None


class InputAudioPart(BaseModel):
    type: Literal["input_audio"] = "input_audio"
    input_audio: InputAudio


InputContentPart = Annotated[
    Annotated[InputTextPart, Tag("<input_text>")] | Annotated[OutputTextPart, Tag("<output_text>")]
    | Annotated[RefusalPart, Tag("<refusal>")] | Annotated[InputImagePart, Tag("<input_image>")]
    | Annotated[InputFilePart, Tag("<input_file>")] | Annotated[InputAudioPart, Tag("<input_audio>")],
    _by_type(None, "input_text, input_image, input_file, input_audio, output_text and refusal parts")]


class MessageItem(BaseModel):
    type: Literal["message"] = "message"
    role: Literal["user", "system", "developer", "assistant"]
    content: StrictStr | list[InputContentPart]


class FunctionCallItem(BaseModel):
    type: Literal["function_call"] = "function_call"
    call_id: StrictStr
    name: StrictStr
    arguments: StrictStr = ""


class FunctionCallOutputItem(BaseModel):
    type: Literal["function_call_output"] = "function_call_output"
    call_id: StrictStr
    output: StrictStr | list[InputContentPart]


class ReasoningInputItem(BaseModel):
    """A previous turn's reasoning, replayed by clients that resend their output items; the app does not need it."""

    type: Literal["reasoning"] = "reasoning"


# Message items may leave out `type` (the SDKs' "easy input message").
InputItem = Annotated[
    Annotated[MessageItem, Tag("<message>")] | Annotated[FunctionCallItem, Tag("<function_call>")]
    | Annotated[FunctionCallOutputItem, Tag("<function_call_output>")]
    | Annotated[ReasoningInputItem, Tag("<reasoning>")],
    _by_type("message", "message, function_call, function_call_output and reasoning items")]


class ResponsesRequest(BaseModel):
    model: StrictStr
    input: StrictStr | list[InputItem]
    instructions: StrictStr | None = None
    stream: StrictBool | None = False
    previous_response_id: StrictStr | None = None
    store: StrictBool | None = None
    background: StrictBool | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: StrictStr | dict[str, Any] | None = None
    user: Any = None
    metadata: Any = None
    # Extensions of this plugin, as in chat completions: a Dify conversation to continue and extra app inputs.
    conversation_id: StrictStr | None = None
    inputs: dict[str, Any] | None = None


# ---------------------------------------------------------------- response

ItemStatus = Literal["in_progress", "completed", "incomplete"]


class FileCitation(BaseModel):
    """A knowledge-base document the answer drew on (Dify's document id; `index`: where in the text it is cited)."""

    type: Literal["file_citation"] = "file_citation"
    file_id: str
    filename: str
    index: int


class UrlCitation(BaseModel):
    type: Literal["url_citation"] = "url_citation"
    url: str
    title: str
    start_index: int
    end_index: int


Annotation = FileCitation | UrlCitation


class OutputText(BaseModel):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[Annotation] = []


class OutputMessage(BaseModel):
    type: Literal["message"] = "message"
    id: str
    status: ItemStatus
    role: Literal["assistant"] = "assistant"
    content: list[OutputText]


class SummaryText(BaseModel):
    type: Literal["summary_text"] = "summary_text"
    text: str


class ReasoningOutput(BaseModel):
    """The app's reasoning (`<think>` blocks, agent steps), as readable summary text."""

    type: Literal["reasoning"] = "reasoning"
    id: str
    status: ItemStatus
    summary: list[SummaryText]


OutputItem = OutputMessage | ReasoningOutput


class InputTokensDetails(BaseModel):
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class OutputTokensDetails(BaseModel):
    reasoning_tokens: int = 0


class ResponseUsage(BaseModel):
    input_tokens: int = 0
    input_tokens_details: InputTokensDetails = InputTokensDetails()
    output_tokens: int = 0
    output_tokens_details: OutputTokensDetails = OutputTokensDetails()
    total_tokens: int = 0


class ResponseError(BaseModel):
    # The SDK accepts only its own codes here ("server_error", "rate_limit_exceeded", ...).
    code: str
    message: str


class IncompleteDetails(BaseModel):
    reason: Literal["max_output_tokens", "content_filter"]


class TextFormat(BaseModel):
    type: Literal["text"] = "text"


class TextConfig(BaseModel):
    format: TextFormat = TextFormat()


ResponseStatus = Literal["in_progress", "completed", "incomplete", "failed"]


class Response(WithExtensions):
    EXTENSIONS = ("sources",)

    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: ResponseStatus
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None = None
    max_output_tokens: None = None
    model: str
    output: list[OutputItem]
    parallel_tool_calls: bool = True
    previous_response_id: str | None = None
    reasoning: None = None
    store: bool = True
    temperature: None = None
    text: TextConfig = TextConfig()
    tool_choice: Literal["auto"] = "auto"
    tools: list[Any] = []
    top_p: None = None
    truncation: Literal["disabled"] = "disabled"
    usage: ResponseUsage | None = None
    user: str | None = None
    metadata: dict[str, str] = {}
    sources: list[SourceDocument] | None = None


# ---------------------------------------------------------------- stream events
# `sequence_number` is set by the stream writer, which alone knows the order events leave in.


class LifecycleEvent(BaseModel):
    type: Literal["response.created", "response.in_progress", "response.completed", "response.incomplete",
                  "response.failed"]
    response: Response
    sequence_number: int = 0


class OutputItemEvent(BaseModel):
    type: Literal["response.output_item.added", "response.output_item.done"]
    output_index: int
    item: OutputItem
    sequence_number: int = 0


class ContentPartEvent(BaseModel):
    type: Literal["response.content_part.added", "response.content_part.done"]
    item_id: str
    output_index: int
    content_index: int = 0
    part: OutputText
    sequence_number: int = 0


class TextDeltaEvent(BaseModel):
    type: Literal["response.output_text.delta"] = "response.output_text.delta"
    item_id: str
    output_index: int
    content_index: int = 0
    delta: str
    logprobs: list[Any] = []
    sequence_number: int = 0


class TextDoneEvent(BaseModel):
    type: Literal["response.output_text.done"] = "response.output_text.done"
    item_id: str
    output_index: int
    content_index: int = 0
    text: str
    logprobs: list[Any] = []
    sequence_number: int = 0


class SummaryPartEvent(BaseModel):
    type: Literal["response.reasoning_summary_part.added", "response.reasoning_summary_part.done"]
    item_id: str
    output_index: int
    summary_index: int = 0
    part: SummaryText
    sequence_number: int = 0


class SummaryDeltaEvent(BaseModel):
    type: Literal["response.reasoning_summary_text.delta"] = "response.reasoning_summary_text.delta"
    item_id: str
    output_index: int
    summary_index: int = 0
    delta: str
    sequence_number: int = 0


class SummaryDoneEvent(BaseModel):
    type: Literal["response.reasoning_summary_text.done"] = "response.reasoning_summary_text.done"
    item_id: str
    output_index: int
    summary_index: int = 0
    text: str
    sequence_number: int = 0


class AnnotationAddedEvent(BaseModel):
    type: Literal["response.output_text.annotation.added"] = "response.output_text.annotation.added"
    item_id: str
    output_index: int
    content_index: int = 0
    annotation_index: int
    annotation: Annotation
    sequence_number: int = 0


ResponseEvent = (LifecycleEvent | OutputItemEvent | ContentPartEvent | TextDeltaEvent | TextDoneEvent
                 | AnnotationAddedEvent | SummaryPartEvent | SummaryDeltaEvent | SummaryDoneEvent)
