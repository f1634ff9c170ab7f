"""What a real Dify 1.14.1 does that the plugin must live with (tests/golden/recordings), with the `openai` package.

Each test names the recording that showed the behaviour: conversations Dify forgets, inputs it takes on every turn,
and the failures only a real server produces, each of which must read as a fix-it message.
"""

from __future__ import annotations

import base64
import json
import uuid

import openai
import pytest

from .conftest import recording, scenario

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
DIFY_400 = "invoke app failed: request failed with status code: 400 and respond with: "
FILE_FORM = {"user_input_form": [
    {"paragraph": {"variable": "system_prompt", "label": "system_prompt", "required": False, "max_length": 4000}},
    {"file": {"variable": "image", "label": "image", "required": False, "allowed_file_types": ["image"],
              "allowed_file_upload_methods": ["local_file", "remote_url", "tool_file"]}},
    {"text-input": {"variable": "tag", "label": "tag", "required": False, "max_length": 256}},
]}


def app_calls(emu):
    return [r["request"] for r in emu.records if r["type"] == "app"]


def say(client, messages, stream):
    """(answer text, conversation id from the response headers)."""
    raw = client.chat.completions.with_raw_response.create(model="m", messages=messages, stream=stream)
    if not stream:
        return raw.parse().choices[0].message.content, raw.headers["x-dify-conversation-id"]
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    return text, raw.headers.get("x-dify-conversation-id")


@pytest.mark.parametrize("stream", [False, True])
def test_a_conversation_deleted_in_dify_heals_in_one_turn(emu, client, stream):
    # recorded: d_conversation_deleted_between_turns (every later turn was an empty 400)
    emu.load_scenario(scenario(mode="advanced-chat", memory_mode="conversation"))
    history = [{"role": "user", "content": "del1"}]
    answer, first = say(client, history, stream)
    emu.conversations.clear()  # an admin deletes the conversation in the app's logs
    history += [{"role": "assistant", "content": answer}, {"role": "user", "content": "del2"}]
    answer, second = say(client, history, stream)
    assert answer.endswith("del2") and second and second != first
    refused, healed = app_calls(emu)[1:]
    assert refused["conversation_id"] == first and not healed["conversation_id"]
    assert healed["query"] == "[Conversation so far]\nUser: del1\n\nAssistant: del1\n\n[New message]\ndel2"
    history += [{"role": "assistant", "content": answer}, {"role": "user", "content": "del3"}]
    _, third = say(client, history, stream)
    assert third == second and app_calls(emu)[-1]["query"] == "del3" and len(app_calls(emu)) == 4


@pytest.mark.parametrize("stream", [False, True])
def test_a_previous_response_whose_conversation_is_gone_heals_from_the_stored_chain(emu, client, stream):
    emu.load_scenario(scenario(mode="advanced-chat"))
    first = client.responses.create(model="m", input="first")
    second = client.responses.create(model="m", input="second", previous_response_id=first.id)
    emu.conversations.clear()
    if stream:
        with client.responses.stream(model="m", input="third", previous_response_id=second.id) as events:
            third = events.get_final_response()
    else:
        third = client.responses.create(model="m", input="third", previous_response_id=second.id)
    assert third.output_text.endswith("third") and third.status == "completed"
    healed = app_calls(emu)[-1]
    assert not healed["conversation_id"]
    assert "User: first\n\nAssistant: first\n\nUser: second\n\nAssistant: second" in healed["query"]
    fourth = client.responses.create(model="m", input="fourth", previous_response_id=third.id)
    assert app_calls(emu)[-1]["conversation_id"] and app_calls(emu)[-1]["query"] == "fourth"
    assert fourth.output_text == "fourth"


def test_an_unknown_conversation_the_client_named_is_a_clear_404(emu, client):
    # recorded: explicit_unknown_conversation_header ("(Dify gave no message)" before)
    emu.load_scenario(scenario(mode="advanced-chat"))
    unknown = str(uuid.uuid4())
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}],
                                       extra_headers={"X-Dify-Conversation-Id": unknown})
    assert info.value.body["code"] == "conversation_not_found" and unknown in info.value.body["message"]
    assert info.value.body["param"] == "X-Dify-Conversation-Id"
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model="m", input="x", extra_body={"conversation_id": unknown})
    assert "does not know the conversation" in info.value.body["message"]
    assert len(app_calls(emu)) == 2  # no retry, no re-seeding of a conversation the client chose


