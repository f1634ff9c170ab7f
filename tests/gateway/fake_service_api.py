"""A Dify Service API in a few lines, as an httpx transport: recorded Dify 1.14.1 events in Dify's SSE framing
(pings between them, bytes cut anywhere), Dify's error JSON, uploads, stops; it records every request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

RECORDINGS = Path(__file__).resolve().parents[1] / "golden" / "recordings"
BASE = "http://dify.test/v1"


def recorded_events(name: str) -> list[dict[str, Any]]:
    """The events of a recorded stream (the inner API frames them; the Service API sends the same dicts as SSE)."""
    return [json.loads(line)["data"] for line in (RECORDINGS / name).read_text().splitlines() if line.strip()]


def recorded_parameters(app: str) -> dict[str, Any]:
    return json.loads((RECORDINGS / f"fetch_app.{app}.json").read_text())["data"]["data"]


def sse(events: list[dict[str, Any]], cut: int = 7) -> list[bytes]:
    """Dify's framing, with a ping after the first event, cut into `cut`-byte pieces as a network might."""
    text = b""
    for at, event in enumerate(events):
        # UTF-8 as it is, as Dify's orjson writes it (U+2028 included), not \u escapes
        text += b"data: " + json.dumps(event, ensure_ascii=False).encode() + b"\n\n"
        if at == 0:
            text += b"event: ping\n\n"
    return [text[i:i + cut] for i in range(0, len(text), cut)]


@dataclass
class FakeApp:
    mode: str
    parameters: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    refusal: tuple[int, dict[str, Any]] | None = None


class _Body(httpx.SyncByteStream):
    def __init__(self, chunks: list[bytes], fake: FakeServiceApi) -> None:
        self._chunks, self._fake = chunks, fake

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self._fake.sent += 1
            yield chunk

    def close(self) -> None:
        self._fake.closed += 1


@dataclass
class FakeServiceApi:
    apps: dict[str, FakeApp]  # by app key
    records: list[dict[str, Any]] = field(default_factory=list)
    sent: int = 0
    closed: int = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def calls(self, path_end: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["path"].endswith(path_end)]

    def handle(self, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        path = request.url.path.removeprefix("/v1")
        body: Any = request.content.decode(errors="replace")
        if request.headers.get("content-type", "").startswith("application/json"):
            body = json.loads(body)
        self.records.append({"method": request.method, "path": path, "key": key, "body": body})
        app = self.apps.get(key)
        if app is None:
            return httpx.Response(401, json={"code": "unauthorized", "message": "Access token is invalid",
                                             "status": 401})
        if path == "/info":
            return httpx.Response(200, json={"name": "app", "description": "", "tags": [], "mode": app.mode})
        if path == "/parameters":
            return httpx.Response(200, json=app.parameters)
        if path == "/files/upload":
            return httpx.Response(201, json={"id": f"file-{len(self.records)}", "name": "f"})
        if path.endswith("/stop"):
            return httpx.Response(200, json={"result": "success"})
        if app.refusal is not None:
            return httpx.Response(app.refusal[0], json=app.refusal[1])
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_Body(sse(app.events), self))
