"""Upstream faults scripted in emulator scenarios, through the real plugin process: what the client sees.

Dify refuses before the stream or breaks in the middle, sends malformed events, never sends `message_end`, sends one
multi-megabyte answer, stays silent for a long time; the client goes away mid-stream; plugin storage fails.
"""

from __future__ import annotations

import json
import time
import uuid

import httpx
import openai
import pytest

from dify_emulator import Emulator
from dify_emulator.backwards import CANCELED_MESSAGE
from dify_emulator.observe import SessionTimeline
from tests.e2e.conftest import API_KEY, ROOT, scenario

from .support import content_of, data_chunks, post_and_leave, sse_frames, tapped_logs, wait_for

# Short timings, so that silences and keep-alives fit in a test; a short storage timeout for the disconnect case.
ENV = {"OPENAI_BRIDGE_KEEPALIVE_INTERVAL": "0.3", "OPENAI_BRIDGE_FIRST_EVENT_WAIT": "2",
       "OPENAI_BRIDGE_STORAGE_TIMEOUT": "1"}
HEADERS = {"Authorization": f"Bearer {API_KEY}"}
CONVERSATION = "5f0c5a4e-8f2b-4c47-9d77-3f4c2f7a9b10"
ENVELOPE = {"conversation_id": CONVERSATION, "message_id": "m-1", "created_at": 1700000000, "task_id": "t"}
MB = 1024 * 1024


def message(answer: object, **extra: object) -> dict:
    return {"event": "message", "answer": answer, **ENVELOPE, **extra}


