"""Open WebUI through the real plugin: a chat with its background tasks leaves one Dify conversation, "Continue
Response" never duplicates an answer, attachments reach the app without Open WebUI's markup.

The replayed requests are what a running Open WebUI 0.12.4 sent (tests/fixtures/open_webui, README there), with
their headers and bodies as recorded. The other tests build requests of the shapes Open WebUI 0.10's source shows.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.unit.test_open_webui import OUTPUT, WITH_HEADER, WITHOUT_HEADER, recorded, task_prompt

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


def replay(emu, row: dict) -> httpx.Response:
    """One recorded request, as Open WebUI sent it, to this emulator with the tests' key."""
    headers = {k: v for k, v in row["headers"].items() if k.lower() not in ("host", "content-length")}
    return httpx.post(f"{emu.base_url}{row['path']}", json=row["body"], timeout=30,
                      headers={**headers, "Authorization": f"Bearer {API_KEY}"})


def is_task(row: dict) -> bool:
    return not row["body"]["stream"]


def storage_writes(emu) -> int:
    return sum(1 for r in emu.records if r["type"] == "storage" and r["request"].get("opt") == "set")


@pytest.mark.parametrize("recording", [WITH_HEADER, WITHOUT_HEADER], ids=["task-header", "template-shape"])
def test_a_recorded_chat_with_its_title_tags_and_follow_ups_leaves_one_dify_conversation(emu, recording):
    emu.load_scenario(scenario(memory_mode="conversation"))
    conversations = len(emu.conversations)
    first = recorded(recording, "first-turn")
    tasks = [r for r in first if is_task(r)]
    assert len(tasks) == 3  # title, tags, follow-ups
    answers = {}
    for row in tasks:  # Open WebUI sends them alongside the chat turn, the title often first
        response = replay(emu, row)
        assert response.status_code == 200, response.text
        answers.update(json.loads(response.json()["choices"][0]["message"]["content"]))
    assert answers == {"title": "How do I book leave?", "tags": [], "follow_ups": []}
    assert not app_calls(emu) and storage_writes(emu) == 0  # no run, no thread entry for a task
    (turn,) = [r for r in first if not is_task(r)]
    assert "data: [DONE]" in replay(emu, turn).text
    writes = storage_writes(emu)
    for row in recorded(recording, "second-turn"):
        assert replay(emu, row).status_code == 200
    first_call, second_call = app_calls(emu)  # the tasks never ran the app
    assert first_call["query"] == "How do I book leave?" and not first_call["conversation_id"]
    assert second_call["conversation_id"] and second_call["query"] == "And sick days?"
    assert len(emu.conversations) == conversations + 1
    assert storage_writes(emu) - writes == 1  # the second turn's thread entry, not its follow-up task


@pytest.mark.parametrize("recording", [WITH_HEADER, WITHOUT_HEADER], ids=["task-header", "template-shape"])
def test_every_recorded_request_replays_and_only_chat_turns_run_the_app(emu, recording):
    emu.load_scenario(scenario(parameters=FILE_FORM, memory_mode="conversation"))
    conversations = len(emu.conversations)
    rows = recorded(recording)
    for row in rows:
        response = replay(emu, row)
        assert response.status_code == (400 if row["step"] == "continue" else 200), (row["step"], response.text)
    turns = [r for r in rows if not is_task(r) and r["step"] != "continue"]
    queries = [call["query"] for call in app_calls(emu)]
    assert len(queries) == len(turns) == 6
    assert not any("<chat_history>" in q or "attached_files" in q for q in queries)
    # first chat, its regenerate (a seeded conversation), the image chat, the document chat
    assert len(emu.conversations) == conversations + 4


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


def test_the_recorded_continue_response_gets_a_clear_error_and_runs_nothing(emu):
    emu.load_scenario(scenario(memory_mode="conversation"))
    (row,) = recorded(WITH_HEADER, "continue")
    assert row["body"]["messages"][-1]["role"] == "assistant"  # what Continue Response sends in 0.12.4
    response = replay(emu, row)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "messages[3].content" and "Regenerate" in error["message"]
    assert not app_calls(emu)


def test_a_recorded_image_reaches_the_app_without_the_markup_and_under_its_real_name(emu):
    emu.load_scenario(scenario(parameters=FILE_FORM, memory_mode="conversation"))
    image = [r for r in recorded(WITH_HEADER, "image") + recorded(WITH_HEADER, "image-second") if not is_task(r)]
    first = replay(emu, image[0])
    assert first.status_code == 200
    call = app_calls(emu)[0]
    assert call["query"] == "What is in this picture?" and "attached_files" not in json.dumps(call)
    assert emu.uploads[-1]["name"] == "holiday.png" and emu.uploads[-1]["content"].startswith(PNG[:8])
    # Open WebUI keeps the block on that message in later turns: the thread is still recognised.
    assert replay(emu, image[1]).status_code == 200
    later = app_calls(emu)[1]
    assert later["conversation_id"] == first.headers["x-dify-conversation-id"]
    assert later["query"] == "Where was it taken?" and "attached_files" not in json.dumps(later)


def test_a_recorded_document_question_reaches_the_app_with_its_text_and_without_the_markup(emu):
    emu.load_scenario(scenario(memory_mode="conversation"))
    (turn,) = [r for r in recorded(WITHOUT_HEADER, "document") if not is_task(r)]
    assert replay(emu, turn).status_code == 200
    query = app_calls(emu)[0]["query"]
    assert "attached_files" not in query and "25 days of annual leave" in query
    assert query.endswith("</context>\n\nHow many days do I get?")


def test_the_recorded_percent_encoded_user_name_reaches_the_app_decoded(emu):
    form = {"user_input_form": [{"text-input": {"variable": "user_name", "label": "Name", "required": False}}]}
    emu.load_scenario(scenario(parameters=form, user_variable="user"))
    (turn,) = [r for r in recorded(WITH_HEADER, "first-turn") if not is_task(r)]
    assert turn["headers"]["X-OpenWebUI-User-Name"] == "J%C3%BCrgen M%C3%BCller"
    assert replay(emu, turn).status_code == 200
    assert app_calls(emu)[-1]["inputs"]["user_name"] == "Jürgen Müller"
