"""Each claim of SECURITY.md, tested (the claim's number is in the test's name)."""

from __future__ import annotations

import base64
import hmac
import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from dify_emulator import Emulator
from openai_bridge.dify.form import AppFormCache
from openai_bridge.http import auth
from openai_bridge.http.server import handle
from tests.e2e.conftest import ROOT, scenario
from tests.faults.support import content_of, tapped_logs
from tests.unit.fakes import SETTINGS, FakeDify, chat_events, post

KEY = "sk-sec-7d2c4e0a91b84f3f8c55e1b7a0d6c2e9"
CONVERSATION = "0f8fad5b-d9cb-469f-a165-70867728950e"
ROUTES = [("POST", "/v1/chat/completions"), ("POST", "/chat/completions"), ("GET", "/v1/models"),
          ("GET", "/models/dify-app"), ("POST", "/v1/responses"), ("GET", "/v1/responses/resp_x"),
          ("POST", "/v1/completions")]


def body_for(path: str, stream: bool = False) -> dict:
    if "responses" in path:
        return {"model": "m", "input": "hi", "stream": stream}
    if path.endswith("/completions") and "chat" not in path:
        return {"model": "m", "prompt": "hi", "stream": stream}
    return {"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def secured():
    with tapped_logs() as tap, Emulator(scenario=scenario(api_key=KEY), plugin_dir=ROOT) as emu:
        emu.tap = tap
        yield emu


@pytest.fixture
def emu(secured: Emulator) -> Emulator:
    secured.load_scenario(scenario(api_key=KEY))
    secured.records.clear()
    secured.fail_storage = False
    return secured


def call(emu: Emulator, method: str, path: str, key: str | None = KEY, **kwargs) -> httpx.Response:
    headers = dict(kwargs.pop("headers", {}))
    if key is not None:
        headers["Authorization"] = f"Bearer {key}".strip()
    if method == "POST" and "json" not in kwargs and "content" not in kwargs:
        kwargs["json"] = body_for(path)
    return httpx.request(method, emu.base_url + path, headers=headers, timeout=30, **kwargs)


# ---------------------------------------------------------------- 1. the key check


def test_1_every_route_needs_the_key(emu):
    for method, path in ROUTES:
        for key in (None, "", "sk-wrong", KEY[:-1], KEY + "x", KEY.upper(), f"{KEY} x", f"x {KEY}"):
            response = call(emu, method, path, key)
            assert response.status_code == 401, (method, path, key, response.text)
            assert response.json()["error"]["code"] == "invalid_api_key"
    assert not [r for r in emu.records if r["type"] == "app"]  # Dify was never called


def test_1_the_key_is_accepted_in_each_documented_header(emu):
    for headers in ({"Authorization": f"Bearer {KEY}"}, {"Authorization": f"bearer  {KEY}"}, {"api-key": KEY},
                    {"x-api-key": KEY}):
        assert call(emu, "GET", "/v1/models", None, headers=headers).status_code == 200, headers


def test_1_comparison_is_constant_time_over_the_whole_key(monkeypatch):
    seen: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return original(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    settings = {**SETTINGS, "api_key": KEY}
    for given in ("x", KEY[:10], KEY[:-1] + "0", KEY + KEY, "é" * 40, KEY):
        request = post("/v1/models", {}, key=given)
        request = type(request)("GET", "/v1/models", request.headers)
        status = handle(request, settings, FakeDify(), AppFormCache()).status
        assert status == (200 if given == KEY else 401)
    # Every presented key went through hmac.compare_digest, whole, as bytes: no early exit on a prefix or a length.
    assert [a.decode() for a, _ in seen] == ["x", KEY[:10], KEY[:-1] + "0", KEY + KEY, "é" * 40, KEY]
    assert all(b == KEY.encode() for _, b in seen)


# ---------------------------------------------------------------- 2. no key configured


@pytest.mark.parametrize("configured", ["", "   ", None])
def test_2_an_endpoint_without_a_key_refuses_everything(emu, configured):
    settings = {"api_key": configured} if configured is not None else {}
    emu.load_scenario(scenario(**settings))
    if configured is None:
        emu.set_settings(api_key=None)
    for method, path in ROUTES:
        for key in (None, "", "anything", "null", "None"):
            response = call(emu, method, path, key)
            assert response.status_code == 401, (method, path, key)
            error = response.json()["error"]
            assert error["code"] == "endpoint_not_configured" and "no API key configured" in error["message"]
    assert not [r for r in emu.records if r["type"] == "app"]


# ---------------------------------------------------------------- 3. the key never leaves


def test_3_the_key_never_appears_in_responses_logs_or_what_dify_receives(emu):
    seen: list[str] = []

    def keep(response: httpx.Response) -> None:
        seen.append(f"{response.status_code} {dict(response.headers)} {response.text}")

    emu.load_scenario(scenario(api_key=KEY, memory_mode="conversation"))
    for stream in (False, True):
        keep(call(emu, "POST", "/v1/chat/completions", json=body_for("/v1/chat/completions", stream)))
        keep(call(emu, "POST", "/v1/responses", json=body_for("/v1/responses", stream)))
    for key in ("sk-wrong", KEY[:-1], KEY + "x", ""):
        keep(call(emu, "POST", "/v1/chat/completions", key))
    keep(call(emu, "POST", "/v1/chat/completions", content=b"{not json"))
    keep(call(emu, "POST", "/v1/chat/completions", json={"model": 1}))
    keep(call(emu, "GET", "/v1/models/nope"))
    keep(call(emu, "DELETE", "/v1/models"))
    emu.fail_storage = True
    keep(call(emu, "POST", "/v1/chat/completions"))
    emu.fail_storage = False
    fail = 'invoke app failed: request failed with status code: 400 and respond with: {"code": "invalid_param"}'
    emu.load_scenario(scenario(api_key=KEY, replies=[{"fail": fail}]))
    keep(call(emu, "POST", "/v1/chat/completions"))
    emu.load_scenario(scenario(api_key=KEY, replies=[{"events": [{"event": "message", "answer": "a"}],
                                                      "then_fail": "boom"}]))
    keep(call(emu, "POST", "/v1/chat/completions", json=body_for("/v1/chat/completions", True)))

    everything = "\n".join(seen) + emu.tap.text() + json.dumps(emu.records) + repr(list(emu.storage.values()))
    assert KEY not in everything
    assert KEY[4:20] not in everything  # not even a part of it
    assert len(seen) >= 14 and emu.tap.lines


def test_3_a_wrong_key_is_not_echoed(emu):
    other = "sk-someone-elses-real-key-123456"
    response = call(emu, "POST", "/v1/chat/completions", other)
    assert response.status_code == 401 and other not in response.text and other[3:] not in response.text


def test_3_an_unexpected_failure_shows_no_detail(monkeypatch, caplog):
    def explode(*args, **kwargs):
        raise RuntimeError(f"internal detail {KEY}")

    monkeypatch.setattr("openai_bridge.http.server.chat_completions", explode)
    response = handle(post("/v1/chat/completions", {"model": "m", "messages": []}, key=KEY),
                      {**SETTINGS, "api_key": KEY}, FakeDify(), AppFormCache())
    assert response.status == 500
    message = json.loads(response.body)["error"]["message"]
    assert message == "The plugin failed unexpectedly while handling this request."
    assert KEY not in response.body.decode()


# ---------------------------------------------------------------- 4. headers derived from input


def test_4_conversation_ids_with_line_breaks_are_refused_from_the_client(emu):
    for value in (CONVERSATION + "\r\nX-Injected: 1", CONVERSATION + "\nSet-Cookie: a=b", "x\r\n\r\n<html>"):
        body = {**body_for("/v1/chat/completions"), "conversation_id": value}
        response = call(emu, "POST", "/v1/chat/completions", json=body)
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_conversation_id"
        assert "x-injected" not in response.headers and "set-cookie" not in response.headers


@pytest.mark.parametrize("stream", [False, True])
def test_4_conversation_ids_from_dify_reach_a_header_only_when_well_formed(emu, stream):
    for conversation, expected in ((CONVERSATION, CONVERSATION), (CONVERSATION + "\r\nX-Injected: 1", None),
                                   (CONVERSATION + "\n", None), ("../../etc", None)):
        env = {"conversation_id": conversation, "message_id": "m", "created_at": 1}
        events = [{"event": "message", "answer": "ok", **env}, {"event": "message_end", **env}]
        emu.load_scenario(scenario(api_key=KEY, replies=[{"events": events}]))
        response = call(emu, "POST", "/v1/chat/completions", json=body_for("/v1/chat/completions", stream))
        assert response.status_code == 200
        assert response.headers.get("x-dify-conversation-id") == expected
        assert "x-injected" not in response.headers


def test_4_every_response_header_comes_from_a_fixed_set(emu):
    # What the plugin may send, and where each value comes from (see SECURITY.md).
    allowed = {"content-type", "cache-control", "x-accel-buffering", "x-request-id", "x-dify-conversation-id",
               "retry-after", "x-should-retry", "allow", "access-control-allow-origin", "vary",
               "access-control-expose-headers", "access-control-allow-methods", "access-control-allow-headers",
               "access-control-max-age",
               # added by the emulator's HTTP server, not the plugin
               "date", "transfer-encoding", "content-length", "connection"}
    emu.load_scenario(scenario(api_key=KEY, cors_allow_origins="https://app.example.com"))
    origin = {"Origin": "https://app.example.com"}
    responses = [call(emu, "POST", "/v1/chat/completions", headers=origin),
                 call(emu, "POST", "/v1/chat/completions", headers=origin, json=body_for("/chat/completions", True)),
                 call(emu, "OPTIONS", "/v1/chat/completions", None, headers=origin),
                 call(emu, "DELETE", "/v1/models"), call(emu, "GET", "/nope"), call(emu, "POST", "/v1/models")]
    for response in responses:
        assert set(response.headers.keys()) <= allowed, response.headers


# ---------------------------------------------------------------- 5. CORS


def test_5_cors_is_closed_by_default(emu):
    for origin in ("https://app.example.com", "null", "http://localhost:3000"):
        preflight = call(emu, "OPTIONS", "/v1/chat/completions", None,
                         headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 204
        assert not any(name.startswith("access-control-") for name in preflight.headers)
        real = call(emu, "POST", "/v1/chat/completions", headers={"Origin": origin})
        assert real.status_code == 200 and "access-control-allow-origin" not in real.headers


def test_5_cors_allows_exactly_the_configured_origins(emu):
    emu.load_scenario(scenario(api_key=KEY, cors_allow_origins="https://a.example.com, https://b.example.com"))
    for origin, allowed in (("https://a.example.com", True), ("https://b.example.com", True),
                            ("https://a.example.com.evil.net", False), ("https://A.example.com", False),
                            ("http://a.example.com", False), ("null", False)):
        preflight = call(emu, "OPTIONS", "/v1/chat/completions", None, headers={"Origin": origin})
        assert (preflight.headers.get("access-control-allow-origin") == origin) is allowed, origin
        assert "access-control-allow-credentials" not in preflight.headers
        if allowed:
            assert preflight.headers["vary"] == "Origin"
    emu.load_scenario(scenario(api_key=KEY, cors_allow_origins="*"))
    response = call(emu, "POST", "/v1/chat/completions", headers={"Origin": "https://any.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


def test_5_errors_carry_the_cors_headers_too(emu):
    origin = "https://a.example.com"
    emu.load_scenario(scenario(api_key=KEY, cors_allow_origins=origin))
    answers = [
        call(emu, "POST", "/v1/chat/completions", json={"model": "m", "messages": []}, headers={"Origin": origin}),
        call(emu, "POST", "/v1/responses", key="wrong", headers={"Origin": origin}),
        call(emu, "GET", "/v1/nowhere", headers={"Origin": origin}),
    ]
    emu.load_scenario(scenario(api_key=KEY, cors_allow_origins=origin, app_id={"app_id": ""}))
    answers.append(call(emu, "POST", "/v1/chat/completions", headers={"Origin": origin}))
    assert [a.status_code for a in answers] == [400, 401, 404, 503]
    for answer in answers:
        assert answer.headers["access-control-allow-origin"] == origin and answer.headers["vary"] == "Origin"
        assert "x-request-id" in answer.headers["access-control-expose-headers"]


# ---------------------------------------------------------------- 6. size limits


def test_6_a_body_over_difys_10_mb_is_a_413(emu):
    big = {**body_for("/v1/chat/completions"), "messages": [{"role": "user", "content": "x" * (10 * 1024 * 1024)}]}
    response = call(emu, "POST", "/v1/chat/completions", json=big)
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"


def test_6_a_file_over_8_mb_is_refused_before_any_upload():
    # In-process: through Dify, base64 makes any file over ~7.5 MB exceed the 10 MB body cut (the 413 above).
    form = {"user_input_form": [{"file-list": {"variable": "files", "label": "F", "required": False,
                                               "max_length": 3, "allowed_file_types": ["image"]}}]}
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * (8 * 1024 * 1024 + 1)
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    body = {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "see"},
                                                                    {"type": "image_url", "image_url": {"url": url}}]}]}
    dify = FakeDify(events=chat_events("ok"), parameters=form)
    response = handle(post("/v1/chat/completions", body), SETTINGS, dify, AppFormCache())
    assert response.status == 400 and json.loads(response.body)["error"]["code"] == "file_too_large"
    assert not dify.uploads and not dify.calls


def test_6_a_file_whose_bytes_contradict_its_type_is_refused(emu):
    form = {"user_input_form": [{"file": {"variable": "doc", "label": "D", "required": False}}]}
    emu.load_scenario(scenario(api_key=KEY, parameters=form))
    fake_png = "data:image/png;base64," + base64.b64encode(b"MZ\x90\x00 not a png").decode()
    body = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": fake_png}}]}]}
    response = call(emu, "POST", "/v1/chat/completions", json=body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_file"
    assert not emu.uploads


@pytest.mark.parametrize("where", ["user", "inputs"])
def test_6_deep_nesting_is_a_400(emu, where):
    deep = "[" * 100_000 + "]" * 100_000 if where == "user" else "[" * 40 + "1" + "]" * 40
    raw = (b'{"model":"m","messages":[{"role":"user","content":"hi"}],"' + where.encode() + b'":'
           + (deep.encode() if where == "user" else b'{"x":' + deep.encode() + b"}") + b"}")
    response = call(emu, "POST", "/v1/chat/completions", content=raw)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid_json", "invalid_value"}


# ---------------------------------------------------------------- 7. the plugin fetches nothing itself


def test_7_image_urls_are_handed_to_dify_never_fetched_by_the_plugin(emu):
    form = {"user_input_form": [{"file-list": {"variable": "files", "label": "F", "required": False,
                                               "max_length": 3, "allowed_file_types": ["image"]}}]}
    emu.load_scenario({**scenario(api_key=KEY, parameters=form), "reachable_urls": ["http://127.0.0.1:"]})
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/internal.png"
    try:
        body = {"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": url}}]}]}
        response = call(emu, "POST", "/v1/chat/completions", json=body)
        assert response.status_code == 200
        with pytest.raises(TimeoutError):
            listener.accept()  # nobody connected: the plugin did not fetch the URL
    finally:
        listener.close()
    sent = [r["request"] for r in emu.records if r["type"] == "app"][-1]
    assert sent["inputs"]["files"] == [{"type": "image", "transfer_method": "remote_url", "url": url}]


