"""The optional observer hook, and what happens when an HTTP client goes away mid-request (as in the daemon)."""

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests

from dify_emulator import Emulator
from dify_emulator.backwards import CANCELED_MESSAGE
from dify_emulator.observe import SessionTimeline

from .conftest import HTTP_TIMEOUT, PROBE_DIR, call_app


@pytest.fixture
def timeline(emu: Emulator):
    recorder = SessionTimeline()
    emu.observer = recorder
    yield recorder
    emu.observer = None


def slow_reply(count: int, delay_ms: int) -> dict:
    env = {"conversation_id": None, "message_id": "m", "created_at": 1, "task_id": "t"}
    return {"events": [{"event": "message", "answer": f"w{i} ", **env} for i in range(count)], "delay_ms": delay_ms}


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def open_and_leave(emu: Emulator, path: str, body: dict) -> None:
    """Send a request on a raw socket, read until the first body bytes arrive, then close the connection."""
    netloc = urlsplit(emu.server_url)
    payload = json.dumps(body).encode()
    with socket.create_connection((netloc.hostname, netloc.port), timeout=HTTP_TIMEOUT) as sock:
        sock.sendall(f"POST /e/{emu.hook_id}{path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        received = b""
        while b"\r\n\r\n" not in received or b'"event"' not in received:
            received += sock.recv(65536)


def test_observer_sees_the_whole_exchange_in_order(emu, timeline):
    events = call_app(emu, query="hello there")
    assert events[-1]["event"] == "message_end"
    # An earlier test's session may still end after this one began: take the session this request opened.
    session_id = [s for s in list(timeline.sessions) if timeline.events(s)[0][0] == "request"][-1]
    kinds = [kind for kind, _, _ in timeline.events(session_id)]
    assert kinds[0] == "request"
    assert kinds.count("app_event") == len(events)
    assert kinds[-1] == "end"
    assert "status" in kinds and "chunk" in kinds and "app_end" in kinds
    times = [t for _, t, _ in timeline.events(session_id)]
    assert times == sorted(times)
    chunks = b"".join(detail for kind, _, detail in timeline.events(session_id) if kind == "chunk")
    assert [json.loads(line)["event"] for line in chunks.splitlines()] == [e["event"] for e in events]
    app_end = next(detail for kind, _, detail in timeline.events(session_id) if kind == "app_end")
    assert app_end == {"events": len(events), "cancelled": False, "error": None}
    first_event = timeline.first(session_id, "app_event")
    first_chunk = timeline.first(session_id, "chunk")
    assert first_event is not None and first_chunk is not None and first_chunk > first_event


def test_observer_off_by_default_and_removable(emu):
    assert emu.observer is None
    recorder = SessionTimeline()
    emu.observer = recorder
    emu.observer = None
    call_app(emu, query="hi")
    assert recorder.sessions == {}


def test_client_gone_cancels_the_app_stream_like_the_daemon(emu, timeline):
    emu.load_scenario({"replies": [slow_reply(200, 20)]})
    open_and_leave(emu, "/app", {"query": "q"})
    session_id = timeline.last_session()
    assert wait_for(lambda: timeline.first(session_id, "end") is not None)
    kinds = [kind for kind, _, _ in timeline.events(session_id)]
    assert "client_gone" in kinds
    app_end = next(detail for kind, _, detail in timeline.events(session_id) if kind == "app_end")
    assert app_end["cancelled"] and app_end["error"] == CANCELED_MESSAGE
    assert app_end["events"] < 100
    # The probe plugin reports its app stream's failure as a line: it got the daemon's cancellation.
    chunks = b"".join(detail for kind, _, detail in timeline.events(session_id) if kind == "chunk")
    assert json.loads(chunks.splitlines()[-1]) == {"error": CANCELED_MESSAGE}
    # Nothing of it reached anyone, and the emulator serves the next request normally.
    emu.load_scenario(None)
    assert call_app(emu, query="next")[-1]["event"] == "message_end"


def test_older_daemons_let_the_app_run_to_its_end(emu, timeline):
    emu.cancel_app_on_disconnect = False
    try:
        emu.load_scenario({"replies": [slow_reply(30, 10)]})
        open_and_leave(emu, "/app", {"query": "q"})
        session_id = timeline.last_session()
        assert wait_for(lambda: timeline.first(session_id, "end") is not None)
        app_end = next(detail for kind, _, detail in timeline.events(session_id) if kind == "app_end")
        assert app_end == {"events": 30, "cancelled": False, "error": None}
        assert "client_gone" in [kind for kind, _, _ in timeline.events(session_id)]
    finally:
        emu.cancel_app_on_disconnect = True


def test_invocations_of_a_closed_session_are_dropped(emu, timeline):
    plugin = emu._plugin
    invoke = {"type": "invoke", "data": {"type": "storage", "backwards_request_id": "r1",
                                         "request": {"opt": "get", "key": "k"}}}
    emu._on_session(plugin, "no-such-session", invoke)
    assert [kind for kind, _, _ in timeline.events("no-such-session")] == ["dropped"]
    assert emu.records == []


def test_disconnect_while_the_plugin_is_silent_is_noticed(emu, timeline):
    # The probe streams nothing until Dify's first event; the client leaves before that.
    emu.load_scenario({"replies": [slow_reply(3, 1500)]})
    netloc = urlsplit(emu.server_url)
    payload = b'{"query": "q"}'
    with socket.create_connection((netloc.hostname, netloc.port), timeout=HTTP_TIMEOUT) as sock:
        sock.sendall(f"POST /e/{emu.hook_id}/app HTTP/1.1\r\nHost: x\r\nContent-Length: {len(payload)}\r\n\r\n"
                     .encode() + payload)
        assert wait_for(lambda: timeline.last_session() is not None)
    session_id = timeline.last_session()
    assert wait_for(lambda: timeline.first(session_id, "client_gone") is not None, timeout=1.0)
    assert wait_for(lambda: timeline.first(session_id, "end") is not None)
    assert timeline.first(session_id, "end") - timeline.first(session_id, "client_gone") < 1.0


def test_observer_through_the_constructor(tmp_path):
    recorder = SessionTimeline(keep_details=False)
    with Emulator(plugin_dir=PROBE_DIR, observer=recorder) as emulator:
        response = requests.get(emulator.base_url + "/stream?n=3&size=5", timeout=HTTP_TIMEOUT)
        assert response.content
    events = recorder.events(recorder.last_session())
    assert [detail for kind, _, detail in events if kind == "chunk"] == [5, 5, 5]
