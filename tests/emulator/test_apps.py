"""The emulated Dify apps, seen from a real plugin: every reply kind in every mode, blocking, inputs."""

import time

import pytest
import requests

from .conftest import HTTP_TIMEOUT, call_app

MODES = ["chat", "agent-chat", "advanced-chat", "workflow"]
CHAT_MODES = ["chat", "agent-chat", "advanced-chat"]
QUERY = "hello big wide world out there"
WORKFLOW_INPUTS = {"topic": "first line", "extra": "second line"}
FAILED = "invoke app failed: request failed with status code: {} and respond with: {}"

# The echo model streams four deltas and a usage-only chunk; an LLM node adds its final empty chunk.
EXPECTED_EVENTS = {
    "chat": ["message"] * 5 + ["message_end"],
    "agent-chat": ["agent_thought"] + ["agent_message"] * 5 + ["agent_thought", "message_end"],
    "advanced-chat": ["workflow_started", "node_started", "node_finished", "node_started"] + ["message"] * 6
    + ["node_finished", "node_started", "node_finished", "message_end", "workflow_finished"],
    "workflow": ["workflow_started", "node_started", "node_finished", "node_started"] + ["text_chunk"] * 6
    + ["node_finished", "node_started", "node_finished", "workflow_finished"],
}


def answer_of(events):
    text = ""
    for event in events:
        if event["event"] in ("message", "agent_message"):
            text += event["answer"]
        elif event["event"] == "text_chunk":
            text += event["data"]["text"]
    return text


def expected_answer(mode):
    return QUERY if mode in CHAT_MODES else "first line second line".replace(" second", "\nsecond")


