"""What Open WebUI sends beyond the OpenAI API: its background tasks and its `<attached_files>` markup.

Open WebUI asks the chat's model for titles, tags, follow-up suggestions, search queries and more with
non-streamed requests of one user message, a "### Task:" prompt that ends in the chat history (its default
templates, backend/open_webui/config.py). Run as chats, each would become a Dify conversation of its own and a thread
entry in memory. They are recognised by the `X-OpenWebUI-Task` header when the admin sets it (`{{TASK}}` in the
connection's headers gives the task's name, and "" on chat turns) and otherwise by the templates' shape, and are
answered here without running the app (`local`) or by the app without being remembered (`app`).

Open WebUI also puts `<attached_files><file type id url content_type name/></attached_files>` ahead of the text of
a user message that has files (utils/middleware.py add_file_context): its own file ids, which mean nothing to a Dify
app. When it read a document itself, its RAG template goes first and the block follows the template's `</context>`.
The block is taken out of every user message, so that the query and memory's thread hashes never hold it, and the
images' real names are given to their uploads. tests/fixtures/open_webui holds what 0.12.4 sent, recorded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from openai_bridge.dify.transcript import user_text
from openai_bridge.http.messages import IncomingRequest
from openai_bridge.wire.chat import ChatCompletionRequest, ChatMessage, TextPart

TASK_HEADER = "X-OpenWebUI-Task"


@dataclass(frozen=True)
class BackgroundTask:
    name: str  # Open WebUI's task name (TASKS in backend/open_webui/constants.py), or what the prompt showed
    prompt: str


# The JSON each template asks for, by the key its output example names: the templates' own output formats.
_TASK_BY_KEY = {
    '"title"': "title_generation",
    '"tags"': "tags_generation",
    '"follow_ups"': "follow_up_generation",
    '"queries"': "query_generation",
    '"prompt"': "image_prompt_generation",
    '"text"': "autocomplete_generation",
    '"tool_calls"': "function_calling",
}
_HISTORY = re.compile(r"<chat_history>\n?(.*?)\n?</chat_history>", re.DOTALL)
_SPEAKER = re.compile(r"^(USER|ASSISTANT|SYSTEM|TOOL): ?", re.MULTILINE)
TITLE_LENGTH = 60


def _single_prompt(chat: ChatCompletionRequest) -> str:
    if len(chat.messages) != 1 or chat.messages[0].role != "user":
        return ""
    return user_text(chat.messages[0])


def background_task(request: IncomingRequest, chat: ChatCompletionRequest) -> BackgroundTask | None:
    """The Open WebUI task this request is, None for a chat turn."""
    name = request.header(TASK_HEADER).strip()
    prompt = _single_prompt(chat)
    if name:
        return BackgroundTask(name, prompt)
    # Without the header: the default templates' shape. A chat turn streams, and its first message, however it
    # begins, does not hold a chat history of its own.
    if chat.stream or not prompt.startswith("### Task:") or not _HISTORY.search(prompt):
        return None
    # The template's own part comes before the history, which may quote anything, other templates included (the
    # answer to a document question quotes Open WebUI's RAG template with its "### Output:").
    template = prompt[:prompt.index("<chat_history>")]
    output = template[template.rfind("### Output"):] if "### Output" in template else template
    name = next((task for key, task in _TASK_BY_KEY.items() if key in output), "unknown")
    return BackgroundTask(name, prompt)


def _user_turns(prompt: str) -> list[str]:
    """The user's turns of the prompt's chat history, as Open WebUI wrote them ("USER: ..."), without the
    attached-files block it keeps in them."""
    found = _HISTORY.search(prompt)
    history = found.group(1) if found else ""
    marks = list(_SPEAKER.finditer(history))
    return [strip_attached_files(history[mark.end(): marks[i + 1].start() if i + 1 < len(marks) else None])[0]
            .strip() for i, mark in enumerate(marks) if mark.group(1) == "USER"]


def _last_user_turn(prompt: str) -> str:
    return next(reversed(_user_turns(prompt)), "")


def title_of(prompt: str) -> str:
    """A chat title from its first user message: its first line, shortened at a word."""
    first = next(iter(_user_turns(prompt)), "")
    line = " ".join(next((ln for ln in first.splitlines() if ln.strip()), "").split())
    if len(line) > TITLE_LENGTH:
        cut = line[:TITLE_LENGTH].rsplit(" ", 1)[0] or line[:TITLE_LENGTH]
        line = cut.rstrip(" ,.;:") + "…"
    return line or "New chat"


def local_answer(task: BackgroundTask) -> str | None:
    """The answer Open WebUI parses for `task`, made without the app; None for a task only the app can do (a
    mixture-of-agents synthesis, a task this module does not know)."""
    answers: dict[str, object] = {
        "title_generation": {"title": title_of(task.prompt)},
        "tags_generation": {"tags": []},
        "follow_up_generation": {"follow_ups": []},
        # Open WebUI searches with the question itself when it gets no queries; saying so is clearer.
        "query_generation": {"queries": [q] if (q := _last_user_turn(task.prompt)) else []},
        "image_prompt_generation": {"prompt": _last_user_turn(task.prompt)},
        "autocomplete_generation": {"text": ""},
        # Open WebUI's own tools cannot be run by a Dify app, which runs its own: choose none of them.
        "function_calling": {"tool_calls": []},
        "emoji_generation": "🙂",
    }
    answer = answers.get(task.name)
    if answer is None:
        return None
    return answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)


# ---------------------------------------------------------------- attached files

# At the start of the text, or right after the `</context>` of Open WebUI's RAG template (which goes first).
_ATTACHED = re.compile(r"(?:\A|(?<=</context>))\s*<attached_files>\s*((?:<file\b[^>]*/>\s*)*)</attached_files>\s*")
_FILE = re.compile(r"<file\b([^>]*)/>")
_ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')


@dataclass(frozen=True)
class AttachedFile:
    kind: str  # "image" or "file"
    name: str
    content_type: str


def strip_attached_files(text: str) -> tuple[str, list[AttachedFile]]:
    """The text without Open WebUI's `<attached_files>` block, and the files it listed."""
    block = _ATTACHED.search(text)
    if block is None:
        return text, []
    files = []
    for tag in _FILE.finditer(block.group(1)):
        attributes = dict(_ATTRIBUTE.findall(tag.group(1)))
        files.append(AttachedFile(attributes.get("type", "file"), attributes.get("name", ""),
                                  attributes.get("content_type", "")))
    rest = text[block.end():]
    return (text[:block.start()] + "\n\n" + rest if block.start() else rest), files


