"""One endpoint, several apps chosen by `model`, and the caller's identity reaching the app (issue #12, 1 and 3)."""

from __future__ import annotations

import uuid

import openai
import pytest

from .conftest import scenario

pytestmark = pytest.mark.both_adapters

IDENTITY_FORM = {"user_input_form": [
    {"text-input": {"variable": "user", "label": "user", "required": False, "max_length": 48}},
    {"text-input": {"variable": "user_email", "label": "email", "required": False, "max_length": 48}},
    {"select": {"variable": "user_role", "label": "role", "required": False, "options": ["admin", "user"]}},
]}


def many_apps(emu, **settings):
    """The main app plus three more, named by model; returns {model name: app id}."""
    base = scenario(memory_mode="conversation", **settings)
    main = base["settings"]["app_id"]["app_id"]
    extra = {f"app-{name}-{uuid.uuid4().hex[:6]}": name for name in ("writer", "coder", "planner")}
    base["apps"] = {app_id: {"mode": "chat", "name": name} for app_id, name in extra.items()}
    for n, (app_id, name) in enumerate(extra.items(), start=2):
        base["settings"][f"app_{n}"] = {"app_id": app_id, "inputs": {}, "files": [], "type": "app-selector"}
        base["settings"][f"app_{n}_model_name"] = name
    base["settings"]["model_name"] = "helper"
    emu.load_scenario(base)
    emu.records.clear()
    return {"helper": main, **{name: app_id for app_id, name in extra.items()}}


def app_calls(emu):
    return [r["request"] for r in emu.records if r["type"] == "app"]


def test_models_lists_every_app_and_each_can_be_retrieved(emu, client):
    apps = many_apps(emu)
    assert [m.id for m in client.models.list()] == list(apps)
    assert client.models.retrieve("coder").id == "coder"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nobody")


@pytest.mark.parametrize("stream", [False, True])
def test_model_picks_the_app_on_all_three_apis(emu, client, stream):
    apps = many_apps(emu)
    chat = client.chat.completions.create(model="writer", stream=stream,
                                          messages=[{"role": "user", "content": "a poem"}])
    if stream:
        list(chat)
    responses = client.responses.create(model="coder", input="a function", stream=stream)
    if stream:
        list(responses)
    legacy = client.completions.create(model="PLANNER", prompt="a plan", stream=stream)  # names match any case
    if stream:
        list(legacy)
    assert [c["app_id"] for c in app_calls(emu)] == [apps["writer"], apps["coder"], apps["planner"]]


def test_an_unknown_model_name_is_served_by_the_main_app(emu, client):
    apps = many_apps(emu)
    reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert reply.model == "gpt-4o" and reply.choices[0].message.content == "hi"
    assert app_calls(emu)[-1]["app_id"] == apps["helper"]


def test_two_apps_never_share_a_conversation(emu, client):
    apps = many_apps(emu)
    history = [{"role": "user", "content": "same start"}]
    for model in ("writer", "coder"):
        answer = client.chat.completions.create(model=model, messages=history).choices[0].message.content
        client.chat.completions.create(model=model, messages=[*history, {"role": "assistant", "content": answer},
                                                              {"role": "user", "content": "next"}])
    first_w, second_w, first_c, second_c = app_calls(emu)
    assert second_w["app_id"] == apps["writer"] and second_w["conversation_id"] and second_w["query"] == "next"
    assert second_c["app_id"] == apps["coder"] and second_c["conversation_id"] and second_c["query"] == "next"
    assert second_w["conversation_id"] != second_c["conversation_id"]
    # A previous response of one app is not found under another.
    first = client.responses.create(model="writer", input="chain")
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="coder", input="more", previous_response_id=first.id)
    assert info.value.body["code"] == "previous_response_not_found"


def test_each_app_keeps_its_own_memory_mode(emu, client):
    apps = many_apps(emu, app_3_memory_mode="all_messages")
    history = [{"role": "user", "content": "one"}, {"role": "assistant", "content": "one"},
               {"role": "user", "content": "two"}]
    client.chat.completions.create(model="coder", messages=history)
    client.chat.completions.create(model="writer", messages=history)
    coder, writer = app_calls(emu)
    assert coder["app_id"] == apps["coder"] and coder["query"] == "User: one\n\nAssistant: one\n\nUser: two"
    assert writer["query"].startswith("[Conversation so far]")  # conversation mode, nothing to continue yet


def test_the_callers_identity_reaches_the_declared_inputs(emu, client):
    emu.load_scenario(scenario(parameters=IDENTITY_FORM, user_variable="user"))
    client.chat.completions.create(model="m", user="alice@example.com", messages=[{"role": "user", "content": "x"}])
    assert app_calls(emu)[-1]["inputs"]["user"] == "alice@example.com"
    headers = {"X-OpenWebUI-User-Id": "7f3c", "X-OpenWebUI-User-Name": "Bob", "X-OpenWebUI-User-Email": "bob@x.io",
               "X-OpenWebUI-User-Role": "admin"}
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], extra_headers=headers,
                                   extra_body={"inputs": {"user": "spoofed"}})
    inputs = app_calls(emu)[-1]["inputs"]
    assert inputs["user"] == "7f3c" and inputs["user_email"] == "bob@x.io" and inputs["user_role"] == "admin"
    assert "user_name" not in inputs  # not declared by the app: nothing is sent for it
    client.responses.create(model="m", input="x", user="carol")
    assert app_calls(emu)[-1]["inputs"]["user"] == "carol"


def test_no_identity_goes_anywhere_unless_the_admin_names_the_variable(emu, client):
    emu.load_scenario(scenario(parameters=IDENTITY_FORM))
    client.chat.completions.create(model="m", user="alice", messages=[{"role": "user", "content": "x"}],
                                   extra_headers={"X-OpenWebUI-User-Id": "7f3c"})
    assert "user" not in app_calls(emu)[-1]["inputs"]
