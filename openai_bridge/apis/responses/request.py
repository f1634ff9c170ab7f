"""Parsing a Responses API request and restating it as a chat completion request.

Everything after parsing (memory modes, system prompts, inputs, files, the Dify call) is shared with Chat
Completions through `run.start.start_run`, so this module only translates: `instructions` become a system
message, message items become chat messages, and function calls with their outputs become the assistant tool
calls and tool messages chat histories carry. Errors found later in chat terms (`messages[2].content[1]`) are
restated in the request's own terms (`input[1].content[1]`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from openai_bridge.apis.rules import check_tool_choice, refuse_partial_answer
from openai_bridge.errors import OpenAIError, invalid_request, unsupported_value
from openai_bridge.wire.body import parse_json_object, validate
from openai_bridge.wire.chat import AudioPart as ChatAudioPart
from openai_bridge.wire.chat import (
    ChatCompletionRequest,
    ChatMessage,
    ContentPart,
    FileData,
    FilePart,
    FunctionCall,
    ImagePart,
    ImageURL,
    TextPart,
    ToolCall,
)
from openai_bridge.wire.chat import RefusalPart as ChatRefusalPart
from openai_bridge.wire.responses import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputAudioPart,
    InputFilePart,
    InputImagePart,
    InputTextPart,
    MessageItem,
    OutputTextPart,
    RefusalPart,
    ResponsesRequest,
)

# A chat message reference, not a part of another name (a client's own input may be called "messages[9].x").
_CHAT_PARAM = re.compile(r"(?<![\w.\]])messages\[(\d+)\]\.content(\[\d+\])?[\w.]*")


@dataclass(frozen=True)
class ResponsesCall:
    request: ResponsesRequest
    chat: ChatCompletionRequest
    # For each chat message, where its content was in the request ("input[2].content", "instructions").
    sources: tuple[str, ...]

    @property
    def said(self) -> list[ChatMessage]:
        """The request's own dialogue: its messages but the system prompt (`instructions`, system items)."""
        return [m for m in self.chat.messages if m.role not in {"system", "developer"}]

    def in_request_terms(self, error: OpenAIError) -> OpenAIError:
        def restate(match: re.Match[str]) -> str:
            index = int(match.group(1))
            if index >= len(self.sources):
                return match.group(0)
            return self.sources[index] + (match.group(2) or "")

        param = _CHAT_PARAM.sub(restate, error.param) if error.param else error.param
        return dataclasses.replace(error, message=_CHAT_PARAM.sub(restate, error.message), param=param)


def parse_responses_request(body: bytes, declared_length: int | None = None) -> ResponsesCall:
    request = validate(ResponsesRequest, parse_json_object(body, declared_length))
    _reject_unsupported(request)
    messages, sources = _messages(request)
    chat = ChatCompletionRequest(model=request.model, messages=messages, stream=request.stream, user=request.user,
                                 conversation_id=request.conversation_id, inputs=request.inputs)
    return ResponsesCall(request, chat, tuple(sources))


def _reject_unsupported(request: ResponsesRequest) -> None:
    if request.background:
        raise unsupported_value("This endpoint does not store responses, so it cannot run them in the background; "
                                "leave 'background' unset.", "background")
    # Tools are accepted and ignored, as in chat: Codex CLI and the Agents SDK always declare theirs, and the Dify
    # app, which runs its own tools, simply answers in text. Only forcing a client tool is refused.
    check_tool_choice(request.tool_choice)


def _messages(request: ResponsesRequest) -> tuple[list[ChatMessage], list[str]]:
    messages: list[ChatMessage] = []
    sources: list[str] = []
    if request.instructions:
        messages.append(ChatMessage(role="system", content=request.instructions))
        sources.append("instructions")
    if isinstance(request.input, str):
        messages.append(ChatMessage(role="user", content=request.input))
        sources.append("input")
    elif not request.input:
        raise invalid_request("'input' must not be empty.", "input")
    for index, item in enumerate(request.input if isinstance(request.input, list) else []):
        param = f"input[{index}]"
        if isinstance(item, MessageItem):
            content = item.content if isinstance(item.content, str) else \
                [_part(part, f"{param}.content[{position}]") for position, part in enumerate(item.content)]
            messages.append(ChatMessage(role=item.role, content=content))
            sources.append(f"{param}.content")
        elif isinstance(item, FunctionCallItem):
            call = ToolCall(id=item.call_id, function=FunctionCall(name=item.name, arguments=item.arguments))
            messages.append(ChatMessage(role="assistant", tool_calls=[call]))
            sources.append(param)
        elif isinstance(item, FunctionCallOutputItem):
            output = item.output if isinstance(item.output, str) else \
                [_part(part, f"{param}.output[{position}]") for position, part in enumerate(item.output)]
            messages.append(ChatMessage(role="tool", content=output, tool_call_id=item.call_id))
            sources.append(f"{param}.output")
        # Reasoning items are left out: the app does not need its earlier reasoning to continue.
    if not any(m.role == "user" for m in messages):
        raise invalid_request("'input' must contain at least one user message.", "input")
    refuse_partial_answer(messages, sources)
    return messages, sources


def _part(part: InputTextPart | OutputTextPart | RefusalPart | InputAudioPart | InputImagePart | InputFilePart,
          param: str) -> ContentPart:
    if isinstance(part, InputTextPart | OutputTextPart):
        return TextPart(type="text", text=part.text)
    if isinstance(part, RefusalPart):
        return ChatRefusalPart(type="refusal", refusal=part.refusal)
    if isinstance(part, InputAudioPart):
        return ChatAudioPart(type="input_audio", input_audio=part.input_audio)
    if isinstance(part, InputImagePart):
        if part.image_url:
            return ImagePart(type="image_url", image_url=ImageURL(url=part.image_url, detail=part.detail))
        if part.file_id:
            return FilePart(type="file", file=FileData(file_id=part.file_id))
        raise invalid_request(f"{param} needs an 'image_url' (an https or data URL).", param)
    if part.file_data or part.file_id:
        return FilePart(type="file", file=FileData(file_data=part.file_data, file_id=part.file_id,
                                                   filename=part.filename))
    raise unsupported_value(f"{param}: file URLs are not supported; send the file inline as 'file_data'.",
                            f"{param}.file_url")
