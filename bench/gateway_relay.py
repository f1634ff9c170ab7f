"""The floor a Service API gateway is measured against: a WSGI app that copies Dify's SSE lines to the client, under
the same gunicorn, and nothing else (no parsing, no translation, no state). BENCH_DIFY_URL and BENCH_APP_KEY say
where Dify is."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

_client = httpx.Client(timeout=60)


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    environ["wsgi.input"].read()
    body = {"query": "relay", "inputs": {}, "response_mode": "streaming", "user": "bench", "conversation_id": ""}

    def lines() -> Iterator[bytes]:
        with _client.stream("POST", os.environ["BENCH_DIFY_URL"] + "/chat-messages", json=body,
                            headers={"Authorization": f"Bearer {os.environ['BENCH_APP_KEY']}"}) as response:
            for line in response.iter_lines():
                yield (line + "\n").encode()

    start_response("200 OK", [("Content-Type", "text/event-stream")])
    return lines()
