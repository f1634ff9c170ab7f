"""What every answer to a hostile request must look like: a 4xx OpenAI error envelope, or a valid success.

Used for answers produced in-process by the core and for answers that came through the real plugin process.
Successes are checked with the official `openai` package's own models, which is what clients parse them with.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping

import openai.types.chat as chat_types
from openai.types import Model

STATS: Counter[str] = Counter()  # outcome -> count, reported at the end of the run (conftest)


class Violation(AssertionError):
    pass


def _fail(message: str, status: int, body: bytes) -> Violation:
    return Violation(f"{message} (status {status}): {body[:600]!r}")


def header_lookup(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return ""


def check_answer(method: str, path: str, status: int, headers: Mapping[str, str], body: bytes,
                 target: str = "core") -> str:
    """Raise Violation unless the answer is acceptable; return an outcome label for the statistics."""
    for name, value in headers.items():
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise _fail(f"header {name!r} carries a line break", status, body)
    if not header_lookup(headers, "x-request-id"):
        raise _fail("no x-request-id header", status, body)
    if status >= 500 or status < 200 or 300 <= status < 400:
        raise _fail("not a 2xx or 4xx answer", status, body)
    if method == "HEAD":
        if body:
            raise _fail("a HEAD answer with a body", status, body)
        return _count(target, f"{status} HEAD")
    if status >= 400:
        check_envelope(status, body)
        return _count(target, f"{status} {json.loads(body)['error']['code']}")
    if method == "OPTIONS":
        if status != 204 or body:
            raise _fail("a preflight answer that is not an empty 204", status, body)
        return _count(target, "204 preflight")
    content_type = header_lookup(headers, "content-type")
    route = path.rstrip("/").removeprefix("/v1")
    if content_type.startswith("text/event-stream"):
        check_stream(route, status, body)
        return _count(target, f"{status} stream {route}")
    if not content_type.startswith("application/json"):
        raise _fail(f"a success with Content-Type {content_type!r}", status, body)
    data = _json(status, body)
    if route == "/chat/completions":
        completion = chat_types.ChatCompletion.model_validate(data)
        choice = completion.choices[0]
        if choice.finish_reason is None or choice.message.role != "assistant" or completion.usage is None:
            raise _fail("an incomplete chat completion", status, body)
    elif route == "/models":
        if data.get("object") != "list":
            raise _fail("a model list without object=list", status, body)
        for card in data["data"]:
            Model.model_validate(card)
    elif route.startswith("/models/"):
        Model.model_validate(data)
    elif not isinstance(data, dict):
        raise _fail("a success whose body is not a JSON object", status, body)
    return _count(target, f"{status} json {route}")


def check_envelope(status: int, body: bytes) -> dict:
    data = _json(status, body)
    if not isinstance(data, dict) or set(data) != {"error"} or not isinstance(data["error"], dict):
        raise _fail("an error that is not {'error': {...}}", status, body)
    error = data["error"]
    if not {"message", "type", "param", "code"} <= set(error):
        raise _fail("an error envelope without all four keys", status, body)
    if not isinstance(error["message"], str) or not error["message"].strip():
        raise _fail("an error without a message", status, body)
    if not isinstance(error["type"], str):
        raise _fail("an error type that is not a string", status, body)
    for key in ("param", "code"):
        if error[key] is not None and not isinstance(error[key], str):
            raise _fail(f"an error {key} that is neither null nor a string", status, body)
    return error


def check_stream(route: str, status: int, body: bytes) -> None:
    """Only `data:`, `event:` (Responses API) and comment lines; valid chunks; exactly one [DONE] at the end."""
    text = body.decode("utf-8")
    if not text.endswith("\n\n"):
        raise _fail("a stream that does not end with a blank line", status, body)
    done = 0
    chunks = []
    for line in text.split("\n"):
        if not line or line.startswith(":"):
            continue
        if line.startswith("event: ") and route == "/responses":
            continue
        if not line.startswith("data: "):
            raise _fail(f"a stream line that is not data: {line[:80]!r}", status, body)
        payload = line[len("data: "):]
        if payload == "[DONE]":
            done += 1
            continue
        if done:
            raise _fail("data after [DONE]", status, body)
        chunk = json.loads(payload)
        if isinstance(chunk, dict) and "error" in chunk and route != "/responses":
            raise _fail("an error inside the stream although Dify was healthy", status, body)
        chunks.append(chunk)
    if route == "/chat/completions":
        if done != 1:
            raise _fail(f"{done} [DONE] lines", status, body)
        parsed = [chat_types.ChatCompletionChunk.model_validate(c) for c in chunks]
        if len({c.id for c in parsed}) != 1:
            raise _fail("chunks with different ids", status, body)
        finishes = [c.choices[0].finish_reason for c in parsed if c.choices and c.choices[0].finish_reason]
        if len(finishes) != 1:
            raise _fail(f"{len(finishes)} finish reasons", status, body)
        if parsed[0].choices[0].delta.role != "assistant":
            raise _fail("a stream whose first chunk has no role", status, body)


def _json(status: int, body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise _fail("a body that is not JSON", status, body) from exc


def _count(target: str, outcome: str) -> str:
    STATS[f"{target}: {outcome}"] += 1
    return outcome
