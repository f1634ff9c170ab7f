"""Dify's Service API stream, as lines in and event dicts out.

Dify frames each event as `data: {json}` and a blank line, and sends `event: ping` every 10 s while a node works.
Only `data` fields carry events; pings, comments and blank lines carry none. `lines` makes whole lines of the bytes
however they were cut on the wire, and a last event without its blank line still counts.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

# SSE ends a line with CRLF, LF or CR, nothing else. httpx's iter_lines splits as str.splitlines does, also at
# U+2028, U+0085, U+001C ..., which Dify writes as they are (orjson) inside an answer's JSON: such an answer then
# broke the stream.
_LINE_END = re.compile(r"\r\n|\r|\n")


def _texts(chunks: Iterable[bytes]) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character may be cut between chunks
    for chunk in chunks:
        yield decoder.decode(chunk)
    yield decoder.decode(b"", final=True)


def lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The lines of a UTF-8 event stream as they arrive, without their line ends."""
    line: list[str] = []  # the pieces of the line not yet ended, so that a long line is not re-scanned per chunk
    held = ""  # a CR that ended a chunk: a line end alone, or the first half of CRLF
    for text in _texts(chunks):
        text, held = held + text, ""
        if text.endswith("\r"):
            text, held = text[:-1], "\r"
        *ended, rest = _LINE_END.split(text)
        if ended:
            yield "".join((*line, ended[0]))
            yield from ended[1:]
            line = []
        line.append(rest)
    if held or any(line):
        yield "".join(line)


class StreamParseError(ValueError):
    """A data field that is not one JSON object. The text is the wording the core classifies such breaks by."""

    def __init__(self, data: str) -> None:
        super().__init__(f"Failed to parse response: not a JSON object: {data[:200]!r}")


def _event(data: list[str]) -> dict[str, Any]:
    text = "\n".join(data)
    try:
        event = json.loads(text)
    except ValueError:
        raise StreamParseError(text) from None
    if not isinstance(event, dict):
        raise StreamParseError(text)
    return event


def events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    data: list[str] = []
    for line in lines:
        line = line.rstrip("\r\n")
        if not line:
            if data:
                yield _event(data)
                data = []
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
        # `event: ping`, `id:`, `retry:` and `: comments` carry no event of Dify's
    if data:
        yield _event(data)