# ---------------------------------------------------------------- 8. callers are kept apart


def test_8_callers_with_different_user_fields_never_share_a_conversation(emu):
    emu.load_scenario(scenario(api_key=KEY, memory_mode="conversation"))
    history = [{"role": "user", "content": "secret plan"}, {"role": "assistant", "content": "secret plan"},
               {"role": "user", "content": "more"}]
    call(emu, "POST", "/v1/chat/completions", json={"model": "m", "user": "alice",
                                                     "messages": [{"role": "user", "content": "secret plan"}]})
    first = [r["request"] for r in emu.records if r["type"] == "app"][-1]
    call(emu, "POST", "/v1/chat/completions", json={"model": "m", "user": "mallory", "messages": history})
    other = [r["request"] for r in emu.records if r["type"] == "app"][-1]
    assert not other.get("conversation_id")  # mallory's identical history does not continue alice's conversation
    call(emu, "POST", "/v1/chat/completions", json={"model": "m", "user": "alice", "messages": history})
    same = [r["request"] for r in emu.records if r["type"] == "app"][-1]
    assert same.get("conversation_id") and same["query"] == "more"
    assert first != same


def test_8_memory_records_hold_text_only_for_stored_responses_and_stay_with_their_app(emu):
    emu.load_scenario(scenario(api_key=KEY, memory_mode="conversation"))
    emu.records.clear()
    emu.storage.clear()
    secret = "the launch code is 0000"
    call(emu, "POST", "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": secret}]})
    call(emu, "POST", "/v1/responses", json={"model": "m", "input": f"{secret} (unstored)", "store": False})
    stored = b"".join(emu.storage[k] for k in emu.storage)
    assert stored and secret.encode() not in stored  # digests and ids only
    call(emu, "POST", "/v1/responses", json={"model": "m", "input": secret})
    kept = {k: emu.storage[k] for k in emu.storage if "/responses/" in k}
    assert len(kept) == 1 and secret.encode() in next(iter(kept.values()))  # a stored response keeps its turn
    assert all(len(json.loads(v)) <= 16 for v in emu.storage.values())
    # The same thread sent to the endpoint once it serves another app starts over there.
    emu.load_scenario({"settings": emu.settings, "app": {"mode": "chat"}, "apps": {"another-app": {"mode": "chat"}}})
    emu.set_settings(app_id="another-app")
    history = [{"role": "user", "content": secret}, {"role": "assistant", "content": secret},
               {"role": "user", "content": "more"}]
    call(emu, "POST", "/v1/chat/completions", json={"model": "m", "messages": history})
    last = [r["request"] for r in emu.records if r["type"] == "app"][-1]
    assert last["app_id"] == "another-app" and not last.get("conversation_id")


