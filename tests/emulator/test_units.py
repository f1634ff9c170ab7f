"""Pure pieces of the emulator, without a plugin process."""

import pytest

from dify_emulator.app_events import Run, fold_blocking
from dify_emulator.backwards import permission_error
from dify_emulator.errors import INTERNAL_SERVER_ERROR, BackwardsError, dify_http_failure, invalid_param
from dify_emulator.graph import GraphCall, build_graph, default_graph, parse_template, run_graph
from dify_emulator.llm import split_deltas
from dify_emulator.manifest import read_manifest
from dify_emulator.raw_request import build_raw_request, canonical_header
from dify_emulator.scenario import (
    DEMO_SCENARIO,
    ScenarioError,
    apply_settings,
    load_scenario,
    parse_assignment,
)
from dify_emulator.storage import PluginStorage

from .conftest import PROBE_DIR


@pytest.mark.parametrize("text", ["hello big wide world out there", "hi", "", "a  b\n c ", "日本語のテキスト"])
def test_split_deltas_round_trips(text):
    deltas = split_deltas(text)
    assert "".join(deltas) == text
    if len(text) >= 4:
        assert len(deltas) >= 2


def test_scenario_defaults_and_deep_merge():
    scenario = load_scenario({"app": {"mode": "workflow"}, "settings": {"memory_mode": "conversation"}})
    assert scenario["app"] == {"mode": "workflow", "name": "Demo", "parameters": {}}
    assert scenario["settings"]["api_key"] == "sk-demo"
    assert scenario["settings"]["memory_mode"] == "conversation"
    assert scenario["settings"]["app_id"]["app_id"] == "app-demo"
    assert scenario["replies"] == [{"echo": True}]
    assert load_scenario(None) == DEMO_SCENARIO


START = {"id": "start", "type": "start"}


@pytest.mark.parametrize(
    "bad",
    [
        {"app": {"mode": "nope"}}, {"replies": []}, {"replies": [{"what": 1}]}, {"hook_id": "a/b"}, {"apps": []},
        {"app": {"mode": "chat", "graph": [START]}},
        {"app": {"mode": "workflow", "graph": []}},
        {"app": {"mode": "workflow", "graph": [{"id": "llm", "type": "llm"}]}},
        {"app": {"mode": "workflow", "graph": [START, {"id": "a", "type": "answer", "answer": "x"}]}},
        {"app": {"mode": "advanced-chat", "graph": [START, {"id": "e", "type": "end", "outputs": {}}]}},
        {"app": {"mode": "advanced-chat", "graph": [START, START]}},
        {"app": {"mode": "advanced-chat", "graph": [START, {"id": "x", "type": "code"}]}},
        {"app": {"mode": "advanced-chat", "graph": [START, {"id": "n", "type": "assigner", "items": [
            {"variable_selector": ["start", "x"], "operation": "+="}]}]}},
        {"app": {"mode": "advanced-chat", "graph": [START, {"id": "n", "type": "llm", "reasoning_format": "x"}]}},
        {"app": {"mode": "workflow", "graph": [START, {"id": "e", "type": "end", "outputs": {"a": "start.x"}}]}},
        {"app": {"mode": "chat", "model": {"script": "gpt"}}},
        {"app": {"mode": "chat", "agent": {"strategy": "react"}}},
        {"app": {"mode": "agent-chat", "agent": {"tools": ["web_search"]}}},
        {"app": {"mode": "workflow", "conversation_variables": {"turns": 0}}},
    ],
)
def test_bad_scenarios_are_refused(bad):
    with pytest.raises(ScenarioError):
        load_scenario(bad)


