"""Open WebUI through the real plugin: a chat with its background tasks leaves one Dify conversation, "Continue
Response" never duplicates an answer, attachments reach the app without Open WebUI's markup.

The requests have the shapes Open WebUI 0.10 sends (read from its source: routers/tasks.py builds the task
requests, utils/headers.py the connection's custom headers, utils/middleware.py the attached-files block); they are
not recorded from a running instance. The task prompts are ours, with the default templates' structure.
"""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.unit.test_open_webui import BLOCK, OUTPUT, task_prompt

from .conftest import API_KEY, scenario
from .test_memory_and_files import FILE_FORM, PNG, app_calls

TASKS = ("title_generation", "tags_generation", "follow_up_generation")


def post(emu, body: dict, task: str | None = None, **headers: str) -> httpx.Response:
    if task is not None:
        headers["X-OpenWebUI-Task"] = task  # the admin's {"X-OpenWebUI-Task": "{{TASK}}"}; "" on chat turns
    return httpx.post(f"{emu.base_url}/v1/chat/completions", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {API_KEY}", **headers})


def streamed_turn(emu, messages: list[dict], with_header: bool) -> str:
    response = post(emu, {"model": "m", "messages": messages, "stream": True}, "" if with_header else None)
    chunks = [json.loads(line[6:]) for line in response.text.splitlines()
              if line.startswith("data: {")]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def run_tasks(emu, history: str, with_header: bool) -> list[dict]:
    answers = []
    for name in TASKS:
        body = {"model": "m", "stream": False, "max_completion_tokens": 1000,
                "messages": [{"role": "user", "content": task_prompt(OUTPUT[name], history)}]}
        response = post(emu, body, name if with_header else None)
        assert response.status_code == 200, response.text
        answers.append(json.loads(response.json()["choices"][0]["message"]["content"]))
    return answers


def storage_writes(emu) -> int:
    return sum(1 for r in emu.records if r["type"] == "storage" and r["request"].get("opt") == "set")


@pytest.mark.parametrize("with_header", [True, False], ids=["task-header", "template-shape"])
def test_a_chat_with_its_title_tags_and_follow_ups_leaves_one_dify_conversation(emu, with_header):
    emu.load_scenario(scenario(memory_mode="conversation"))
    conversations = len(emu.conversations)
    messages = [{"role": "user", "content": "How do I book leave?"}]
    answer = streamed_turn(emu, messages, with_header)
    writes = storage_writes(emu)
    title, tags, follow_ups = run_tasks(emu, f"USER: How do I book leave?\nASSISTANT: {answer}", with_header)
    assert title == {"title": "How do I book leave?"} and tags == {"tags": []} and follow_ups == {"follow_ups": []}
    assert storage_writes(emu) == writes  # no thread entry for a task
    messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": "And sick days?"}]
    streamed_turn(emu, messages, with_header)
    run_tasks(emu, "USER: How do I book leave?\nUSER: And sick days?", with_header)
    first, second = app_calls(emu)  # the tasks never ran the app
    assert second["conversation_id"] and second["query"] == "And sick days?"
    assert len(emu.conversations) == conversations + 1


def test_tasks_the_app_answers_are_never_remembered_nor_run_in_the_chats_conversation(emu):
    emu.load_scenario(scenario(memory_mode="conversation", background_tasks="app"))
    messages = [{"role": "user", "content": "hello"}]
    answer = streamed_turn(emu, messages, True)
    writes = storage_writes(emu)
    headers = {"X-Dify-Conversation-Id": app_calls(emu)[0]["conversation_id"] or ""}
    for name in TASKS:
        body = {"model": "m", "messages": [{"role": "user", "content": task_prompt(OUTPUT[name])}]}
        assert post(emu, body, name, **headers).status_code == 200
    assert storage_writes(emu) == writes
    tasks = app_calls(emu)[1:]
    assert len(tasks) == 3 and not any(t["conversation_id"] for t in tasks)
    assert all(t["query"].startswith("### Task:") for t in tasks)
    messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": "again"}]
    streamed_turn(emu, messages, True)
    assert app_calls(emu)[-1]["query"] == "again" and app_calls(emu)[-1]["conversation_id"]


def test_a_mixture_of_agents_task_streams_from_the_app(emu):
    emu.load_scenario(scenario(memory_mode="conversation"))
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "Combine: A, B"}]}
    response = post(emu, body, "moa_response_generation")
    assert response.status_code == 200 and "data: [DONE]" in response.text
    assert app_calls(emu)[-1]["query"] == "Combine: A, B"


def test_continue_response_gets_a_clear_error_and_runs_nothing(emu, client):
    emu.load_scenario(scenario(memory_mode="conversation"))
    partial = [{"role": "user", "content": "Tell me a story"}, {"role": "assistant", "content": "Once upon a"}]
    response = post(emu, {"model": "m", "messages": partial, "stream": True}, "")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "messages[1].content" and "Regenerate" in error["message"]
    assert not app_calls(emu)


def test_attachments_reach_the_app_without_the_markup_and_under_their_real_names(emu, client):
    emu.load_scenario(scenario(parameters=FILE_FORM, memory_mode="conversation"))
    block = BLOCK.replace("cat photo.png", "holiday.png")
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    first = [{"role": "user", "content": [{"type": "text", "text": block},
                                          {"type": "text", "text": "What is in this picture?"},
                                          {"type": "image_url", "image_url": {"url": url}}]}]
    raw = client.chat.completions.with_raw_response.create(model="m", messages=first)
    answer = raw.parse().choices[0].message.content
    call = app_calls(emu)[0]
    assert call["query"] == "What is in this picture?"
    assert emu.uploads[-1]["name"] == "holiday.png"
    # Open WebUI keeps the block on that message in later turns: the thread is still recognised.
    client.chat.completions.create(model="m", messages=[*first, {"role": "assistant", "content": answer},
                                                        {"role": "user", "content": "Where was it taken?"}])
    later = app_calls(emu)[1]
    assert later["conversation_id"] == raw.headers["x-dify-conversation-id"]
    assert later["query"] == "Where was it taken?" and "attached_files" not in json.dumps(later)


def test_a_percent_encoded_user_name_reaches_the_app_decoded(emu, client):
    form = {"user_input_form": [{"text-input": {"variable": "user_name", "label": "Name", "required": False}}]}
    emu.load_scenario(scenario(parameters=form, user_variable="user"))
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                   extra_headers={"X-OpenWebUI-User-Name": "J%C3%BCrgen M%C3%BCller",
                                                  "X-OpenWebUI-User-Id": "u1"})
    assert app_calls(emu)[-1]["inputs"]["user_name"] == "Jürgen Müller"
