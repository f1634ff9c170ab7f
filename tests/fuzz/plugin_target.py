"""Sending generated requests through the real plugin process (the SDK runtime over stdio, via dify_emulator), and
knowing what the plugin code then received, for the oracle."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from dify_emulator import Emulator
from tests.faults.support import LogTap, tapped_logs

from .harness import AUTH, FILE_LIST, SEED_RESPONSE, SYSTEM, delivered_path, with_known_response
from .headers import ALLOWED_ORIGIN
from .oracle import Answer, Seen
from .strategies import API_KEY, FuzzRequest

ROOT = Path(__file__).resolve().parents[2]

SCENARIO: dict[str, Any] = {
    "hook_id": "fuzz",
    "settings": {"api_key": API_KEY,
                 "app_id": {"app_id": f"app-{uuid.uuid4().hex[:8]}", "inputs": {}, "files": [], "type": "app-selector"},
                 "memory_mode": "conversation", "cors_allow_origins": ALLOWED_ORIGIN},
    "app": {"mode": "chat", "name": "Fuzz", "parameters": {"user_input_form": [FILE_LIST, SYSTEM]}},
    "replies": [{"echo": True}],
}

class NotForThePlugin(Exception):
    """A generated path that does not reach plugin code: once the client resolved it, it left the endpoint; or the
    SDK cannot route it (an encoded line break: werkzeug's path converter does not match one, and the SDK answers
    its own plain-text 404 before any plugin code runs, a known limit in SECURITY.md)."""


SDK_UNROUTABLE = ("%0a", "%0d")


CONTROL = {c: None for c in [*range(0x20), 0x7F] if c != 0x09}


def wire_value(value: str) -> bytes:
    """A header value as it can reach the plugin: Dify's daemon (Go) refuses control characters with a 400 of its
    own, and the SDK (dify_plugin 0.10.2) cannot parse header bytes that are not UTF-8 (see
    test_headers_the_sdk_cannot_parse); the in-process target covers raw latin-1 values."""
    return value.translate(CONTROL).strip(" \t").encode("utf-8")


@dataclass(repr=False)  # a failing example names the target, not every log line so far
class PluginTarget:
    emu: Emulator
    client: httpx.Client
    tap: LogTap
    known_response: str = ""

    def __repr__(self) -> str:
        return f"<plugin process {self.emu.plugin_pid}>"

    def seed_known_response(self) -> None:
        """One response the endpoint really made, for the generated `previous_response_id`s to continue."""
        response = self.client.post(self.emu.base_url + "/v1/responses", headers=AUTH, content=SEED_RESPONSE)
        assert response.status_code == 200, response.text
        self.known_response = response.json()["id"]

    def send(self, request: FuzzRequest) -> tuple[Seen, Answer]:
        method, path, headers, body, lie = with_known_response(request, self.known_response)
        if lie is not None and lie < len(body):
            # The daemon reads as much as Content-Length says and frames that anew: the plugin gets the cut body.
            # A longer lie never reaches the plugin (the daemon waits for bytes that do not come).
            body = body[:lie]
        wire = [(name, wire_value(value)) for name, value in headers]
        url = httpx.URL(self.emu.base_url + path)
        endpoint = f"/e/{self.emu.hook_id}"
        if not url.raw_path.decode("ascii").startswith(endpoint):
            # The client resolved dot segments ("/.."), and the URL left the endpoint: that request goes to Dify,
            # not to the plugin.
            raise NotForThePlugin(url.raw_path)
        if any(mark in url.raw_path.decode("ascii").lower() for mark in SDK_UNROUTABLE):
            raise NotForThePlugin(url.raw_path)
        response = self.client.request(method, url, content=body,
                                       headers=[(name.encode("latin-1"), value) for name, value in wire])
        sent_path = response.request.url.raw_path.decode("ascii").removeprefix(endpoint)
        received = [(name, value.decode("utf-8")) for name, value in wire]
        # The SDK builds the request's environ header by header: of a repeated Origin, the last one counts.
        origins = [value for name, value in received if name.lower() == "origin"]
        seen = Seen(method, delivered_path(sent_path), received, origins[-1] if origins else "", (ALLOWED_ORIGIN,))
        return seen, Answer(response.status_code, dict(response.headers), response.content,
                            response.elapsed.total_seconds())

    def problems_in_logs(self) -> list[str]:
        return [line for line in self.tap.lines if "Traceback" in line or "unexpected failure" in line]


@contextmanager
def plugin_target() -> Iterator[PluginTarget]:
    with tapped_logs() as tap, Emulator(scenario=SCENARIO, plugin_dir=ROOT) as emu, \
            httpx.Client(timeout=60) as client:
        target = PluginTarget(emu, client, tap)
        target.seed_known_response()
        yield target


def healthy_answers(client: httpx.Client, base: str) -> None:
    """The target at `base` answers normally on all three APIs, streaming and not, and lists its model."""
    query = f"still fine {uuid.uuid4()}"
    chat = {"model": "m", "messages": [{"role": "user", "content": query}]}
    whole = client.post(base + "/v1/chat/completions", headers=AUTH, json=chat)
    assert whole.status_code == 200 and whole.json()["choices"][0]["message"]["content"] == query, whole.text
    streamed = client.post(base + "/v1/chat/completions", headers=AUTH, json={**chat, "stream": True})
    assert streamed.status_code == 200 and streamed.text.endswith("data: [DONE]\n\n"), streamed.text
    response = client.post(base + "/v1/responses", headers=AUTH, json={"model": "m", "input": query})
    assert response.status_code == 200 and response.json()["output"][-1]["content"][0]["text"] == query, response.text
    events = client.post(base + "/v1/responses", headers=AUTH, json={"model": "m", "input": query, "stream": True})
    assert events.status_code == 200 and "event: response.completed\n" in events.text, events.text
    legacy = client.post(base + "/v1/completions", headers=AUTH, json={"model": "m", "prompt": query})
    assert legacy.status_code == 200 and legacy.json()["choices"][0]["text"] == query, legacy.text
    chunks = client.post(base + "/v1/completions", headers=AUTH, json={"model": "m", "prompt": query, "stream": True})
    assert chunks.status_code == 200 and chunks.text.endswith("data: [DONE]\n\n"), chunks.text
    models = client.get(base + "/v1/models", headers=AUTH)
    assert models.status_code == 200 and json.loads(models.content)["data"][0]["id"] == "dify-app", models.text