@pytest.mark.parametrize("mode", MODES)
def test_echo_stream_per_mode(emu, mode):
    emu.load_scenario({"app": {"mode": mode}})
    events = call_app(emu, query=QUERY, inputs={"topic": "first line", "extra": "second line"})
    assert [e["event"] for e in events] == EXPECTED_EVENTS[mode]
    assert answer_of(events) == expected_answer(mode)
    assert all(e["task_id"] == events[0]["task_id"] for e in events)
    if mode == "workflow":
        assert all(e["workflow_run_id"] == events[0]["workflow_run_id"] for e in events)
        finished = events[-1]["data"]
        assert finished["status"] == "succeeded" and finished["error"] is None
        assert finished["outputs"] == {"answer": expected_answer(mode)}
        assert finished["total_tokens"] > 0
        return
    assert all(isinstance(e["created_at"], int) and e["message_id"] == events[0]["message_id"] for e in events)
    [end] = [e for e in events if e["event"] == "message_end"]
    assert end["id"] == end["message_id"]
    usage = end["metadata"]["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert all(isinstance(usage[k], str) for k in ("prompt_price", "completion_price", "total_price"))
    assert usage["currency"] == "USD" and "latency" in usage
    assert len({e["conversation_id"] for e in events}) == 1 and events[0]["conversation_id"]
    if mode == "advanced-chat":
        assert events[-3]["data"]["outputs"] == {"answer": QUERY, "files": []}
        assert all(e["from_variable_selector"] == ["llm", "text"] for e in events if e["event"] == "message")
    else:
        assert end["files"] is None
    if mode == "chat":
        assert all(e["from_variable_selector"] is None for e in events if e["event"] == "message")
    if mode == "agent-chat":
        assert events[0]["id"] == events[-2]["id"] and events[-2]["thought"] == QUERY


@pytest.mark.parametrize("mode", MODES)
def test_echo_blocking_per_mode(emu, mode):
    emu.load_scenario({"app": {"mode": mode}})
    [result] = call_app(emu, query=QUERY, inputs=WORKFLOW_INPUTS, response_mode="blocking")
    if mode == "agent-chat":
        assert result["error"] == FAILED.format(
            400, '{"code":"invalid_param","message":"Agent Chat App does not support blocking mode","status":400}')
    elif mode == "workflow":
        assert set(result) == {"task_id", "workflow_run_id", "data"}
        assert result["data"]["outputs"] == {"answer": expected_answer(mode)}
        assert result["data"]["status"] == "succeeded"
    else:
        assert list(result) == ["event", "task_id", "id", "message_id", "conversation_id", "mode", "answer",
                                "metadata", "created_at"]
        assert result["event"] == "message" and result["mode"] == mode
        assert result["answer"] == expected_answer(mode)
        assert result["id"] == result["message_id"]
        assert result["metadata"]["usage"]["total_tokens"] > 0


@pytest.mark.parametrize("wrapper", ["chat", "completion", "workflow"])
def test_completion_app_fails_like_dify(emu, wrapper):
    # Every plugin-path invocation of a text generator fails (CompletionAppGenerator wants args["query"]).
    emu.load_scenario({"app": {"mode": "completion"}, "replies": [{"events": [{"event": "never sent"}]}]})
    [result] = call_app(emu, query="q", inputs={"query": "q"}, wrapper=wrapper)
    assert result["error"] == FAILED.format(500, '{"message":"Internal Server Error","code":"unknown","status":500}')


def test_agent_mode_is_an_unexpected_app_type(emu):
    emu.load_scenario({"app": {"mode": "agent"}})
    [result] = call_app(emu, query="q")
    assert result["error"] == FAILED.format(
        400, '{"code":"invalid_param","message":"unexpected app type","status":400}')
    assert requests.get(emu.base_url + "/fetch_app", timeout=HTTP_TIMEOUT).json()["ok"] is True


@pytest.mark.parametrize("mode", MODES)
def test_scripted_events_verbatim_with_delay(emu, mode):
    events = [{"event": "message", "answer": "one"}, {"event": "message", "answer": "two"}, {"event": "custom", "x": 1}]
    emu.load_scenario({"app": {"mode": mode}, "replies": [{"events": events, "delay_ms": 300}]})
    started = time.monotonic()
    assert call_app(emu, query="q", inputs={}) == events
    assert time.monotonic() - started >= 0.8


@pytest.mark.parametrize("mode", MODES)
def test_then_fail_breaks_the_stream(emu, mode):
    events = [{"event": "message", "answer": "partial"}]
    emu.load_scenario({"app": {"mode": mode}, "replies": [{"events": events, "then_fail": "boom midway"}]})
    assert call_app(emu, query="q") == [*events, {"error": "boom midway"}]


@pytest.mark.parametrize("mode", MODES)
def test_fail_before_any_event(emu, mode):
    text = ('invoke app failed: request failed with status code: 400 and respond with: '
            '{"code": "invalid_param", "message": "quota", "status": 400}')
    emu.load_scenario({"app": {"mode": mode}, "replies": [{"fail": text}]})
    assert call_app(emu, query="q") == [{"error": text}]
    if mode != "agent-chat":  # agent-chat refuses blocking mode before the app runs
        assert call_app(emu, query="q", response_mode="blocking") == [{"error": text}]


@pytest.mark.parametrize("mode", ["chat", "advanced-chat", "workflow"])
def test_blocking_reply_is_returned_as_given(emu, mode):
    blocking = {"event": "message", "answer": "canned", "whatever": [1, 2]}
    emu.load_scenario({"app": {"mode": mode}, "replies": [{"blocking": blocking}]})
    assert call_app(emu, query="q", response_mode="blocking") == [blocking]
    # Without blocking mode the same reply echoes.
    assert answer_of(call_app(emu, query="q", inputs={"a": "q"})) == "q"


def test_blocking_folds_scripted_events(emu):
    events = [
        {"event": "message", "conversation_id": "9a0b6f5e-8d55-4b53-9f51-2f7b6ad8d001", "message_id": "m1",
         "answer": "Hel"},
        {"event": "message", "answer": "lo"},
        {"event": "message_end", "metadata": {"usage": {"total_tokens": 7}}},
    ]
    emu.load_scenario({"replies": [{"events": events}]})
    [result] = call_app(emu, query="q", response_mode="blocking")
    assert result["answer"] == "Hello" and result["message_id"] == "m1" and result["mode"] == "chat"
    assert result["conversation_id"] == "9a0b6f5e-8d55-4b53-9f51-2f7b6ad8d001"
    assert result["metadata"] == {"usage": {"total_tokens": 7}}


def test_blocking_with_error_event_fails(emu):
    # Blocking mode raises the run's error: Dify answers an InvokeError (a ValueError) with invalid_param.
    emu.load_scenario({"replies": [{"events": [{"event": "error", "status": 400, "code": "provider_quota_exceeded",
                                                "message": "quota"}]}]})
    [result] = call_app(emu, query="q", response_mode="blocking")
    assert result["error"] == FAILED.format(400, '{"code":"invalid_param","message":"quota","status":400}')
    emu.load_scenario({"replies": [{"events": [{"event": "error", "status": 500, "code": "internal_server_error",
                                                "message": "boom"}]}]})
    [result] = call_app(emu, query="q", response_mode="blocking")
    assert result["error"] == FAILED.format(500, '{"message":"Internal Server Error","code":"unknown","status":500}')


def test_replies_in_order_last_repeats(emu):
    emu.load_scenario({"replies": [{"fail": "first"}, {"events": [{"event": "message", "answer": "second"}]}]})
    assert call_app(emu, query="q") == [{"error": "first"}]
    for _ in range(2):
        assert call_app(emu, query="q") == [{"event": "message", "answer": "second"}]
    emu.load_scenario({"replies": [{"fail": "first"}, {"echo": True}]})
    assert call_app(emu, query="q") == [{"error": "first"}]


def test_echo_delay_before_first_event(emu):
    emu.load_scenario({"replies": [{"echo": True, "delay_ms": 250}]})
    started = time.monotonic()
    call_app(emu, query="a b c d")
    assert time.monotonic() - started >= 5 * 0.25


def test_unknown_app_is_a_400(emu):
    # PluginAppBackwardsInvocation._get_app raises ValueError("app not found").
    [result] = call_app(emu, query="q", app_id="no-such-app")
    assert result["error"] == FAILED.format(400, '{"code":"invalid_param","message":"app not found","status":400}')


@pytest.mark.parametrize("mode", CHAT_MODES)
def test_chat_app_without_query_fails(emu, mode):
    emu.load_scenario({"app": {"mode": mode}})
    [result] = call_app(emu, query="", inputs={})
    assert "missing query" in result["error"] and "status code: 400" in result["error"]


FORM = {"user_input_form": [
    {"text-input": {"variable": "topic", "label": "Topic", "required": True, "max_length": 20}},
    {"select": {"variable": "tone", "label": "Tone", "required": False, "options": ["dry", "warm"]}},
]}


@pytest.mark.parametrize("mode", MODES)
def test_required_input_is_enforced(emu, mode):
    emu.load_scenario({"app": {"mode": mode, "parameters": FORM}})
    [result] = call_app(emu, query="q", inputs={"tone": "dry"})
    assert result["error"] == FAILED.format(
        400, '{"code":"invalid_param","message":"topic is required in input form","status":400}')


def test_input_types_and_options_are_checked(emu):
    emu.load_scenario({"app": {"mode": "workflow", "parameters": FORM}})
    assert "must be one of the following" in call_app(emu, inputs={"topic": "t", "tone": "loud"})[0]["error"]
    assert "must be less than 20 characters" in call_app(emu, inputs={"topic": "t" * 21})[0]["error"]
    assert "must be a string" in call_app(emu, inputs={"topic": 5})[0]["error"]


def test_undeclared_inputs_are_dropped(emu):
    emu.load_scenario({"app": {"mode": "workflow", "parameters": FORM}})
    events = call_app(emu, inputs={"topic": "kept", "tone": "warm", "stray": "dropped"})
    assert answer_of(events) == "kept\nwarm"
    inputs = events[0]["data"]["inputs"]
    assert {k: v for k, v in inputs.items() if not k.startswith("sys.")} == {"topic": "kept", "tone": "warm"}


def test_several_apps_and_app_selection(emu):
    emu.load_scenario({"apps": {"app-wf": {"mode": "workflow", "replies": [{"events": [{"event": "wf"}]}]}}})
    assert call_app(emu, app_id="app-wf", inputs={}) == [{"event": "wf"}]
    assert call_app(emu, query="demo app")[0]["event"] == "message"
    # Selecting another app id in the settings: the scenario's app answers to it.
    emu.set_settings(app_id="app-picked")
    assert emu.settings["app_id"] == {"app_id": "app-picked", "inputs": {}, "files": [], "type": "app-selector"}
    assert answer_of(call_app(emu, query="picked")) == "picked"
    assert requests.get(emu.base_url + "/settings", timeout=HTTP_TIMEOUT).json()["app_id"]["app_id"] == "app-picked"


def test_load_scenario_switches_without_restart(emu):
    pid = emu.plugin_pid
    emu.load_scenario({"app": {"mode": "workflow"}, "settings": {"memory_mode": "conversation"}})
    assert call_app(emu, inputs={"x": "wf"})[0]["event"] == "workflow_started"
    assert requests.get(emu.base_url + "/settings", timeout=HTTP_TIMEOUT).json()["memory_mode"] == "conversation"
    emu.load_scenario({"hook_id": "other"})
    assert emu.base_url.endswith("/e/other")
    assert call_app(emu, query="chat again")[0]["event"] == "message"
    assert emu.plugin_pid == pid