def test_scenario_file_errors_are_clear(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("{not json")
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(str(path))


def test_set_option_parsing_and_app_selector():
    assert parse_assignment("memory_mode=conversation") == ("memory_mode", "conversation")
    assert parse_assignment("flag=true") == ("flag", True)
    assert parse_assignment("x=a=b") == ("x", "a=b")
    with pytest.raises(ScenarioError):
        parse_assignment("novalue")
    settings = apply_settings(DEMO_SCENARIO["settings"], {"app_id": "app-x", "other": "v"})
    assert settings["app_id"] == {"app_id": "app-x", "inputs": {}, "files": [], "type": "app-selector"}
    assert settings["other"] == "v"
    assert apply_settings({}, {"picker": "app-y"}, frozenset({"picker"}))["picker"]["app_id"] == "app-y"


def test_raw_request_like_the_daemon():
    raw = build_raw_request(
        "POST",
        "/v1/x?b=2&a=1",
        [("host", "example.com"), ("x-forwarded-for", "1.2.3.4"), ("X-Real-IP", "1.2.3.4"), ("accept", "a"),
         ("Accept", "b"), ("content-length", "999"), ("transfer-encoding", "chunked")],
        b"body",
        "hook1",
        "127.0.0.1:1",
    )
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/x?b=2&a=1 HTTP/1.1"
    assert lines[1:4] == ["Host: example.com", "User-Agent: Go-http-client/1.1", "Content-Length: 4"]
    assert lines[4:] == ["Accept: a", "Accept: b", "Dify-Hook-Id: hook1", "Dify-Hook-Url: http://example.com/e/hook1/v1/x"]
    assert body == b"body"
    get = build_raw_request("GET", "/", [], b"", "h", "127.0.0.1:9")
    assert b"Content-Length" not in get and b"Host: 127.0.0.1:9" in get


def test_canonical_header():
    assert canonical_header("x-forwarded-FOR") == "X-Forwarded-For"
    assert canonical_header("bad header") == "bad header"


def test_blocking_fold_of_scripted_events():
    run = Run(mode="chat")
    events = [
        {"event": "message", "conversation_id": "c1", "message_id": "m1", "task_id": "t1", "answer": "Hel"},
        {"event": "message", "answer": "lo"},
        {"event": "message_end", "metadata": {"usage": {"total_tokens": 3}}},
    ]
    folded = fold_blocking(run, events)
    assert folded["answer"] == "Hello"
    ids = (folded["conversation_id"], folded["message_id"], folded["id"], folded["task_id"])
    assert ids == ("c1", "m1", "m1", "t1")
    assert folded["metadata"] == {"usage": {"total_tokens": 3}}
    assert folded["mode"] == "chat"


def test_blocking_fold_of_workflow_echo():
    run = Run(mode="workflow")
    call = GraphCall(run=run, app_id="app", query=None, inputs={"q": "a b c d e"}, history=[], variables={},
                     dialogue_count=1, end_user_id="user")
    folded = fold_blocking(run, run_graph(build_graph(default_graph("workflow")), call))
    assert folded["workflow_run_id"] == run.workflow_run_id
    assert folded["data"]["outputs"] == {"answer": "a b c d e"}
    assert folded["data"]["status"] == "succeeded"
    assert set(folded["data"]) == {"id", "workflow_id", "status", "outputs", "error", "elapsed_time", "total_tokens",
                                   "total_steps", "created_at", "finished_at"}


def test_storage_rules_directly():
    storage = PluginStorage(max_size=10)
    assert storage.handle({"opt": "set", "key": "k", "value": b"12345".hex()}) == [{"data": "ok"}]
    assert storage["k"] == b"12345"
    # Overwriting counts the new size only.
    storage.handle({"opt": "set", "key": "k", "value": b"1234567890".hex()})
    with pytest.raises(BackwardsError, match="allocated size is greater than max storage size"):
        storage.handle({"opt": "set", "key": "j", "value": b"1".hex()})
    for key in ("../x", "a//b", "a\\b"):
        with pytest.raises(BackwardsError, match="path traversal"):
            storage.handle({"opt": "set", "key": key, "value": ""})
    with pytest.raises(BackwardsError, match="key length"):
        storage.handle({"opt": "set", "key": "k" * 257, "value": ""})
    assert storage.handle({"opt": "exist", "key": "nope"}) == [{"data": False, "exist_num": 0}]
    assert storage.handle({"opt": "del", "key": "k"}) == [{"data": "ok", "deleted_num": 1}]
    assert storage.handle({"opt": "del", "key": "k"}) == [{"data": "ok", "deleted_num": 0}]


def test_manifest_and_permissions(tmp_path):
    probe = read_manifest(PROBE_DIR)
    assert (probe.app_enabled, probe.storage_enabled, probe.storage_size) == (True, True, 65536)
    assert probe.app_selector_settings == {"app_id"}
    assert permission_error(probe, "app") is None and permission_error(probe, "storage") is None
    bare = read_manifest(tmp_path)
    assert permission_error(bare, "fetch_app") == "permission denied, you need to enable app access in plugin manifest"
    assert "enable storage access" in permission_error(bare, "storage")
    assert permission_error(bare, "upload_file") is None


def test_dify_error_bodies_are_byte_exact():
    # Recorded on 1.14.1: compact, "/" escaped, and the generic 500 with its own key order.
    assert dify_http_failure(400, invalid_param("Reached maximum retries (3) for URL https://x/y.png")) == (
        'request failed with status code: 400 and respond with: '
        '{"code":"invalid_param","message":"Reached maximum retries (3) for URL https:\\/\\/x\\/y.png","status":400}')
    assert dify_http_failure(500, INTERNAL_SERVER_ERROR) == (
        'request failed with status code: 500 and respond with: '
        '{"message":"Internal Server Error","code":"unknown","status":500}')


def test_templates_split_into_text_and_variables():
    segments = parse_template("dialogue_count={{#sys.dialogue_count#}} file={{#start.image.name#}}")
    assert [(s.text, s.selector) for s in segments] == [
        ("dialogue_count=", ()), ("", ("sys", "dialogue_count")), (" file=", ()), ("", ("start", "image", "name"))]
