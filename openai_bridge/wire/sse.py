"""Server-sent events framing as OpenAI clients expect it: only `data:` lines and comment keep-alives."""

from __future__ import annotations

import json

DONE = b"data: [DONE]\n\n"
# Not ": ping": Continue's SSE loop mistreats that comment.
KEEPALIVE = b": keep-alive\n\n"

STREAM_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


def dumps(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def data_line(data: object) -> bytes:
    return f"data: {dumps(data)}\n\n".encode()