END = {"event": "message_end", **ENVELOPE,
       "metadata": {"usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}}, "files": []}


def dify_failure(status: int, code: str, text: str) -> str:
    body = json.dumps({"code": code, "message": text, "status": status})
    return f"invoke app failed: request failed with status code: {status} and respond with: {body}"


@pytest.fixture(scope="module")
def faulty():
    timeline = SessionTimeline()
    with tapped_logs() as tap, Emulator(scenario=scenario(), plugin_dir=ROOT, env=ENV, observer=timeline) as emu:
        emu.timeline, emu.tap = timeline, tap
        yield emu


@pytest.fixture
def emu(faulty: Emulator) -> Emulator:
    faulty.cancel_app_on_disconnect = True
    faulty.fail_storage = False
    faulty.timeline.clear()
    faulty.records.clear()
    faulty.tap.lines.clear()
    return faulty


def chat(emu: Emulator, stream: bool, content: str = "hello", **body: object) -> httpx.Response:
    return httpx.post(f"{emu.base_url}/v1/chat/completions", headers=HEADERS, timeout=60,
                      json={"model": "m", "stream": stream, "messages": [{"role": "user", "content": content}], **body})


def client(emu: Emulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{emu.base_url}/v1", api_key=API_KEY, max_retries=0, timeout=60)


def ask(messages: list[dict] | None = None, stream: bool = False) -> dict:
    return {"model": "m", "stream": stream, "messages": messages or [{"role": "user", "content": "hi"}]}


# ---------------------------------------------------------------- Dify refuses before the stream


REFUSALS = [
    (429, "too_many_requests", openai.RateLimitError, 429, "rate_limit_exceeded"),
    (400, "invalid_param", openai.BadRequestError, 400, "invalid_param"),
    (404, "not_found", openai.NotFoundError, 404, "not_found"),
    (400, "app_unavailable", openai.InternalServerError, 503, "app_unavailable"),
    (500, "internal_server_error", openai.InternalServerError, 502, "upstream_error"),
]


@pytest.mark.parametrize("dify_status, dify_code, raised, status, code", REFUSALS)
@pytest.mark.parametrize("stream", [False, True])
def test_dify_refuses_before_the_stream(emu, stream, dify_status, dify_code, raised, status, code):
    emu.load_scenario(scenario(replies=[{"fail": dify_failure(dify_status, dify_code, "nope")}]))
    response = chat(emu, stream)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and "nope" in error["message"] and set(error) == {"message", "type", "param", "code"}
    if status == 429:
        assert response.headers["retry-after"]
    with pytest.raises(raised):
        client(emu).chat.completions.create(**ask(stream=stream))


# ---------------------------------------------------------------- Dify breaks mid-stream


def test_dify_breaks_mid_stream(emu):
    emu.load_scenario(scenario(replies=[{"events": [message("Hello"), message(" wor")],
                                         "then_fail": "read app failed: unexpected EOF"}]))
    streamed = chat(emu, True)
    assert streamed.status_code == 200
    frames = sse_frames(streamed.text)
    assert frames[-1] == "data: [DONE]"
    error = json.loads(frames[-2][len("data: "):])["error"]
    assert error["code"] == "upstream_error" and "unexpected EOF" in error["message"]
    assert content_of(streamed.text) == "Hello wor"
    received = []
    with pytest.raises(openai.APIError):
        for chunk in client(emu).chat.completions.create(**ask(stream=True)):
            received.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "".join(received) == "Hello wor"

    whole = chat(emu, False)
    assert whole.status_code == 502 and whole.json()["error"]["code"] == "upstream_error"
    assert whole.headers["x-should-retry"] == "false"


# ---------------------------------------------------------------- malformed events


MALFORMED = [
    {"event": "message"},  # no answer
    message(12345),  # wrong type
    message(None),
    message(["a", "list"]),
    message("Hel"),
    {"answer": "lo"},  # no event name: an answer is still content (dify#36990)
    {"event": 42, "answer": " there"},
    {"event": "message_end", "metadata": "not a dict", "files": "nor a list"},
]


@pytest.mark.parametrize("stream", [False, True])
def test_malformed_events_are_skipped(emu, stream):
    emu.load_scenario(scenario(replies=[{"events": MALFORMED}]))
    response = chat(emu, stream, stream_options={"include_usage": True} if stream else None)
    assert response.status_code == 200
    if stream:
        assert content_of(response.text) == "Hello there"
        assert sse_frames(response.text)[-1] == "data: [DONE]"
        assert data_chunks(response.text)[-1]["usage"]["total_tokens"] == 0
    else:
        completion = response.json()
        assert completion["choices"][0]["message"]["content"] == "Hello there"
        assert completion["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("stream", [False, True])
def test_non_dict_chunks_end_the_answer_with_a_clear_error(emu, stream):
    # The SDK refuses a chunk that is not an object before the plugin sees it: the stream is broken.
    emu.load_scenario(scenario(replies=[{"events": [message("Hel"), "not an event", 42, message("lo"), END]}]))
    response = chat(emu, stream)
    if stream:
        assert response.status_code == 200
        frames = sse_frames(response.text)
        assert frames[-1] == "data: [DONE]"
        assert json.loads(frames[-2][len("data: "):])["error"]["code"] == "upstream_error"
        assert content_of(response.text) == "Hel"
    else:
        assert response.status_code == 502
        assert response.json()["error"]["type"] == "upstream_error"


def test_non_dict_first_chunk_is_an_http_error(emu):
    emu.load_scenario(scenario(replies=[{"events": [["not", "an", "event"], message("x"), END]}]))
    response = chat(emu, True)
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_error"


@pytest.mark.parametrize("stream", [False, True])
def test_wrongly_typed_envelope_fields(emu, stream):
    events = [{"event": "message", "answer": "ok", "conversation_id": CONVERSATION + "\r\nX-Injected: 1",
               "message_id": 7, "created_at": "yesterday", "task_id": None}, {"event": "message_end"}]
    emu.load_scenario(scenario(replies=[{"events": events}]))
    response = chat(emu, stream)
    assert response.status_code == 200
    assert "x-injected" not in response.headers and "x-dify-conversation-id" not in response.headers
    assert (content_of(response.text) if stream else response.json()["choices"][0]["message"]["content"]) == "ok"


# ---------------------------------------------------------------- no message_end


@pytest.mark.parametrize("stream", [False, True])
def test_stream_without_message_end_still_finishes(emu, stream):
    emu.load_scenario(scenario(replies=[{"events": [message("no "), message("end")]}]))
    response = chat(emu, stream)
    assert response.status_code == 200
    if stream:
        finishes = [c["choices"][0]["finish_reason"] for c in data_chunks(response.text) if c["choices"]]
        assert finishes[-1] == "stop" and sse_frames(response.text)[-1] == "data: [DONE]"
        assert content_of(response.text) == "no end"
    else:
        choice = response.json()["choices"][0]
        assert choice["message"]["content"] == "no end" and choice["finish_reason"] == "stop"


# ---------------------------------------------------------------- one multi-megabyte answer


@pytest.mark.parametrize("stream", [False, True])
def test_a_single_multi_megabyte_answer_is_rechunked(emu, stream):
    answer = ("0123456789abcdé\n" * (5 * MB // 16))[: 5 * MB]
    emu.load_scenario(scenario(replies=[{"events": [message(answer), END]}]))
    response = chat(emu, stream)
    assert response.status_code == 200
    got = content_of(response.text) if stream else response.json()["choices"][0]["message"]["content"]
    assert got == answer
    session = emu.timeline.last_session()
    sizes = [len(detail) for kind, _, detail in emu.timeline.events(session) if kind == "chunk"]
    # Each body chunk, streamed or not, is one hex-encoded stdout line (2 bytes per byte); the daemon's line limit
    # is 5 MiB, so no chunk may come near 2.5 MB.
    assert max(sizes) < 160 * 1024
    assert len(sizes) > 5 * MB // (32 * 1024) if stream else len(sizes) >= 5 * MB // (64 * 1024)


# ---------------------------------------------------------------- Dify silent for a long time


def test_keepalives_flow_while_dify_is_silent_and_the_request_ends_cleanly(emu):
    emu.load_scenario(scenario(replies=[{"events": [message("first"), message(" second"), END], "delay_ms": 1000}]))
    arrivals = []
    started = time.monotonic()
    with httpx.stream("POST", f"{emu.base_url}/v1/chat/completions", headers=HEADERS, timeout=30,
                      json=ask(stream=True)) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line:
                arrivals.append((time.monotonic() - started, line))
    lines = [line for _, line in arrivals]
    assert lines[-1] == "data: [DONE]"
    assert lines.count(": keep-alive") >= 4  # two 1 s silences after the first event, one every 0.3 s
    gaps = [b - a for (a, _), (b, _) in zip(arrivals, arrivals[1:], strict=False)]
    assert max(gaps) < 1.0  # the client never waited for Dify's whole silence

    emu.load_scenario(scenario(replies=[{"events": [message("first"), message(" second"), END], "delay_ms": 500}]))
    whole = chat(emu, False)
    assert whole.status_code == 200 and whole.json()["choices"][0]["message"]["content"] == "first second"


# ---------------------------------------------------------------- the client goes away mid-stream


def slow_answer(count: int = 300, delay_ms: int = 20) -> dict:
    return {"events": [message(f"w{i} ") for i in range(count)] + [END], "delay_ms": delay_ms}


def leave_mid_stream(emu: Emulator) -> str:
    post_and_leave(emu, "/v1/chat/completions", ask(stream=True), HEADERS, until=b'"content":"w1 "')
    return emu.timeline.last_session()


def kinds(emu: Emulator, session: str) -> list[str]:
    return [kind for kind, _, _ in emu.timeline.events(session)]


def detail(emu: Emulator, session: str, kind: str) -> object:
    return next(d for k, _, d in emu.timeline.events(session) if k == kind)


def test_client_gone_mid_stream_frees_the_session(emu):
    """Daemon >= 0.5.3: the app stream fails with "context canceled"; the plugin ends its session at once."""
    pid = emu.plugin_pid
    emu.load_scenario(scenario(replies=[slow_answer()], memory_mode="conversation"))
    session = leave_mid_stream(emu)
    assert wait_for(lambda: "end" in kinds(emu, session), timeout=5)
    app_end = detail(emu, session, "app_end")
    assert app_end["cancelled"] and app_end["error"] == CANCELED_MESSAGE and app_end["events"] < 100
    gone = emu.timeline.first(session, "client_gone")
    assert emu.timeline.first(session, "end") - gone < 1.0
    # What the plugin wrote after the cancellation (nobody read it): an error frame and [DONE], nothing else.
    written = b"".join(d for k, t, d in emu.timeline.events(session) if k == "chunk" and t > gone).decode()
    assert written.endswith("data: [DONE]\n\n") and "cancelled because the client went away" in written
    assert "dropped" not in kinds(emu, session)  # no storage call after the client left: the turn was not kept
    # The next requests are fine, on the same plugin process.
    emu.load_scenario(scenario())
    query = f"next {uuid.uuid4()}"
    assert content_of(chat(emu, True, query).text) == query
    assert emu.plugin_pid == pid and emu.plugin_alive


def test_many_clients_leaving_leave_nothing_behind(emu):
    emu.load_scenario(scenario(replies=[slow_answer(100, 10)]))
    sessions = [leave_mid_stream(emu) for _ in range(10)]
    assert wait_for(lambda: all("end" in kinds(emu, s) for s in sessions), timeout=10)
    emu.load_scenario(scenario())
    assert chat(emu, False, "still here").json()["choices"][0]["message"]["content"] == "still here"


def test_client_gone_on_an_older_daemon(emu):
    """Daemons before 0.5.3 let the app stream run to its end and drop what the plugin sends afterwards, storage
    calls included: the plugin reads Dify to the end, gives up remembering the turn quickly, and ends."""
    emu.cancel_app_on_disconnect = False
    emu.load_scenario(scenario(replies=[slow_answer(40, 10)], memory_mode="conversation"))
    session = leave_mid_stream(emu)
    assert wait_for(lambda: "end" in kinds(emu, session), timeout=8)
    assert detail(emu, session, "app_end") == {"events": 41, "cancelled": False, "error": None}
    assert "dropped" in kinds(emu, session)  # the storage call after the client left got no answer...
    ended = emu.timeline.first(session, "end") - emu.timeline.first(session, "app_end")
    assert ended < 3  # ...and was given up after OPENAI_BRIDGE_STORAGE_TIMEOUT (1 s here), not the SDK's 250 s
    assert "conversation memory: storage" in emu.tap.text()
    emu.load_scenario(scenario())
    assert chat(emu, False, "after").json()["choices"][0]["message"]["content"] == "after"


# ---------------------------------------------------------------- storage failures


def test_failing_storage_degrades_memory_to_stateless_with_a_log_line(emu):
    emu.load_scenario(scenario(memory_mode="conversation"))
    emu.fail_storage = True
    first = chat(emu, False, "my name is Ada")
    assert first.status_code == 200 and first.json()["choices"][0]["message"]["content"] == "my name is Ada"
    history = [{"role": "user", "content": "my name is Ada"}, {"role": "assistant", "content": "my name is Ada"},
               {"role": "user", "content": "what is my name?"}]
    second = httpx.post(f"{emu.base_url}/v1/chat/completions", headers=HEADERS, timeout=30, json=ask(history))
    assert second.status_code == 200
    app_calls = [r["request"] for r in emu.records if r["type"] == "app"]
    # Stateless: the second turn starts a new conversation seeded with the whole history.
    assert not app_calls[-1].get("conversation_id")
    assert "my name is Ada" in app_calls[-1]["query"] and "what is my name?" in app_calls[-1]["query"]
    logs = emu.tap.text()
    # Nothing is written over a record that could not be read: that would drop every other thread in it.
    assert "conversation memory: storage read failed" in logs and "this turn is not remembered" in logs

    emu.fail_storage = False  # storage back: memory works again
    third_history = [{"role": "user", "content": "again"}, {"role": "assistant", "content": "again"},
                     {"role": "user", "content": "and again"}]
    chat(emu, False, "again")
    httpx.post(f"{emu.base_url}/v1/chat/completions", headers=HEADERS, timeout=30, json=ask(third_history))
    continued = [r["request"] for r in emu.records if r["type"] == "app"][-1]
    assert continued.get("conversation_id") and continued["query"] == "and again"
