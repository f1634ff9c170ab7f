"""Flattening OpenAI chat messages into the text a Dify app receives as its query."""

from __future__ import annotations

import json

from openai_bridge.wire.chat import AudioPart, ChatMessage, FilePart, ImagePart, RefusalPart, TextPart

_ROLE_NAMES = {
    "system": "System",
    "developer": "System",
    "user": "User",
    "assistant": "Assistant",
    "tool": "Tool",
    "function": "Tool",
}


def content_text(message: ChatMessage) -> str:
    """The message's text; non-text parts appear as short placeholders so a transcript stays readable."""
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    pieces: list[str] = []
    for part in content:
        if isinstance(part, TextPart):
            pieces.append(part.text)
        elif isinstance(part, RefusalPart):
            pieces.append(part.refusal)
        elif isinstance(part, ImagePart):
            pieces.append("[image]")
        elif isinstance(part, AudioPart):
            pieces.append("[audio]")
        elif isinstance(part, FilePart):
            pieces.append(f"[file: {part.file.filename or 'attachment'}]")
    return "\n".join(pieces)


def user_text(message: ChatMessage) -> str:
    """Only the text parts: what a user typed, without placeholders for attachments sent as files."""
    if isinstance(message.content, list):
        return "\n".join(p.text for p in message.content if isinstance(p, TextPart))
    return message.content or ""


def render_message(message: ChatMessage) -> str:
    role = _ROLE_NAMES[message.role]
    text = content_text(message)
    lines = [f"{role}: {text}"] if text else []
    for call in message.tool_calls or []:
        lines.append(f"{role} called tool {call.function.name} with {call.function.arguments or '{}'}")
    if message.function_call is not None:
        lines.append(f"{role} called tool {message.function_call.name} with {message.function_call.arguments}")
    if message.role in {"tool", "function"} and message.tool_call_id:
        lines = [f"Tool result ({message.tool_call_id}): {text}"]
    return "\n".join(lines) if lines else f"{role}:"


def transcript(messages: list[ChatMessage]) -> str:
    return "\n\n".join(render_message(m) for m in messages)


def last_user_index(messages: list[ChatMessage]) -> int:
    return max(i for i, m in enumerate(messages) if m.role == "user")


def system_prompt(messages: list[ChatMessage]) -> str:
    return "\n\n".join(content_text(m) for m in messages if m.role in {"system", "developer"} and content_text(m))


def history_json(messages: list[ChatMessage]) -> str:
    """The seed plugin's `messages` app input: the history as JSON role/content pairs."""
    return json.dumps([{"role": m.role, "content": content_text(m)} for m in messages], ensure_ascii=False)
