"""Open WebUI's background tasks, its `<attached_files>` markup and "Continue Response", recognised and handled.

The recorded requests are what a running Open WebUI 0.12.4 sent (tests/fixtures/open_webui, README there). The
synthetic prompts have the structure of Open WebUI 0.10's default task templates (backend/open_webui/config.py:
"### Task:", an "### Output:" section naming the JSON key, the history in `<chat_history>` as "USER: ..." lines,
built by utils/task.py) in our own words, and BLOCK is what 0.10's utils/middleware.py add_file_context writes;
they were read from its source, not recorded.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

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

RECORDINGS = Path(__file__).resolve().parents[1] / "fixtures" / "open_webui"
WITH_HEADER, WITHOUT_HEADER = "with-task-header.jsonl", "without-task-header.jsonl"
TASK_HEADER = "X-OpenWebUI-Task"


def recorded(name: str, step: str | None = None) -> list[dict[str, Any]]:
    """The chat requests Open WebUI 0.12.4 sent (tests/fixtures/open_webui/`name`), of one step or all."""
    rows = [json.loads(line) for line in (RECORDINGS / name).read_text().splitlines()]
    return [r for r in rows if r["method"] == "POST" and step in (None, r["step"])]


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


def recognised(row: dict[str, Any]) -> BackgroundTask | None:
    request = IncomingRequest(method="POST", path=row["path"], headers=row["headers"], body=b"")
    return background_task(request, ChatCompletionRequest.model_validate(row["body"]))


def test_every_recorded_task_is_recognised_with_the_header_and_by_its_shape_without():
    named = [(r["step"], r["headers"][TASK_HEADER]) for r in recorded(WITH_HEADER)]
    assert {name for _, name in named} == {"", "title_generation", "tags_generation", "follow_up_generation",
                                           "query_generation"}
    for row in recorded(WITH_HEADER):
        task = recognised(row)
        assert (task.name if task else "") == row["headers"][TASK_HEADER], row["step"]
    # Without the header the same tasks, per step, are told apart by their templates alone.
    shaped = [(r["step"], task.name if (task := recognised(r)) else "") for r in recorded(WITHOUT_HEADER)]
    assert Counter(shaped) == Counter(named)


def test_recorded_tasks_get_answers_without_open_webui_markup():
    for row in recorded(WITH_HEADER, "document"):
        task = recognised(row)
        assert task is not None or row["body"]["stream"]
        if task is not None:
            answer = local_answer(task)
            assert answer is not None and "attached_files" not in answer, task.name
            if task.name in ("title_generation", "query_generation"):
                assert "How many days do I get?" in answer


def test_the_recorded_image_and_document_turns_lose_the_block_and_keep_the_real_name():
    image = next(r for r in recorded(WITH_HEADER, "image") if r["body"]["stream"])
    cleaned, names = without_attached_files(ChatCompletionRequest.model_validate(image["body"]))
    assert names == ["holiday.png"]  # 0.12.4 marks an image type="file" with its content_type
    assert [type(p) for p in cleaned.messages[0].content] == [TextPart, ImagePart]
    document = next(r for r in recorded(WITH_HEADER, "document") if r["body"]["stream"])
    cleaned, names = without_attached_files(ChatCompletionRequest.model_validate(document["body"]))
    text = cleaned.messages[-1].content
    assert names == [] and isinstance(text, str) and "attached_files" not in text
    # The block followed Open WebUI's RAG template, which stays: it holds the document's text.
    assert text.endswith("</context>\n\nHow many days do I get?") and "25 days of annual leave" in text


def test_the_recorded_continue_response_is_refused():
    (row,) = recorded(WITH_HEADER, "continue")
    with pytest.raises(OpenAIError) as refused:
        parse_chat_request(json.dumps(row["body"]).encode())
    assert refused.value.param == "messages[3].content"