def test_switching_the_endpoints_app_keeps_each_apps_memory(emu, client):
    # recorded: switch_app_same_endpoint (the old app's conversation id went to the new app: a 400)
    base = scenario(mode="advanced-chat", memory_mode="conversation")
    base["apps"] = {"app-other": {"mode": "advanced-chat", "name": "Other"}}
    emu.load_scenario(base)
    history = [{"role": "user", "content": "sw1"}]
    answer, first = say(client, history, False)
    history += [{"role": "assistant", "content": answer}, {"role": "user", "content": "sw2"}]
    emu.set_settings(app_id="app-other")
    answer, other = say(client, history, False)
    assert other != first and answer == app_calls(emu)[-1]["query"] and "[Conversation so far]" in answer
    assert app_calls(emu)[-1]["app_id"] == "app-other" and not app_calls(emu)[-1]["conversation_id"]
    emu.set_settings(app_id=base["settings"]["app_id"]["app_id"])
    _, back = say(client, history, False)
    assert back == first and app_calls(emu)[-1]["query"] == "sw2"


def data_url_image(text):
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    return {"role": "user", "content": [{"type": "text", "text": text},
                                        {"type": "image_url", "image_url": {"url": url}}]}


def test_a_file_on_a_later_turn_stays_in_the_conversation_and_inputs_follow_each_turn(emu, client):
    # recorded: c_image_on_turn2 (a new, seeded conversation before), direct_file_input_on_continued_conversation
    # and d_inputs_changed_turn2 (Dify 1.14.1 uses the new inputs mid-conversation)
    emu.load_scenario(scenario(mode="advanced-chat", memory_mode="conversation", parameters=FILE_FORM))
    history = [{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "text first"}]
    first = client.chat.completions.create(model="m", messages=history, extra_body={"inputs": {"tag": "A"}})
    history += [{"role": "assistant", "content": first.choices[0].message.content}, data_url_image("now an image")]
    second = client.chat.completions.create(model="m", messages=history, extra_body={"inputs": {"tag": "B"}})
    turn1, turn2 = app_calls(emu)
    assert turn2["conversation_id"] == first.conversation_id == second.conversation_id  # type: ignore[attr-defined]
    assert turn2["query"] == "now an image"
    assert turn2["inputs"]["tag"] == "B" and turn2["inputs"]["system_prompt"] == "You are a pirate."
    assert turn2["inputs"]["image"]["transfer_method"] == "tool_file"
    assert emu.uploads[-1]["name"] == "upload.png"


def test_an_image_url_is_not_refused_where_dify_takes_it(emu, client):
    # Dify does not method-check image inputs: an image URL reaches even a variable that lists only uploads.
    form = {"user_input_form": [{"file": {"variable": "image", "label": "image", "required": False,
                                          "allowed_file_types": ["image"],
                                          "allowed_file_upload_methods": ["local_file"]}}]}
    emu.load_scenario({**scenario(parameters=form), "reachable_urls": ["https://x.test/"]})
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": [
        {"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": "https://x.test/cat.png"}}]}])
    assert app_calls(emu)[-1]["inputs"]["image"] == {"type": "image", "transfer_method": "remote_url",
                                                     "url": "https://x.test/cat.png"}


def failing(emu, reply, mode="chat", parameters=None):
    emu.load_scenario(scenario(mode=mode, replies=[reply], parameters=parameters))


def error_of(client, stream):
    """The OpenAI error for one chat request, raised before the stream or carried inside it."""
    messages = [{"role": "user", "content": "x"}]
    if not stream:
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="m", messages=messages)
        return info.value.status_code, info.value.body
    with pytest.raises(openai.APIError) as info:
        list(client.chat.completions.create(model="m", messages=messages, stream=True))
    return getattr(info.value, "status_code", 200), info.value.body


QUERY_FORM = {"user_input_form": [{"paragraph": {"variable": "query", "label": "q", "required": True}}]}
READ_CAP = "read app failed: http: read on closed response body\nfailed to read system header"