def _without_block(message: ChatMessage) -> tuple[ChatMessage, list[AttachedFile]]:
    content = message.content
    if isinstance(content, str):
        text, files = strip_attached_files(content)
        return (message.model_copy(update={"content": text}), files) if files or text != content else (message, [])
    if not isinstance(content, list):
        return message, []
    # Open WebUI puts the block in a text part of its own ahead of the message's parts.
    first = next((i for i, part in enumerate(content) if isinstance(part, TextPart)), None)
    if first is None:
        return message, []
    part = content[first]
    assert isinstance(part, TextPart)
    text, files = strip_attached_files(part.text)
    if text == part.text:
        return message, []
    parts = list(content)
    if text.strip():
        parts[first] = part.model_copy(update={"text": text})
    else:
        del parts[first]
    return message.model_copy(update={"content": parts}), files


def without_attached_files(chat: ChatCompletionRequest) -> tuple[ChatCompletionRequest, list[str]]:
    """`chat` with the block out of every user message, and the names of the newest user message's images, in
    order (Open WebUI sends an image's bytes as a data URL under a made-up name)."""
    messages: list[ChatMessage] = []
    image_names: list[str] = []
    changed = False
    for message in chat.messages:
        if message.role == "user":
            cleaned, files = _without_block(message)
            changed = changed or cleaned is not message
            image_names = [f.name for f in files if f.kind == "image" or f.content_type.startswith("image/")]
            message = cleaned
        messages.append(message)
    if not changed:
        return chat, image_names
    return chat.model_copy(update={"messages": messages}), image_names
