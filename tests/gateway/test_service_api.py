"""The DifyPort over the Service API, against real Dify 1.14.1 events in the Service API's SSE framing."""

from __future__ import annotations

import base64

import pytest

from gateway.dify_api import ServiceApiDify
from gateway.sse import StreamParseError, events, lines
from openai_bridge.dify import failures
from openai_bridge.dify.call import DifyCall

from .fake_service_api import FakeApp, recorded_events, recorded_parameters, sse

CHATFLOW = recorded_events("a_chatflow_stream.jsonl")
WORKFLOW = recorded_events("b_workflow_stream.jsonl")
COMPLETION = [  # Dify's completion envelope: message_id and created_at, no conversation
    {"event": "message", "task_id": "t-c", "id": "m-c", "message_id": "m-c", "created_at": 1, "answer": "Once "},
    {"event": "message", "task_id": "t-c", "id": "m-c", "message_id": "m-c", "created_at": 1, "answer": "upon"},
    {"event": "message_end", "task_id": "t-c", "id": "m-c", "message_id": "m-c", "created_at": 1,
     "metadata": {"usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}},
]
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 32).decode()


def test_sse_events_skip_pings_and_blank_lines():
    assert list(events(lines(sse(CHATFLOW)))) == CHATFLOW
    assert list(events(lines(sse(CHATFLOW, cut=1)))) == CHATFLOW  # characters cut between chunks too
    assert list(events(['data: {"event": "message"}'])) == [{"event": "message"}]  # no closing blank line
    with pytest.raises(StreamParseError) as info:
        list(events(["data: <html>", ""]))
    assert failures.from_exception(info.value).code == "upstream_error"
    assert "not a JSON object" in failures.from_exception(info.value).message


def test_only_cr_and_lf_end_a_line():
    # Found by tests/fuzz/test_fuzz_gateway.py: httpx's iter_lines also split at U+2028, U+0085, U+001C ..., which
    # Dify writes as they are inside an answer's JSON, and such an answer broke the stream (a 502).
    answer = "a\u2028b\x85c\x1cd\x0be\u2029"
    chunks = sse([{"event": "message", "answer": answer}], cut=3)
    assert list(events(lines(chunks))) == [{"event": "message", "answer": answer}]
    assert list(lines([b"a\r", b"\nb\rc\n", b"\r\n"])) == ["a", "b", "c", ""]


def test_an_answer_with_unicode_line_separators_comes_through(gateway):
    answer = "one\u2028two\x85three"
    served = gateway({"app-key-chat": FakeApp("chat", events=[
        {"event": "message", "task_id": "t", "message_id": "m", "conversation_id": "c", "answer": answer},
        {"event": "message_end", "task_id": "t", "message_id": "m", "conversation_id": "c", "metadata": {}}])})
    status, body = served.post("/v1/chat/completions", {"model": "model-0", "messages": [{"role": "user",
                                                                                         "content": "hi"}]})
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] == answer


@pytest.mark.parametrize(("mode", "path", "has_query", "has_conversation"), [
    ("advanced-chat", "/chat-messages", True, True), ("chat", "/chat-messages", True, True),
    ("agent-chat", "/chat-messages", True, True), ("completion", "/completion-messages", True, False),
    ("workflow", "/workflows/run", False, False),
])
def test_the_apps_mode_picks_the_endpoint(gateway, mode, path, has_query, has_conversation):
    gw = gateway({"app-k": FakeApp(mode, events=COMPLETION)})
    call = DifyCall(gw.config.models[0].app_id, "hi", {"query": "hi"}, None, "alice", [])
    assert list(gw.dify.invoke_app(call)) == COMPLETION
    body = gw.fake.calls(path)[-1]["body"]
    assert body["response_mode"] == "streaming" and body["user"] == "alice" and body["inputs"] == {"query": "hi"}
    assert ("query" in body) is has_query and ("conversation_id" in body) is has_conversation
    assert gw.fake.calls("/stop") == []  # the run ended: nothing to stop


