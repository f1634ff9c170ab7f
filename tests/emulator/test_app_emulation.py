"""The app emulation in-process (no plugin): graph rules, agent rounds, files and checks the recordings do not cover.

tests/golden/ compares every recorded case with Dify's own answer; these tests pin the general rules behind them.
"""

import json
from collections.abc import Mapping
from typing import Any

import pytest

from dify_emulator.apps import AppEmulator
from dify_emulator.conversations import ConversationStore
from dify_emulator.errors import BackwardsError
from dify_emulator.model_apps import Action, ReactParser
from dify_emulator.records import Recorder
from dify_emulator.scenario import load_scenario
from dify_emulator.uploads import UploadStore

FAKE = {"provider": "fake/fake/fakellm", "name": "fake-chat", "script": "fake"}
START = {"id": "start", "type": "start"}


def emulator(app: Mapping[str, Any]) -> AppEmulator:
    apps = AppEmulator(ConversationStore(), UploadStore(Recorder(), lambda: "http://files.test"))
    apps.load(load_scenario({"app": app}))
    return apps


def invoke(apps: AppEmulator, **request: Any) -> list[dict[str, Any]]:
    return list(apps.invoke({"app_id": "app-demo", "query": "q", "inputs": {}, "response_mode": "streaming",
                             **request}))


def failure(apps: AppEmulator, **request: Any) -> str:
    with pytest.raises(BackwardsError) as info:
        invoke(apps, **request)
    return info.value.message


def shape(events: list[dict[str, Any]]) -> list[str]:
    """Event names, node events with their node, answer pieces with their text."""
    names = []
    for event in events:
        if event["event"].startswith("node_"):
            names.append(f"{event['event']}({event['data']['node_id']})")
        elif event["event"] == "message":
            names.append(repr(event["answer"]))
        elif event["event"] == "text_chunk":
            names.append(repr(event["data"]["text"]))
        else:
            names.append(event["event"])
    return names


def test_answer_pieces_wait_only_for_an_assigner_that_writes_what_they_read():
    counter = {"variable_selector": ["conversation", "n"], "operation": "+=", "value": 2}
    graph = [START, {"id": "count", "type": "assigner", "items": [counter]},
             {"id": "answer", "type": "answer", "answer": "q={{#sys.query#}}"}]
    events = invoke(emulator({"mode": "advanced-chat", "graph": graph, "conversation_variables": {"n": 1}}))
    assert shape(events)[1:5] == ["node_started(start)", "'q='", "'q'", "node_finished(start)"]
    graph[2]["answer"] = "n={{#conversation.n#}}"
    events = invoke(emulator({"mode": "advanced-chat", "graph": graph, "conversation_variables": {"n": 1}}))
    assert shape(events)[3:7] == ["node_started(count)", "'n='", "'3'", "node_finished(count)"]
    assert events[6]["data"]["process_data"] == {"n": 3, "__updated_variables": [
        {"name": "n", "selector": ["conversation", "n"], "value_type": "integer", "new_value": 3}]}


def test_a_variable_without_a_value_stops_the_stream_and_renders_as_its_name():
    graph = [START, {"id": "answer", "type": "answer", "answer": "a {{#start.missing#}} b"}]
    events = invoke(emulator({"mode": "advanced-chat", "graph": graph}))
    assert [e["answer"] for e in events if e["event"] == "message"] == ["a "]
    assert events[-3]["data"]["outputs"] == {"answer": "a start.missing b", "files": []}


def test_template_transform_and_an_end_node_with_two_outputs():
    graph = [START, {"id": "tt", "type": "template-transform", "variables": {"who": ["start", "name"]},
                     "template": "hi {{ who }}!"},
             {"id": "end", "type": "end", "outputs": {"greeting": ["tt", "output"], "name": ["start", "name"]}}]
    events = invoke(emulator({"mode": "workflow", "graph": graph}), inputs={"name": "Ada"})
    assert shape(events) == ["workflow_started", "node_started(start)", "node_finished(start)", "node_started(tt)",
                             "'hi Ada!'", "'\\n'", "'Ada'", "node_finished(tt)", "node_started(end)",
                             "node_finished(end)", "workflow_finished"]
    assert events[-1]["data"]["outputs"] == {"greeting": "hi Ada!", "name": "Ada"}
    assert events[5]["data"]["from_variable_selector"] == ["end", "answer"]


def test_a_failing_node_ends_a_workflow_quietly_and_a_chatflow_with_an_error():
    failing = {"id": "tt", "type": "template-transform", "template": "x", "error": "sandbox down"}
    workflow = invoke(emulator({"mode": "workflow", "graph": [START, failing]}))
    assert workflow[-1]["event"] == "workflow_finished" and workflow[-1]["data"]["status"] == "failed"
    chatflow = invoke(emulator({"mode": "advanced-chat", "graph": [
        START, failing, {"id": "answer", "type": "answer", "answer": "{{#tt.output#}}"}]}))
    assert shape(chatflow)[-2:] == ["workflow_finished", "error"]
    assert chatflow[-1]["message"] == "Run failed: sandbox down" and "task_id" not in chatflow[-1]
    blocking = emulator({"mode": "advanced-chat", "graph": [START, failing]})
    assert failure(blocking, response_mode="blocking").endswith(
        '{"code":"invalid_param","message":"Run failed: sandbox down","status":400}')


