"""The HTTP values the core works with, free of any web framework."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from openai_bridge.errors import OpenAIError


@dataclass(frozen=True)
class IncomingRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # case-insensitive lookups (werkzeug Headers, or lower-cased keys)
    body: bytes = b""
    declared_length: int | None = None

    def header(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None and not hasattr(self.headers, "getlist"):
            value = self.headers.get(name.lower())
        return value or ""


# A body chunk travels hex-encoded on one stdio line to Dify's daemon, whose line limit is 5 MiB: no chunk, streamed
# or not, may come near 2.5 MB. Streams join frames up to this size; whole bodies are cut into pieces of it.
MAX_CHUNK_BYTES = 64 * 1024


def _pieces(body: bytes) -> Iterator[bytes]:
    for at in range(0, len(body), MAX_CHUNK_BYTES):
        yield body[at:at + MAX_CHUNK_BYTES]


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterator[bytes] = b""

    @classmethod
    def json(cls, data: object, status: int = 200, headers: Mapping[str, str] | None = None) -> HttpResponse:
        body = json.dumps(data, ensure_ascii=False).encode()
        # A generator, which the SDK sends chunk by chunk (any other body goes out as one line).
        chunked = _pieces(body) if len(body) > MAX_CHUNK_BYTES else body
        return cls(status, {"Content-Type": "application/json", **(headers or {})}, chunked)

    @classmethod
    def error(cls, error: OpenAIError) -> HttpResponse:
        return cls(error.status, {"Content-Type": "application/json", **error.response_headers()}, error.body())
