"""Helpers shared by the fault, fuzz and security tests: a log tap, SSE parsing, raw-socket clients."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from dify_emulator import Emulator


class LogTap(logging.Handler):
    """Everything the emulator logs: its own lines, the plugin's stderr and the plugin's log messages."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def text(self) -> str:
        return "\n".join(self.lines)


@contextmanager
def tapped_logs() -> Iterator[LogTap]:
    tap = LogTap()
    logger = logging.getLogger("dify_emulator")
    previous = logger.level
    logger.addHandler(tap)
    logger.setLevel(logging.DEBUG)
    try:
        yield tap
    finally:
        logger.removeHandler(tap)
        logger.setLevel(previous)


def sse_frames(text: str) -> list[str]:
    """The frames of a `text/event-stream` body, comments included, in order."""
    return [frame for frame in text.split("\n\n") if frame]


def data_chunks(text: str) -> list[dict]:
    return [json.loads(frame[len("data: "):]) for frame in sse_frames(text)
            if frame.startswith("data: ") and frame != "data: [DONE]"]


def content_of(text: str) -> str:
    return "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in data_chunks(text)
                   if chunk.get("choices"))


def wait_for(predicate: Callable[[], object], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def post_and_leave(emu: Emulator, path: str, body: dict, headers: dict[str, str], until: bytes) -> bytes:
    """POST on a raw socket, read until `until` has arrived, then close the connection mid-response."""
    netloc = urlsplit(emu.server_url)
    payload = json.dumps(body).encode()
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    received = b""
    with socket.create_connection((netloc.hostname, netloc.port), timeout=30) as sock:
        sock.sendall(f"POST /e/{emu.hook_id}{path} HTTP/1.1\r\nHost: x\r\n{head}Content-Type: application/json\r\n"
                     f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        while until not in received:
            data = sock.recv(65536)
            if not data:
                break
            received += data
    return received
