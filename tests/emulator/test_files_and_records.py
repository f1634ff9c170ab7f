"""fetch_app, file upload end to end, and the record of backwards invocations."""

import json

import requests

from dify_emulator import Emulator

from .conftest import HTTP_TIMEOUT, PROBE_DIR, call_app, storage_ops


def test_fetch_app_gives_the_parameters_themselves_with_defaults(emu):
    # The daemon strips both of Dify's `data` wrappers (recorded: fetch_app.<app>.json, golden README).
    form = [{"paragraph": {"variable": "text", "label": "Text", "required": True}}]
    emu.load_scenario({"app": {"parameters": {"user_input_form": form, "opening_statement": "Hi"}}})
    result = requests.get(emu.base_url + "/fetch_app", timeout=HTTP_TIMEOUT).json()
    assert result["ok"] is True
    parameters = result["result"]
    assert parameters["user_input_form"] == form
    assert parameters["opening_statement"] == "Hi"
    assert parameters["file_upload"]["enabled"] is False
    assert parameters["suggested_questions"] == []
    assert emu.records == [{"type": "fetch_app", "request": {"app_id": "app-demo"}}]


def test_fetch_unknown_app_fails(emu):
    result = requests.get(emu.base_url + "/fetch_app?app_id=nope", timeout=HTTP_TIMEOUT).json()
    assert result["ok"] is False and result["error"] == (
        'fetch app failed: request failed with status code: 400 and respond with: '
        '{"code":"invalid_param","message":"app not found","status":400}')


def test_upload_round_trip(emu):
    content = bytes(range(256)) * 10
    response = requests.post(emu.base_url + "/upload?filename=pic.png&mimetype=image/png", data=content,
                             timeout=HTTP_TIMEOUT)
    result = response.json()
    assert result["ok"] is True, result
    file = result["file"]
    assert (file["name"], file["size"], file["mime_type"], file["type"], file["extension"]) == (
        "pic.png", len(content), "image/png", "image", ".png")
    assert result["parameter"] == {"tool_file_id": file["id"], "transfer_method": "tool_file", "type": "image"}
    [uploaded] = emu.uploads
    assert uploaded["id"] == file["id"] and uploaded["content"] == content and uploaded["mimetype"] == "image/png"
    assert requests.get(file["preview_url"], timeout=HTTP_TIMEOUT).content == content
    assert emu.records == [{"type": "upload_file", "request": {"filename": "pic.png", "mimetype": "image/png"},
                            "file": {"name": "pic.png", "size": len(content), "mimetype": "image/png"}}]


def test_upload_url_is_single_use(emu):
    requests.post(emu.base_url + "/upload?filename=a.txt&mimetype=text/plain", data=b"x", timeout=HTTP_TIMEOUT)
    assert requests.post(f"{emu.server_url}/files/upload/not-a-token", files={"file": ("a", b"x")},
                         timeout=HTTP_TIMEOUT).status_code == 403


def test_records_list_every_invocation_as_sent(emu):
    call_app(emu, query="recorded", inputs={"a": "b"}, conversation_id="")
    storage_ops(emu, {"op": "set", "key": "k", "value": "v"})
    app_record, storage_record = emu.records
    assert app_record == {"type": "app", "request": {"app_id": "app-demo", "query": "recorded", "inputs": {"a": "b"},
                                                     "response_mode": "streaming", "conversation_id": "", "user": None}}
    assert storage_record == {"type": "storage", "request": {"opt": "set", "key": "k", "value": "76"}}


def test_record_file_and_settings(tmp_path):
    record = tmp_path / "calls.jsonl"
    with Emulator(plugin_dir=PROBE_DIR, record=str(record), settings={"api_key": "sk-x", "app_id": "app-set"}) as emu:
        settings = requests.get(emu.base_url + "/settings", timeout=HTTP_TIMEOUT).json()
        assert settings["api_key"] == "sk-x"
        assert settings["app_id"] == {"app_id": "app-set", "inputs": {}, "files": [], "type": "app-selector"}
        assert call_app(emu, query="hi")[0]["event"] == "message"
        # Constructor overrides survive load_scenario.
        emu.load_scenario({"app": {"mode": "workflow"}})
        assert call_app(emu, inputs={"x": "y"})[0]["event"] == "workflow_started"
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(line["type"], line["request"]["app_id"]) for line in lines] == [("app", "app-set"), ("app", "app-set")]