def test_a_completion_app_answers_where_the_plugin_path_cannot(gateway):
    gw = gateway({"app-c": FakeApp("completion", recorded_parameters("e_completion"), COMPLETION)})
    status, body = gw.post("/v1/chat/completions", {"model": "model-0", "messages": [
        {"role": "user", "content": "tell a story"}]})
    assert status == 200 and body["choices"][0]["message"]["content"] == "Once upon"
    sent = gw.fake.calls("/completion-messages")[-1]["body"]
    assert sent["inputs"]["query"] == "tell a story"
    status, body = gw.post("/v1/completions", {"model": "model-0", "prompt": "tell"})
    assert status == 200 and body["choices"][0]["text"] == "Once upon"


def test_a_text_generators_internal_error_gets_no_plugin_path_advice(gateway):
    refusal = (500, {"code": "unknown", "message": "Internal Server Error", "status": 500})
    gw = gateway({"app-c": FakeApp("completion", recorded_parameters("e_completion"), refusal=refusal)})
    status, body = gw.post("/v1/chat/completions", {"model": "model-0", "messages": [{"role": "user", "content": "x"}]})
    assert (status, body["error"]["code"]) == (502, "dify_internal_error")
    assert "plugin API" not in body["error"]["message"] and "server log" in body["error"]["message"]


def test_a_workflow_answers_and_gets_no_query(gateway):
    gw = gateway({"app-w": FakeApp("workflow", recorded_parameters("b_workflow"), WORKFLOW)})
    status, body = gw.post("/v1/chat/completions", {"model": "model-0", "messages": [
        {"role": "user", "content": "hi workflow stream"}]})
    assert status == 200 and body["choices"][0]["message"]["content"] == "hi workflow stream"
    assert "query" not in gw.fake.calls("/workflows/run")[-1]["body"]


