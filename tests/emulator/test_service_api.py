"""Dify's Service API, emulated (dify_emulator/SERVICE_API.md): routes, keys, SSE framing and pings, per-user
conversations, uploads used as files, stop, and Dify's error JSON."""

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dify_emulator.service_api import ServiceApiEmulator

from .conftest import HTTP_TIMEOUT, REPO_ROOT
from .test_cli import first_line

FILE_FORM = {"user_input_form": [{"file": {"label": "Doc", "variable": "doc", "required": False}}]}
IMAGES_ONLY = {"file_upload": {"enabled": True, "allowed_file_types": ["image"],
                               "allowed_file_upload_methods": ["local_file", "remote_url"], "number_limits": 2}}
SCENARIO: dict[str, Any] = {
    "apps": {
        "agent": {"mode": "agent-chat"},
        "flow": {"mode": "advanced-chat"},
        "flowfiles": {"mode": "advanced-chat", "parameters": IMAGES_ONLY},
        "work": {"mode": "workflow", "api_key": "app-own-key"},
        "text": {"mode": "completion"},
        "form": {"mode": "workflow", "parameters": {"user_input_form": [
            {"text-input": {"label": "Topic", "variable": "topic", "required": True}}]}},
        "vision": {"mode": "workflow", "parameters": IMAGES_ONLY, "graph": [
            {"id": "start", "type": "start"},
            {"id": "end", "type": "end", "outputs": {"names": ["sys", "user_id"], "files": ["sys", "files"]}}]},
        "blind": {"mode": "workflow", "graph": [
            {"id": "start", "type": "start"}, {"id": "end", "type": "end", "outputs": {"files": ["sys", "files"]}}]},
        "slow": {"mode": "chat", "replies": [{"echo": True, "delay_ms": 40}]},
        "slowflow": {"mode": "workflow", "replies": [{"echo": True, "delay_ms": 40}]},
        "broken": {"mode": "chat", "replies": [{"fail": "invoke app failed: request failed with status code: 429 "
                                                "and respond with: {\"code\": \"too_many_requests\", \"message\": "
                                                "\"slow down\", \"status\": 429}"}]},
    },
}


@pytest.fixture(scope="module")
def server() -> Iterator[ServiceApiEmulator]:
    with ServiceApiEmulator(scenario=SCENARIO) as api:
        yield api


@pytest.fixture
def api(server: ServiceApiEmulator) -> ServiceApiEmulator:
    server.load_scenario(SCENARIO)
    server.records.clear()
    server.conversations.clear()
    server.ping_interval = 10.0
    return server


