"""Conversations Dify remembers, system prompts and inputs that arrive, files that reach the app."""

from __future__ import annotations

import base64

import httpx
import openai
import pytest

from .conftest import API_KEY, scenario

pytestmark = pytest.mark.both_adapters

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def app_calls(emu):
    return [r["request"] for r in emu.records if r["type"] == "app"]


def chat(client, messages, **kwargs):
    return client.chat.completions.create(model="m", messages=messages, **kwargs)


def test_five_turn_thread_is_one_conversation_and_survives_a_restart(emu, client):
    emu.load_scenario(scenario(memory_mode="conversation"))
    messages = [{"role": "system", "content": "You are terse."}]
    conversation_ids = []
    for turn in range(1, 6):
        if turn == 4:
            emu.restart_plugin()  # the mapping lives in plugin storage, not in the process
        messages.append({"role": "user", "content": f"turn {turn}"})
        raw = client.chat.completions.with_raw_response.create(model="m", messages=messages)
        reply = raw.parse()
        conversation_ids.append(raw.headers["x-dify-conversation-id"])
        messages.append({"role": "assistant", "content": reply.choices[0].message.content})
    calls = app_calls(emu)
    assert len(calls) == 5 and len(set(conversation_ids)) == 1
    assert not calls[0]["conversation_id"]
    assert all(c["conversation_id"] == conversation_ids[0] for c in calls[1:])
    for turn, call in enumerate(calls[1:], start=2):
        assert call["query"].endswith(f"turn {turn}") and "turn 1" not in call["query"]
    assert len(emu.conversations[conversation_ids[0]]["queries"]) == 5


def test_streamed_thread_continues_too(emu, client):
    emu.load_scenario(scenario(memory_mode="conversation"))
    messages = [{"role": "user", "content": "first"}]
    text = "".join(c.choices[0].delta.content or "" for c in chat(client, messages, stream=True) if c.choices)
    messages += [{"role": "assistant", "content": text}, {"role": "user", "content": "second"}]
    list(chat(client, messages, stream=True))
    first, second = app_calls(emu)
    assert second["conversation_id"] and second["query"] == "second"


def test_two_users_with_identical_histories_get_two_conversations(emu, client):
    emu.load_scenario(scenario(memory_mode="conversation"))
    history = [{"role": "user", "content": "same start"}]
    for user in ("alice", "bob"):
        reply = chat(client, history, user=user).choices[0].message.content
        chat(client, [*history, {"role": "assistant", "content": reply}, {"role": "user", "content": "next"}],
             user=user)
    calls = app_calls(emu)
    alice, bob = calls[1]["conversation_id"], calls[3]["conversation_id"]
    assert alice and bob and alice != bob


def test_edited_history_starts_a_seeded_conversation(emu, client):
    emu.load_scenario(scenario(memory_mode="conversation"))
    reply = chat(client, [{"role": "user", "content": "original"}]).choices[0].message.content
    chat(client, [{"role": "user", "content": "original"}, {"role": "assistant", "content": reply + " (edited)"},
                  {"role": "user", "content": "follow-up"}])
    second = app_calls(emu)[1]
    assert not second["conversation_id"]
    assert "[Conversation so far]" in second["query"] and "(edited)" in second["query"]
    assert second["query"].endswith("follow-up")


def test_explicit_conversation_ids(emu, client):
    emu.load_scenario(scenario(memory_mode="last_user_message"))
    raw = client.chat.completions.with_raw_response.create(model="m", messages=[{"role": "user", "content": "a"}])
    conversation_id = raw.headers["x-dify-conversation-id"]
    assert raw.parse().model_extra["conversation_id"] == conversation_id
    chat(client, [{"role": "user", "content": "b"}], extra_body={"conversation_id": conversation_id})
    chat(client, [{"role": "user", "content": "c"}], extra_headers={"X-Dify-Conversation-Id": conversation_id})
    assert [c["conversation_id"] for c in app_calls(emu)[1:]] == [conversation_id, conversation_id]
    with pytest.raises(openai.BadRequestError) as info:
        chat(client, [{"role": "user", "content": "d"}], extra_body={"conversation_id": "123; DROP TABLE"})
    assert info.value.body["param"] == "conversation_id"
    with pytest.raises(openai.BadRequestError):
        chat(client, [{"role": "user", "content": "d"}], extra_headers={"X-Dify-Conversation-Id": "nope"})
    assert len(app_calls(emu)) == 3


def test_first_stream_chunk_carries_the_conversation_id(emu, client):
    stream = chat(client, [{"role": "user", "content": "a"}], stream=True)
    first = next(iter(stream))
    assert first.model_extra["conversation_id"]
    assert stream.response.headers["x-dify-conversation-id"] == first.model_extra["conversation_id"]