def test_dify_error_json_becomes_the_plugins_error(gateway):
    refusal = (400, {"code": "invalid_param", "message": "Model is not configured", "status": 400})
    gw = gateway({"app-e": FakeApp("advanced-chat", recorded_parameters("a_echo"), refusal=refusal)})
    status, body = gw.post("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert status == 400 and body["error"]["code"] == "invalid_param"
    assert "Model is not configured" in body["error"]["message"]


def test_a_conversation_dify_does_not_know_is_the_callers_404(gateway):
    refusal = (404, {"code": "not_found", "message": "Conversation Not Exists.", "status": 404})
    gw = gateway({"app-e": FakeApp("advanced-chat", recorded_parameters("a_echo"), refusal=refusal)})
    status, body = gw.post("/v1/chat/completions", {"model": "m", "conversation_id": "0" * 8 + "-0000-0000-0000-" +
                                                    "0" * 12, "messages": [{"role": "user", "content": "x"}]})
    assert status == 404 and body["error"]["code"] == "conversation_not_found"


def test_a_key_dify_refuses_is_named(gateway):
    gw = gateway({"app-good": FakeApp("chat")}, models={"m": "app-revoked"})
    status, body = gw.post("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert status == 502 and body["error"]["code"] == "dify_app_key_invalid"


def test_closing_the_stream_early_stops_the_run_as_its_user(gateway):
    gw = gateway({"app-k": FakeApp("advanced-chat", events=CHATFLOW)})
    stream = gw.dify.invoke_app(DifyCall(gw.config.models[0].app_id, "hi", user="bob"))
    first = next(stream)
    stream.close()  # type: ignore[attr-defined]
    stop = gw.fake.calls("/stop")
    assert stop[-1]["path"] == f"/chat-messages/{first['task_id']}/stop" and stop[-1]["body"] == {"user": "bob"}
    assert gw.fake.closed == 1  # the HTTP stream is released too


def test_workflow_runs_stop_at_their_own_path(gateway):
    gw = gateway({"app-w": FakeApp("workflow", events=WORKFLOW)})
    stream = gw.dify.invoke_app(DifyCall(gw.config.models[0].app_id, "", {"query": "q"}, user="bob"))
    first = next(stream)
    stream.close()  # type: ignore[attr-defined]
    assert gw.fake.calls("/stop")[-1]["path"] == f"/workflows/tasks/{first['task_id']}/stop"


def test_the_callers_identity_is_difys_user(gateway):
    gw = gateway({"app-k": FakeApp("advanced-chat", recorded_parameters("a_echo"), CHATFLOW)})
    gw.post("/v1/chat/completions", {"model": "m", "user": "carol", "messages": [{"role": "user", "content": "x"}]})
    assert gw.fake.calls("/chat-messages")[-1]["body"]["user"] == "carol"
    gw.post("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "x"}]},
            **{"X-OpenWebUI-User-Id": "u-42"})
    assert gw.fake.calls("/chat-messages")[-1]["body"]["user"] == "u-42"
    gw.post("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "x"}]})
    anonymous = gw.fake.calls("/chat-messages")[-1]["body"]["user"]
    gw.post("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "y"}]})
    assert anonymous.startswith("openai-") and gw.fake.calls("/chat-messages")[-1]["body"]["user"] == anonymous


def test_images_reach_the_querys_files_uploaded_with_the_models_own_key(gateway):
    parameters = {**recorded_parameters("a_echo"), "file_upload": {"enabled": True, "allowed_file_types": ["image"],
                                                                    "allowed_file_upload_methods": ["local_file"]}}
    gw = gateway({"app-1": FakeApp("chat"), "app-2": FakeApp("advanced-chat", parameters, CHATFLOW)},
                 models={"first": "app-1", "vision": "app-2"})
    status, _ = gw.post("/v1/chat/completions", {"model": "vision", "user": "dave", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "what is it"},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}]})
    assert status == 200
    upload = gw.fake.calls("/files/upload")[-1]
    assert upload["key"] == "app-2" and 'name="user"' in upload["body"] and "dave" in upload["body"]
    files = gw.fake.calls("/chat-messages")[-1]["body"]["files"]
    assert files == [{"type": "image", "transfer_method": "local_file", "upload_file_id": files[0]["upload_file_id"]}]
    assert files[0]["upload_file_id"].startswith("file-")


def test_every_client_key_is_accepted_and_no_other(gateway):
    gw = gateway({"app-k": FakeApp("advanced-chat", recorded_parameters("a_echo"), CHATFLOW)})
    for key in ("sk-one", "sk-two"):
        assert gw.post("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "x"}]},
                       key=key)[0] == 200
    status, body = gw.post("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "x"}]},
                           key="sk-three")
    assert status == 401 and body["error"]["code"] == "invalid_api_key"


def test_the_app_mode_is_asked_once_per_minute(gateway):
    gw = gateway({"app-k": FakeApp("advanced-chat", events=CHATFLOW)})
    for _ in range(3):
        list(gw.dify.invoke_app(DifyCall(gw.config.models[0].app_id, "hi", user="u")))
    assert len(gw.fake.calls("/info")) == 1


def test_an_unreachable_dify_is_an_upstream_error(tmp_path):
    from gateway.config import parse
    from gateway.storage import SqliteStorage
    config = parse({"dify_url": "http://127.0.0.1:9/v1", "client_keys": ["k"],
                    "models": [{"name": "m", "app_key": "app-x"}]}, {})
    dify = ServiceApiDify(config, SqliteStorage(str(tmp_path / "s.db")))
    with pytest.raises(failures.DifyRefusal) as info:
        dify.invoke_app(DifyCall(config.models[0].app_id, "hi", user="u"))
    error = failures.from_exception(info.value)
    assert error.status == 502 and "cannot reach Dify at http://127.0.0.1:9/v1" in error.message
