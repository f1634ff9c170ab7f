"""Conversations as Dify keeps them: new, continued, unknown, malformed; inputs taken anew on every turn."""

import uuid

import pytest

from .conftest import call_app


@pytest.mark.parametrize("mode", ["chat", "agent-chat", "advanced-chat"])
def test_new_and_continued_conversation(emu, mode):
    emu.load_scenario({"app": {"mode": mode}})
    first = call_app(emu, query="one")
    conversation_id = first[0]["conversation_id"]
    assert uuid.UUID(conversation_id)
    assert all(e["conversation_id"] == conversation_id for e in first)
    second = call_app(emu, query="two", conversation_id=conversation_id)
    assert {e["conversation_id"] for e in second} == {conversation_id}
    assert emu.conversations[conversation_id]["queries"] == ["one", "two"]
    # An empty id starts another conversation.
    assert call_app(emu, query="three", conversation_id="")[0]["conversation_id"] != conversation_id


def test_unknown_uuid_is_400_with_empty_message(emu):
    [result] = call_app(emu, query="q", conversation_id=str(uuid.uuid4()))
    assert result["error"] == ('invoke app failed: request failed with status code: 400 and respond with: '
                               '{"code":"invalid_param","message":"","status":400}')


def test_non_uuid_is_500(emu):
    [result] = call_app(emu, query="q", conversation_id="not-a-uuid")
    assert result["error"] == ('invoke app failed: request failed with status code: 500 and respond with: '
                               '{"message":"Internal Server Error","code":"unknown","status":500}')


def test_conversation_belongs_to_its_app(emu):
    emu.load_scenario({"apps": {"app-other": {"mode": "chat"}}})
    conversation_id = call_app(emu, query="one")[0]["conversation_id"]
    [result] = call_app(emu, query="two", conversation_id=conversation_id, app_id="app-other")
    assert "status code: 400" in result["error"]


def test_inputs_are_validated_and_used_on_every_turn(emu):
    # Recorded on Dify 1.14.1 (d_inputs_changed_turn2): turn 2's inputs win, and they are checked again.
    form = {"user_input_form": [{"text-input": {"variable": "persona", "label": "P", "required": True}}]}
    graph = [{"id": "start", "type": "start"}, {"id": "answer", "type": "answer", "answer": "{{#start.persona#}}"}]
    emu.load_scenario({"app": {"mode": "advanced-chat", "parameters": form, "graph": graph}})
    first = call_app(emu, query="one", inputs={"persona": "pirate"})
    conversation_id = first[0]["conversation_id"]
    assert first[0]["data"]["inputs"]["persona"] == "pirate"
    second = call_app(emu, query="two", inputs={"persona": "poet"}, conversation_id=conversation_id)
    assert second[0]["data"]["inputs"]["persona"] == "poet" and second[0]["conversation_id"] == conversation_id
    assert [e["answer"] for e in second if e["event"] == "message"] == ["poet"]
    [refused] = call_app(emu, query="three", inputs={}, conversation_id=conversation_id)
    assert "persona is required in input form" in refused["error"]
    assert emu.conversations[conversation_id]["queries"] == ["one", "two"]


def test_conversation_variables_persist_per_conversation(emu):
    graph = [{"id": "start", "type": "start"},
             {"id": "count", "type": "assigner",
              "items": [{"variable_selector": ["conversation", "turns"], "operation": "+=", "value": 1}]},
             {"id": "answer", "type": "answer", "answer": "{{#conversation.turns#}}"}]
    emu.load_scenario({"app": {"mode": "advanced-chat", "graph": graph, "conversation_variables": {"turns": 0}}})
    first = call_app(emu, query="a")
    conversation_id = first[0]["conversation_id"]
    second = call_app(emu, query="b", conversation_id=conversation_id)
    other = call_app(emu, query="c")
    assert [answer_text(events) for events in (first, second, other)] == ["1", "2", "1"]
    assert emu.conversations[conversation_id]["variables"] == {"turns": 2}


def answer_text(events):
    return "".join(e["answer"] for e in events if e["event"] == "message")


def test_workflow_ignores_query_and_conversation(emu):
    emu.load_scenario({"app": {"mode": "workflow"}})
    events = call_app(emu, query="ignored", conversation_id="not-a-uuid", inputs={"text": "used"})
    assert events[-1]["data"]["outputs"] == {"answer": "used"}
    assert all("conversation_id" not in e for e in events)
    assert len(emu.conversations) == 0


def test_scripted_conversation_id_can_be_continued(emu):
    conversation_id = "0b8f4a52-3c1d-4e8a-9a51-6e3f0f2b7c10"
    scripted = {"events": [{"event": "message", "conversation_id": conversation_id, "answer": "a"}]}
    emu.load_scenario({"replies": [scripted, {"echo": True}]})
    call_app(emu, query="one")
    assert call_app(emu, query="two", conversation_id=conversation_id)[0]["conversation_id"] == conversation_id