def test_llm_memory_reaches_later_turns_and_separated_reasoning_cleans_only_the_outputs():
    node = {"id": "llm", "type": "llm", "model": FAKE, "memory": True, "reasoning_format": "separated"}
    apps = emulator({"mode": "advanced-chat", "graph": [START, node, {"id": "answer", "type": "answer",
                                                                       "answer": "{{#llm.text#}}"}]})
    first = invoke(apps, query="think")
    second = invoke(apps, query="again", conversation_id=first[0]["conversation_id"])
    [llm_finished] = [e for e in second if e["event"] == "node_finished" and e["data"]["node_id"] == "llm"]
    assert [p["text"] for p in llm_finished["data"]["process_data"]["prompts"]] == [
        "think", "<think>\nsome reasoning\n</think>\n\nThe answer is 42.", "again"]
    assert llm_finished["data"]["outputs"]["text"] == "Hello! This is fake-chat. You said: again"
    [first_llm] = [e for e in first if e["event"] == "node_finished" and e["data"]["node_id"] == "llm"]
    assert (first_llm["data"]["outputs"]["text"], first_llm["data"]["outputs"]["reasoning_content"]) == (
        "The answer is 42.", "some reasoning")


def test_function_calling_agent_rounds():
    apps = emulator({"mode": "agent-chat", "model": FAKE, "agent": {"tools": ["current_time"]}})
    events = invoke(apps, query="what time is it?")
    assert [e["event"] for e in events] == ["agent_thought", "agent_message", "agent_message", "agent_thought",
                                            "agent_thought", "agent_thought"] + ["agent_message"] * 6 + [
                                               "agent_thought", "message_end"]
    tool_round = events[4]
    assert (tool_round["position"], tool_round["tool"], tool_round["tool_input"]) == (
        1, "current_time", '{"current_time": {"timezone": "UTC"}}')
    assert json.loads(tool_round["observation"])["current_time"] in events[-2]["thought"]
    usage = events[-1]["metadata"]["usage"]
    assert usage["time_to_first_token"] is None and events[-1]["files"] is None


def test_react_agent_without_a_tool_and_a_provider_error():
    apps = emulator({"mode": "agent-chat", "model": FAKE, "agent": {"strategy": "react", "tools": ["current_time"]}})
    events = invoke(apps, query="hello")
    texts = [e["answer"] for e in events if e["event"] == "agent_message"]
    assert "".join(texts) == " I can answer directly.\n\nHello from the ReAct agent."
    assert texts[-4:] == ["", "", "", "Hello from the ReAct agent."]
    # ReAct announces its first round before the model answers; function calling does not.
    assert [e["event"] for e in invoke(apps, query="please fail")] == ["agent_thought", "error"]
    apps = emulator({"mode": "agent-chat", "model": FAKE})
    [error] = invoke(apps, query="please fail")
    assert (error["code"], error["status"], error["message"]) == (
        "completion_request_error", 400, "fake provider: rate limit reached")


def test_react_parser_holds_back_marker_prefixes_and_turns_json_into_actions():
    parser = ReactParser()
    pieces = parser.feed("Thought: the tide.\nAction: ") + parser.feed('{"action": "Final Answer", "input": 1}')
    pieces += parser.close()
    assert pieces[:5] == [" ", "th", "e", " ", "t"] and pieces[-1] == Action("Final Answer", 1)
    assert ReactParser().feed("`x`") == ["", "`", "x", ""]


def test_file_inputs_are_dify_files_and_unreachable_urls_fail():
    form = {"user_input_form": [{"file": {"variable": "doc", "label": "Doc", "required": False}}]}
    graph = [START, {"id": "answer", "type": "answer", "answer": "{{#start.doc.name#}} {{#start.doc.size#}}"}]
    apps = emulator({"mode": "advanced-chat", "parameters": form, "graph": graph})
    [ticket] = apps.files.sign({"filename": "a.txt", "mimetype": "text/plain"})
    token = ticket["url"].rsplit("/", 1)[1]
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhello\r\n--b--\r\n'
    assert apps.files.receive(token, "multipart/form-data; boundary=b", body)[0] == 201
    file_id = apps.files.files[-1]["id"]
    events = invoke(apps, inputs={"doc": {"type": "document", "transfer_method": "tool_file", "tool_file_id": file_id}})
    shown = events[0]["data"]["inputs"]["doc"]
    assert (shown["filename"], shown["related_id"], shown["size"]) == ("a.txt", file_id, 5)
    assert shown["url"].startswith(f"http://files.test/files/tools/{file_id}.txt?timestamp=")
    assert "".join(e["answer"] for e in events if e["event"] == "message") == "a.txt 5"
    missing = {"type": "document", "transfer_method": "tool_file", "tool_file_id": "nope"}
    assert failure(apps, inputs={"doc": missing}).endswith(
        '{"code":"invalid_param","message":"ToolFile nope not found","status":400}')
    remote = {"type": "document", "transfer_method": "remote_url", "url": "https://example.com/a.txt"}
    assert failure(apps, inputs={"doc": remote}).endswith(
        '"message":"Reached maximum retries (3) for URL https:\\/\\/example.com\\/a.txt","status":400}')


def test_a_deleted_conversation_is_unknown():
    apps = emulator({"mode": "chat"})
    conversation_id = invoke(apps)[0]["conversation_id"]
    assert apps.conversations.delete(conversation_id)
    assert failure(apps, conversation_id=conversation_id).endswith('{"code":"invalid_param","message":"","status":400}')


def test_a_completion_app_keeps_a_text_generators_parameters():
    parameters = emulator({"mode": "completion"}).fetch_app({"app_id": "app-demo"})[0]
    assert parameters["user_input_form"][0]["paragraph"]["variable"] == "query"
    assert parameters["file_upload"] == {"image": {"enabled": False, "number_limits": 3, "detail": "high",
                                                   "transfer_methods": ["remote_url", "local_file"]}}