def test_system_prompt_lands_in_the_input_variable_or_the_query(emu, client):
    form = {"user_input_form": [{"paragraph": {"variable": "system_prompt", "label": "System", "required": False}}]}
    emu.load_scenario(scenario(parameters=form))
    chat(client, [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "hello"}])
    call = app_calls(emu)[-1]
    assert call["inputs"]["system_prompt"] == "Answer in French." and call["query"] == "hello"
    emu.load_scenario(scenario())
    chat(client, [{"role": "developer", "content": "Answer in French."}, {"role": "user", "content": "hello"}])
    assert app_calls(emu)[-1]["query"] == "[System instructions]\nAnswer in French.\n\n[User message]\nhello"


def test_inputs_pass_through_and_required_inputs_are_checked(emu, client):
    form = {"user_input_form": [{"text-input": {"variable": "customer", "label": "Customer", "required": True}}]}
    emu.load_scenario(scenario(parameters=form))
    with pytest.raises(openai.BadRequestError) as info:
        chat(client, [{"role": "user", "content": "hi"}])
    assert info.value.body["param"] == "inputs.customer" and not app_calls(emu)
    chat(client, [{"role": "user", "content": "hi"}], extra_body={"inputs": {"customer": "ACME"}})
    assert app_calls(emu)[-1]["inputs"]["customer"] == "ACME"


FILE_FORM = {"user_input_form": [
    {"text-input": {"variable": "lang", "label": "Lang", "required": False}},
    {"file-list": {"variable": "attachments", "label": "Files", "required": False, "max_length": 3,
                   "allowed_file_types": ["image", "document"], "allowed_file_upload_methods":
                   ["local_file", "remote_url"]}},
]}


def image_message(url, text="what is in this image?"):
    return [{"role": "user", "content": [{"type": "text", "text": text},
                                         {"type": "image_url", "image_url": {"url": url, "detail": "auto"}}]}]


@pytest.mark.plugin_only  # plugin uploads are tool files; the gateway's are local files (tests/gateway)
def test_data_url_image_is_uploaded_into_the_file_variable(emu, client):
    emu.load_scenario(scenario(parameters=FILE_FORM))
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    chat(client, image_message(url))
    uploads = [r for r in emu.records if r["type"] == "upload_file"]
    assert len(uploads) == 1 and uploads[0]["request"]["mimetype"] == "image/png"
    assert emu.uploads[-1]["content"] == PNG
    files = app_calls(emu)[-1]["inputs"]["attachments"]
    assert files == [{"type": "image", "transfer_method": "tool_file", "tool_file_id": emu.uploads[-1]["id"]}]
    assert app_calls(emu)[-1]["query"] == "what is in this image?"


def test_https_image_is_passed_as_remote_url(emu, client):
    emu.load_scenario({**scenario(parameters=FILE_FORM), "reachable_urls": ["https://images.example/"]})
    chat(client, image_message("https://images.example/cat.jpg"))
    assert app_calls(emu)[-1]["inputs"]["attachments"] == [
        {"type": "image", "transfer_method": "remote_url", "url": "https://images.example/cat.jpg"}]
    assert not [r for r in emu.records if r["type"] == "upload_file"]


def test_pdf_file_part(emu, client):
    emu.load_scenario(scenario(parameters=FILE_FORM))
    part = {"type": "file", "file": {"filename": "report.pdf",
                                     "file_data": "data:application/pdf;base64," + base64.b64encode(PDF).decode()}}
    chat(client, [{"role": "user", "content": [{"type": "text", "text": "summarise"}, part]}])
    assert emu.uploads[-1]["name"] == "report.pdf" and emu.uploads[-1]["mimetype"] == "application/pdf"
    assert app_calls(emu)[-1]["inputs"]["attachments"][0]["type"] == "document"


def test_app_without_file_input_refuses_files(emu, client):
    emu.load_scenario(scenario())
    with pytest.raises(openai.BadRequestError) as info:
        chat(client, image_message("https://images.example/cat.jpg"))
    assert info.value.body["param"] == "messages[0].content[1].image_url.url"
    assert info.value.body["code"] == "unsupported_file"
    assert not app_calls(emu)


def test_lying_data_url_is_refused(emu):
    emu.load_scenario(scenario(parameters=FILE_FORM))
    url = "data:image/png;base64," + base64.b64encode(b"MZ\x90\x00 definitely not a png").decode()
    response = httpx.post(f"{emu.base_url}/v1/chat/completions", headers={"Authorization": f"Bearer {API_KEY}"},
                          json={"model": "m", "messages": image_message(url)}, timeout=30)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_file"
