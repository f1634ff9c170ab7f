"""Dify's Service API stream, as lines in and event dicts out.

Dify frames each event as `data: {json}` and a blank line, and sends `event: ping` every 10 s while a node works.
Only `data` fields carry events; pings, comments and blank lines carry none. httpx hands over whole lines however
the bytes were cut on the wire, and a last event without its blank line still counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


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
