"""Open WebUI's background tasks, its `<attached_files>` markup and "Continue Response", recognised and handled.

The prompts below have the structure of Open WebUI 0.10's default task templates (backend/open_webui/config.py:
"### Task:", an "### Output:" section naming the JSON key, the history in `<chat_history>` as "USER: ..." lines,
built by utils/task.py) in our own words; the attached-files block is what utils/middleware.py add_file_context
writes. They are built from its source, not recorded from a running instance.
"""

from __future__ import annotations

import json

import pytest

from openai_bridge.apis.chat.request import parse_chat_request
from openai_bridge.apis.responses.request import parse_responses_request
from openai_bridge.clients.open_webui import (
    BackgroundTask,
    background_task,
    local_answer,
    strip_attached_files,
    title_of,
    without_attached_files,
)
from openai_bridge.errors import OpenAIError
from openai_bridge.http.messages import IncomingRequest
from openai_bridge.wire.chat import ChatCompletionRequest, ImagePart, TextPart

HISTORY = "USER: How do I book leave?\nASSISTANT: Use the HR portal.\nIt takes a minute."
OUTPUT = {
    "title_generation": 'JSON format: { "title": "a short title" }',
    "tags_generation": 'JSON format: { "tags": ["one", "two"] }',
    "follow_up_generation": 'JSON format: { "follow_ups": ["A question?"] }',
    "query_generation": 'Return JSON: { "queries": ["q1"] }',
    "image_prompt_generation": 'Return JSON: { "prompt": "a description" }',
    "autocomplete_generation": 'Reply as JSON: { "text": "<the rest>" }',
}


def task_prompt(output: str, history: str = HISTORY) -> str:
    return (f"### Task:\nDo the chore for this chat.\n### Guidelines:\n- Be brief.\n### Output:\n{output}\n"
            f"### Chat History:\n<chat_history>\n{history}\n</chat_history>")


def incoming(headers: dict[str, str] | None = None) -> IncomingRequest:
    return IncomingRequest(method="POST", path="/v1/chat/completions", headers=headers or {}, body=b"")


def chat(*messages: dict, stream: bool = False) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "m", "messages": list(messages), "stream": stream})


@pytest.mark.parametrize("name", sorted(OUTPUT))
def test_each_default_template_is_recognised_without_the_header(name):
    task = background_task(incoming(), chat({"role": "user", "content": task_prompt(OUTPUT[name])}))
    assert task is not None and task.name == name


def test_the_header_names_the_task_exactly_and_an_unknown_one_runs_the_app():
    request = chat({"role": "user", "content": "Summarise these answers: ..."}, stream=True)
    task = background_task(incoming({"X-OpenWebUI-Task": "moa_response_generation"}), request)
    assert task == BackgroundTask("moa_response_generation", "Summarise these answers: ...")
    assert local_answer(task) is None


@pytest.mark.parametrize("messages, stream", [
    ([{"role": "user", "content": task_prompt(OUTPUT["title_generation"])}], True),  # a chat turn streams
    ([{"role": "user", "content": "### Task: write a poem"}], False),  # no chat history of its own
    ([{"role": "system", "content": "x"}, {"role": "user", "content": task_prompt(OUTPUT["tags_generation"])}],
     False),
])
def test_chat_turns_are_not_tasks(messages, stream):
    assert background_task(incoming({"X-OpenWebUI-Task": ""}), chat(*messages, stream=stream)) is None


def test_local_answers_are_the_json_open_webui_parses():
    def answer(name: str) -> object:
        text = local_answer(BackgroundTask(name, task_prompt(OUTPUT.get(name, ""))))
        assert text is not None
        return json.loads(text) if text.startswith("{") else text

    assert answer("title_generation") == {"title": "How do I book leave?"}
    assert answer("tags_generation") == {"tags": []}
    assert answer("follow_up_generation") == {"follow_ups": []}
    assert answer("query_generation") == {"queries": ["How do I book leave?"]}
    assert answer("image_prompt_generation") == {"prompt": "How do I book leave?"}
    assert answer("autocomplete_generation") == {"text": ""}
    assert answer("function_calling") == {"tool_calls": []}
    assert answer("emoji_generation") == "🙂"


def test_a_title_is_the_first_line_of_the_first_user_message_cut_at_a_word():
    long = "Please explain   how the quarterly revenue recognition rules apply to multi-year contracts\nthanks"
    assert title_of(task_prompt("", f"USER: {long}\nASSISTANT: Sure.")) == \
        "Please explain how the quarterly revenue recognition rules…"
    assert title_of(task_prompt("", "USER: 你好\nASSISTANT: 你好！")) == "你好"
    assert title_of(task_prompt("", "")) == "New chat"


BLOCK = ('<attached_files>\n<file type="image" url="/api/v1/files/4f1e/content" content_type="image/png" '
         'name="cat photo.png"/>\n<file type="file" url="/api/v1/files/9a2b/content" name="notes.pdf"/>\n'
         '</attached_files>\n\n')


def test_the_block_is_taken_off_the_front_with_its_files():
    text, files = strip_attached_files(BLOCK + "What is this?")
    assert text == "What is this?"
    assert [(f.kind, f.name, f.content_type) for f in files] == [
        ("image", "cat photo.png", "image/png"), ("file", "notes.pdf", "")]
    quoted = "Why does my prompt contain " + BLOCK
    assert strip_attached_files(quoted) == (quoted, [])  # only Open WebUI's own prefix is markup


def test_every_user_message_loses_the_block_and_the_newest_images_keep_their_names():
    png = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    request = chat(
        {"role": "user", "content": BLOCK + "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": BLOCK}, {"type": "text", "text": "second"}, png]},
    )
    cleaned, names = without_attached_files(request)
    assert cleaned.messages[0].content == "first"
    parts = cleaned.messages[2].content
    assert isinstance(parts, list) and isinstance(parts[0], TextPart) and parts[0].text == "second"
    assert isinstance(parts[1], ImagePart)
    assert names == ["cat photo.png"]
    assert without_attached_files(chat({"role": "user", "content": "plain"})) == (
        chat({"role": "user", "content": "plain"}), [])


def test_continue_response_is_refused_on_both_apis_and_an_empty_placeholder_is_not():
    body = {"model": "m", "messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "Half"}]}
    with pytest.raises(OpenAIError) as refused:
        parse_chat_request(json.dumps(body).encode())
    assert (refused.value.status, refused.value.param, refused.value.code) == (
        400, "messages[1].content", "unsupported_value")
    assert "Regenerate" in refused.value.message
    body["messages"][1]["content"] = ""
    parse_chat_request(json.dumps(body).encode())
    responses = {"model": "m", "input": [{"role": "user", "content": "Q"},
                                         {"role": "assistant", "content": [{"type": "output_text", "text": "Ha"}]}]}
    with pytest.raises(OpenAIError) as refused:
        parse_responses_request(json.dumps(responses).encode())
    assert refused.value.param == "input[1].content"