@pytest.mark.parametrize("stream", [False, True])
def test_the_daemons_240_second_cap_names_its_setting(emu, client, stream):
    started = [{"event": "message", "answer": "partial ", "conversation_id": str(uuid.uuid4()), "message_id": "m1",
                "created_at": 1, "task_id": "t"}]
    failing(emu, {"events": started, "then_fail": READ_CAP})
    status, body = error_of(client, stream)
    assert (status, body["code"]) == ((504 if not stream else 200), "upstream_timeout")
    assert "DIFY_BACKWARDS_INVOCATION_READ_TIMEOUT" in body["message"] and "streaming or not" in body["message"]


@pytest.mark.parametrize(("reply_body", "status", "code", "says"), [
    ('{"code":"invalid_param","message":"unexpected app type","status":400}', 502, "app_mode_unsupported",
     "chatflow"),
    ('{"code":"invalid_param","message":"ToolFile 4d318e42-43d5-4e59-b771-06cb87428aa1 not found","status":400}',
     502, "dify_file_refused", "https URL"),
    (recording("c_image_https_url.http400.json"), 400, "file_url_unreachable", "data URL"),
    (recording("llm/h_agent_tool_blocking.http400.json"), 400, "invalid_param", "blocking mode"),
])
def test_refusals_only_a_real_dify_gives_read_as_fix_it_messages(emu, client, reply_body, status, code, says):
    failing(emu, {"fail": DIFY_400 + reply_body})
    got_status, body = error_of(client, False)
    assert (got_status, body["code"]) == (status, code) and says in body["message"]
    assert "gave no" not in body["message"]


def test_an_upload_dify_refuses_names_the_part(emu, client):
    # FILES_URL unset: the signed upload URL is relative and the SDK's requests call fails before sending.
    emu.load_scenario(scenario(parameters=FILE_FORM))
    emu.upload_store.files_url = ""
    try:
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="m", messages=[data_url_image("look")])
    finally:
        emu.upload_store.files_url = None
    assert info.value.status_code == 502 and info.value.body["code"] == "dify_files_url_not_set"
    assert "FILES_URL" in info.value.body["message"] and "messages[0].content[1]" in info.value.body["message"]
    assert not app_calls(emu)


@pytest.mark.parametrize("stream", [False, True])
def test_a_workflow_waiting_for_a_person_says_so_and_ends(emu, client, stream):
    events = [{"event": "workflow_started", "workflow_run_id": "w1", "task_id": "t", "data": {}},
              {"event": "text_chunk", "workflow_run_id": "w1", "task_id": "t", "data": {"text": "Checking. "}},
              {"event": "human_input_required", "workflow_run_id": "w1", "task_id": "t",
               "data": {"node_id": "approve", "node_title": "Manager approval", "form_content": "Approve?"}},
              {"event": "workflow_paused", "workflow_run_id": "w1", "task_id": "t",
               "data": {"paused_nodes": ["approve"]}}]
    failing(emu, {"events": events}, mode="workflow", parameters=QUERY_FORM)
    status, body = error_of(client, stream)
    assert body["code"] == "human_input_required" and "Manager approval" in body["message"]
    assert "Human Input" in body["message"]


def test_an_event_that_is_not_an_object_reads_without_pydantic(emu, client):
    failing(emu, {"events": [["not", "an", "object"]]}, mode="workflow", parameters=QUERY_FORM)
    status, body = error_of(client, False)
    assert status == 502 and "not a JSON object" in body["message"]
    assert "validation" not in body["message"].lower() and "pydantic" not in body["message"].lower()


def test_a_text_generator_through_the_responses_and_completions_apis_too(emu, client):
    parameters = json.loads(recording("fetch_app.e_completion.json"))["data"]["data"]
    failing(emu, {"fail": "invoke app failed: request failed with status code: 500 and respond with: "
                          + recording("e_completion_legacy_completions.http500.json")},
            mode="completion", parameters=parameters)
    with pytest.raises(openai.InternalServerError) as info:
        client.completions.create(model="m", prompt="complete me")
    assert info.value.body["code"] == "app_mode_unsupported"