def call(api: ServiceApiEmulator, app_id: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {api.app_key(app_id)}", **kwargs.pop("headers", {})}
    return httpx.request(method, api.base_url + path, headers=headers, timeout=HTTP_TIMEOUT, **kwargs)


def run(api: ServiceApiEmulator, app_id: str, path: str, **body: Any) -> httpx.Response:
    return call(api, app_id, "POST", path, json={"inputs": {}, "user": "alice", **body})


def frames(text: str) -> list[str]:
    """The SSE blocks of a body; every one must be a data line or a ping, each ended by a blank line."""
    assert text.endswith("\n\n")
    blocks = text[:-2].split("\n\n")
    for block in blocks:
        assert block == "event: ping" or (block.startswith("data: {") and "\n" not in block), block
    return blocks


def events(text: str) -> list[dict[str, Any]]:
    return [json.loads(block[len("data: "):]) for block in frames(text) if block != "event: ping"]


def names(text: str) -> list[str]:
    return [event["event"] for event in events(text)]


def squeeze(sequence: list[str]) -> list[str]:
    """Repeated names once: the number of chunks is the echo model's business."""
    return [name for i, name in enumerate(sequence) if i == 0 or sequence[i - 1] != name]


def assert_error(response: httpx.Response, status: int, code: str, message: str | None = None) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == status, response.text
    assert list(body) == ["code", "message", "status"] and body["code"] == code and body["status"] == status
    if message is not None:
        assert body["message"] == message
    return body


# -- keys and the app --------------------------------------------------------------------------------------

def test_every_app_has_a_key_given_or_derived(api: ServiceApiEmulator):
    assert api.app_key("app-demo") == "app-key-app-demo"
    assert api.app_key("work") == "app-own-key"
    assert api.base_url.startswith("http://127.0.0.1:") and api.base_url.endswith("/v1")


def test_authorization_is_checked_as_dify_checks_it(api: ServiceApiEmulator):
    url = api.base_url + "/info"
    missing = httpx.get(url, timeout=HTTP_TIMEOUT)
    assert_error(missing, 401, "unauthorized", "Authorization header must be provided and start with 'Bearer'")
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    basic = httpx.get(url, headers={"Authorization": "Basic abc"}, timeout=HTTP_TIMEOUT)
    assert_error(basic, 401, "unauthorized", "Authorization scheme must be 'Bearer'")
    wrong = httpx.get(url, headers={"Authorization": "Bearer app-nope"}, timeout=HTTP_TIMEOUT)
    assert_error(wrong, 401, "unauthorized", "Access token is invalid")


def test_unknown_routes_and_methods(api: ServiceApiEmulator):
    assert_error(call(api, "app-demo", "GET", "/nothing"), 404, "not_found")
    assert_error(call(api, "app-demo", "GET", "/chat-messages"), 405, "method_not_allowed")


def test_info_parameters_and_meta(api: ServiceApiEmulator):
    info = call(api, "work", "GET", "/info").json()
    assert info == {"name": "app", "description": "", "tags": [], "mode": "workflow"}
    parameters = call(api, "form", "GET", "/parameters").json()
    assert parameters["user_input_form"][0]["text-input"]["variable"] == "topic"
    assert parameters["file_upload"] == {"enabled": False}
    assert call(api, "app-demo", "GET", "/meta").json() == {"tool_icons": {}}
    assert [r["type"] for r in api.records] == ["info", "parameters", "meta"]


# -- runs: the plugin path's event sequences, framed as SSE --------------------------------------------------

@pytest.mark.parametrize(("app_id", "path", "expected"), [
    ("app-demo", "/chat-messages", ["message", "message_end"]),
    ("agent", "/chat-messages", ["agent_thought", "agent_message", "agent_thought", "message_end"]),
    ("flow", "/chat-messages", ["workflow_started", "node_started", "node_finished", "node_started", "message",
                                "node_finished", "node_started", "node_finished", "message_end",
                                "workflow_finished"]),
    ("work", "/workflows/run", ["workflow_started", "node_started", "node_finished", "node_started",
                                "text_chunk", "node_finished", "node_started", "node_finished",
                                "workflow_finished"]),
    ("text", "/completion-messages", ["message", "message_end"]),
])
def test_streams_have_the_modes_event_sequence(api: ServiceApiEmulator, app_id: str, path: str,
                                               expected: list[str]):
    body = {"query": "hello there", "inputs": {"query": "hello there", "x": "hello there"}}
    response = run(api, app_id, path, response_mode="streaming", **body)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert squeeze(names(response.text)) == expected
    assert all(event["task_id"] for event in events(response.text))


def test_completion_apps_answer_without_a_conversation(api: ServiceApiEmulator):
    streamed = events(run(api, "text", "/completion-messages", inputs={"query": "write"},
                          response_mode="streaming").text)
    assert all("conversation_id" not in event for event in streamed)
    assert "".join(e.get("answer", "") for e in streamed) == "write"
    blocking = run(api, "text", "/completion-messages", inputs={"query": "write"}).json()
    assert list(blocking) == ["event", "task_id", "id", "message_id", "mode", "answer", "metadata", "created_at"]
    assert blocking["mode"] == "completion" and blocking["answer"] == "write"


def test_blocking_is_the_default_and_returns_difys_dicts(api: ServiceApiEmulator):
    chat = run(api, "app-demo", "/chat-messages", query="hi")
    assert chat.headers["content-type"] == "application/json"
    assert list(chat.json()) == ["event", "task_id", "id", "message_id", "conversation_id", "mode", "answer",
                                 "metadata", "created_at"]
    assert chat.json()["answer"] == "hi"
    work = run(api, "work", "/workflows/run", inputs={"x": "flowing"}).json()
    assert list(work) == ["task_id", "workflow_run_id", "data"]
    assert work["data"]["outputs"] == {"answer": "flowing"} and work["data"]["status"] == "succeeded"


def test_sys_user_id_is_the_callers_user(api: ServiceApiEmulator):
    outputs = run(api, "vision", "/workflows/run", user="carol").json()["data"]["outputs"]
    assert outputs == {"names": "carol", "files": []}
    assert api.records[-1] == {"type": "workflows/run", "app_id": "vision",
                               "request": {"inputs": {}, "user": "carol"}, "user": "carol"}


def test_pings_while_the_app_is_silent(api: ServiceApiEmulator):
    api.ping_interval = 0.01
    text = run(api, "slow", "/chat-messages", query="one two three", response_mode="streaming").text
    blocks = frames(text)
    assert "event: ping" in blocks
    assert squeeze(names(text)) == ["message", "message_end"]
    api.ping_interval = 10.0
    assert "event: ping" not in frames(run(api, "app-demo", "/chat-messages", query="x",
                                           response_mode="streaming").text)


# -- conversations belong to their user -----------------------------------------------------------------------

def test_conversations_are_scoped_by_user(api: ServiceApiEmulator):
    first = run(api, "flow", "/chat-messages", query="hello").json()
    conversation_id = first["conversation_id"]
    again = run(api, "flow", "/chat-messages", query="again", conversation_id=conversation_id)
    assert again.status_code == 200 and again.json()["conversation_id"] == conversation_id
    assert api.conversations[conversation_id]["queries"] == ["hello", "again"]

    stranger = run(api, "flow", "/chat-messages", query="mine?", conversation_id=conversation_id, user="bob")
    assert_error(stranger, 404, "not_found", "Conversation Not Exists.")
    other_app = run(api, "app-demo", "/chat-messages", query="x", conversation_id=conversation_id)
    assert_error(other_app, 404, "not_found", "Conversation Not Exists.")

    listed = call(api, "flow", "GET", "/conversations", params={"user": "alice"}).json()
    assert [c["id"] for c in listed["data"]] == [conversation_id] and listed["has_more"] is False
    assert call(api, "flow", "GET", "/conversations", params={"user": "bob"}).json()["data"] == []


def test_a_deleted_conversation_is_forgotten(api: ServiceApiEmulator):
    conversation_id = run(api, "app-demo", "/chat-messages", query="hello").json()["conversation_id"]
    path = f"/conversations/{conversation_id}"
    assert_error(call(api, "app-demo", "DELETE", path, json={"user": "bob"}), 404, "not_found")
    deleted = call(api, "app-demo", "DELETE", path, json={"user": "alice"})
    assert deleted.status_code == 204 and deleted.content == b""
    gone = run(api, "app-demo", "/chat-messages", query="still there?", conversation_id=conversation_id)
    assert_error(gone, 404, "not_found", "Conversation Not Exists.")


# -- files ------------------------------------------------------------------------------------------------

def upload(api: ServiceApiEmulator, app_id: str, name: str, mimetype: str, user: str = "alice") -> httpx.Response:
    return call(api, app_id, "POST", "/files/upload", files={"file": (name, b"\x89PNG-bytes", mimetype)},
                data={"user": user})


def test_upload_then_use_the_file(api: ServiceApiEmulator):
    uploaded = upload(api, "vision", "cat.png", "image/png")
    assert uploaded.status_code == 201
    record = uploaded.json()
    assert list(record) == ["id", "name", "size", "extension", "mime_type", "created_by", "created_at",
                            "preview_url", "source_url"]
    assert (record["name"], record["size"], record["extension"], record["mime_type"]) == \
        ("cat.png", 10, "png", "image/png")
    assert httpx.get(record["source_url"], timeout=HTTP_TIMEOUT).content == b"\x89PNG-bytes"

    mapping = {"type": "image", "transfer_method": "local_file", "upload_file_id": record["id"]}
    outputs = run(api, "vision", "/workflows/run", files=[mapping]).json()["data"]["outputs"]
    [file] = outputs["files"]
    assert (file["filename"], file["type"], file["transfer_method"], file["related_id"]) == \
        ("cat.png", "image", "local_file", record["id"])
    assert api.records[0]["type"] == "files/upload"
    assert api.records[0]["request"]["file"] == {"name": "cat.png", "mimetype": "image/png", "size": 10}


def test_a_chatflow_stream_shows_the_querys_files_in_its_inputs(api: ServiceApiEmulator):
    record = upload(api, "flowfiles", "cat.png", "image/png").json()
    mapping = {"type": "image", "transfer_method": "local_file", "upload_file_id": record["id"]}
    response = run(api, "flowfiles", "/chat-messages", query="what is this?", response_mode="streaming",
                   files=[mapping])
    assert response.status_code == 200
    events = [json.loads(block[6:]) for block in frames(response.text) if block.startswith("data: ")]
    started = next(e for e in events if e["event"] == "workflow_started")
    [shown] = started["data"]["inputs"]["sys.files"]
    assert (shown["filename"], shown["related_id"]) == ("cat.png", record["id"])
    assert events[-1]["event"] == "workflow_finished"


def test_files_the_app_does_not_allow(api: ServiceApiEmulator):
    pdf = upload(api, "vision", "report.pdf", "application/pdf").json()
    as_document = {"type": "document", "transfer_method": "local_file", "upload_file_id": pdf["id"]}
    refused = run(api, "vision", "/workflows/run", files=[as_document])
    assert_error(refused, 400, "invalid_param", "File validation failed for file: report.pdf")
    unknown = {"type": "image", "transfer_method": "local_file",
               "upload_file_id": "b5a5e1f0-0000-4000-8000-000000000000"}
    assert_error(run(api, "vision", "/workflows/run", files=[unknown]), 400, "invalid_param", "Invalid upload file")
    remote = {"type": "image", "transfer_method": "remote_url", "url": "https://example.com/a.png"}
    assert_error(run(api, "vision", "/workflows/run", files=[remote]), 400, "invalid_param",
                 "Reached maximum retries (3) for URL https://example.com/a.png")
    image = {"type": "image", "transfer_method": "local_file", "upload_file_id": pdf["id"]}
    assert_error(run(api, "vision", "/workflows/run", files=[image] * 3), 400, "invalid_param",
                 "Number of files exceeds the maximum limit 2")
    # With file upload off, Dify drops the request's files without a word.
    ignored = run(api, "blind", "/workflows/run", files=[as_document]).json()
    assert ignored["data"]["outputs"] == {"files": []}


def test_upload_refusals(api: ServiceApiEmulator):
    assert_error(call(api, "vision", "POST", "/files/upload", data={"user": "alice"}), 400, "no_file_uploaded")
    many = call(api, "vision", "POST", "/files/upload",
                files=[("file", ("a.png", b"a", "image/png")), ("other", ("b.png", b"b", "image/png"))])
    assert_error(many, 400, "too_many_files", "Only one file is allowed.")


# -- stop ---------------------------------------------------------------------------------------------------

def stream_and_stop(api: ServiceApiEmulator, app_id: str, path: str, stop_path: str, stopper: str,
                    **body: Any) -> list[dict[str, Any]]:
    """Stream a slow run, ask to stop it after its first event, return everything that arrived."""
    seen: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {api.app_key(app_id)}"}
    payload = {"inputs": {}, "user": "alice", "response_mode": "streaming", **body}
    with httpx.stream("POST", api.base_url + path, json=payload, headers=headers, timeout=HTTP_TIMEOUT) as response:
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            seen.append(json.loads(line[len("data: "):]))
            if len(seen) == 1:
                stopped = run(api, app_id, stop_path.format(task_id=seen[0]["task_id"]), user=stopper)
                assert stopped.json() == {"result": "success"}
    return seen


def test_stop_ends_a_chat_stream_with_message_end(api: ServiceApiEmulator):
    full = events(run(api, "slow", "/chat-messages", query="one two three four five six seven",
                      response_mode="streaming").text)
    seen = stream_and_stop(api, "slow", "/chat-messages", "/chat-messages/{task_id}/stop", "alice",
                           query="one two three four five six seven")
    assert len(seen) < len(full)
    assert seen[-1]["event"] == "message_end"
    assert api.records[-1]["type"] == "stop" and api.records[-1]["request"]["user"] == "alice"


def test_stop_ends_a_workflow_with_a_stopped_workflow_finished(api: ServiceApiEmulator):
    seen = stream_and_stop(api, "slowflow", "/workflows/run", "/workflows/tasks/{task_id}/stop", "alice",
                           inputs={"x": "one two three four"})
    assert seen[-1]["event"] == "workflow_finished"
    assert (seen[-1]["data"]["status"], seen[-1]["data"]["error"]) == ("stopped", "Stopped by user.")


def test_someone_elses_stop_does_nothing(api: ServiceApiEmulator):
    seen = stream_and_stop(api, "slowflow", "/workflows/run", "/workflows/tasks/{task_id}/stop", "mallory",
                           inputs={"x": "one two"})
    assert seen[-1]["data"]["status"] == "succeeded"


def test_stop_of_an_unknown_task_succeeds_and_wrong_modes_fail(api: ServiceApiEmulator):
    assert run(api, "app-demo", "/chat-messages/no-such-task/stop").json() == {"result": "success"}
    assert_error(run(api, "app-demo", "/workflows/tasks/t/stop"), 400, "not_workflow_app")
    assert_error(run(api, "work", "/chat-messages/t/stop"), 400, "not_chat_app")
    assert_error(run(api, "work", "/completion-messages/t/stop"), 400, "app_unavailable")


# -- errors -------------------------------------------------------------------------------------------------

def test_each_route_refuses_the_wrong_mode(api: ServiceApiEmulator):
    assert_error(run(api, "work", "/chat-messages", query="x"), 400, "not_chat_app",
                 "Please check if your app mode matches the right API route.")
    assert_error(run(api, "app-demo", "/workflows/run"), 400, "not_workflow_app")
    assert_error(run(api, "app-demo", "/completion-messages"), 400, "app_unavailable",
                 "App unavailable, please check your app configurations.")
    assert_error(call(api, "work", "GET", "/conversations"), 400, "not_chat_app")


def test_request_refusals(api: ServiceApiEmulator):
    no_user = call(api, "app-demo", "POST", "/chat-messages", json={"query": "x", "inputs": {}})
    assert_error(no_user, 400, "invalid_param", "Arg user must be provided.")
    missing_query = assert_error(run(api, "app-demo", "/chat-messages"), 400, "invalid_param")
    assert missing_query["message"].startswith("1 validation error for ChatRequestPayload\nquery\n  Field required")
    assert_error(run(api, "app-demo", "/chat-messages", query=""), 400, "invalid_param", "query is required")
    bad_id = assert_error(run(api, "app-demo", "/chat-messages", query="x", conversation_id="nope"), 400,
                          "invalid_param")
    assert "conversation_id must be a valid UUID" in bad_id["message"]
    unknown = run(api, "app-demo", "/chat-messages", query="x", conversation_id="8d7c1f35-1111-4222-8333-444455556666")
    assert_error(unknown, 404, "not_found", "Conversation Not Exists.")
    assert_error(run(api, "agent", "/chat-messages", query="x"), 400, "invalid_param",
                 "Agent Chat App does not support blocking mode")
    assert_error(run(api, "form", "/workflows/run"), 400, "invalid_param", "topic is required in input form")
    not_json = call(api, "app-demo", "POST", "/chat-messages", content=b"{",
                    headers={"Content-Type": "application/json"})
    assert_error(not_json, 400, "bad_request")
    assert_error(run(api, "broken", "/chat-messages", query="x"), 429, "too_many_requests", "slow down")


def test_records_say_what_the_client_sent(api: ServiceApiEmulator):
    run(api, "app-demo", "/chat-messages", query="hi", auto_generate_name=False)
    assert api.records == [{"type": "chat-messages", "app_id": "app-demo", "user": "alice",
                            "request": {"inputs": {}, "user": "alice", "query": "hi", "auto_generate_name": False}}]


def test_concurrent_streams(api: ServiceApiEmulator):
    results: list[list[str]] = []

    def one(n: int) -> None:
        results.append(squeeze(names(run(api, "slow", "/chat-messages", query=f"q{n}",
                                         response_mode="streaming").text)))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [["message", "message_end"]] * 8


def test_serve_api_prints_the_base_url_and_stops_on_sigterm():
    proc = subprocess.Popen([sys.executable, "-m", "dify_emulator", "serve-api", "--port", "0"], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = first_line(proc, timeout=30).strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        info = httpx.get(url + "/info", headers={"Authorization": "Bearer app-key-app-demo"}, timeout=HTTP_TIMEOUT)
        assert info.json()["mode"] == "chat"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0 and out == ""
        assert "app-demo: API key app-key-app-demo" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