# ---------------------------------------------------------------- 9. what the SDK refuses before the plugin runs


def test_9_header_bytes_the_sdk_cannot_parse_do_not_hurt_the_plugin(emu):
    """dify_plugin 0.10.2 decodes header values as strict UTF-8 before any plugin code runs: such a request gets
    the daemon's own 500, not an OpenAI error. The plugin process is unaffected."""
    pid = emu.plugin_pid
    netloc = urlsplit(emu.server_url)
    payload = json.dumps(body_for("/v1/chat/completions")).encode()
    with socket.create_connection((netloc.hostname, netloc.port), timeout=30) as sock:
        sock.sendall(f"POST /e/{emu.hook_id}/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}"
                     f"\r\nX-User: Jos\xe9\r\nContent-Length: {len(payload)}\r\n\r\n".encode("latin-1") + payload)
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 500")
    assert KEY.encode() not in head
    response = call(emu, "POST", "/v1/chat/completions", json=body_for("/v1/chat/completions", True))
    assert content_of(response.text) == "hi" and emu.plugin_pid == pid


# ---------------------------------------------------------------- 10. storage cannot fail a request


def test_10_failing_or_corrupted_storage_only_costs_memory(emu):
    emu.load_scenario(scenario(api_key=KEY, memory_mode="conversation"))
    first = call(emu, "POST", "/v1/responses", json={"model": "m", "input": "remember me"}).json()
    history = [{"role": "user", "content": "hello"}]
    call(emu, "POST", "/v1/chat/completions", json={"model": "m", "messages": history})
    for key in list(emu.storage):
        emu.storage[key] = b"\xff not json" if "/threads/" in key else b'{"resp_x": "not an entry", "y": [1]}'
    history += [{"role": "assistant", "content": "hello"}, {"role": "user", "content": "again"}]
    corrupted = call(emu, "POST", "/v1/chat/completions", json={"model": "m", "messages": history})
    assert corrupted.status_code == 200
    assert "[Conversation so far]" in [r["request"] for r in emu.records if r["type"] == "app"][-1]["query"]
    emu.fail_storage = True
    down = call(emu, "POST", "/v1/responses", json={"model": "m", "input": "next",
                                                    "previous_response_id": first["id"]})
    assert down.status_code == 200 and down.json()["output"][-1]["content"][0]["text"] == "next"
    assert "storage read failed" in emu.tap.text() and "corrupted" in emu.tap.text()
