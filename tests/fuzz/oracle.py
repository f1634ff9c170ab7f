"""What every answer to a hostile request must look like: a 4xx OpenAI error envelope, or a valid success.

Used for answers produced in-process by the core and for answers that came through the real plugin process.
Successes are checked with the official `openai` package's own models, which is what clients parse them with:
`ChatCompletion` / `ChatCompletionChunk`, `responses.Response` and its stream events, `Completion`, `Model`.
Every answer, whatever its status, must also carry an `x-request-id`, no line break in any header, never the
endpoint's key or a guessed key, and, when the request came from an allowed browser origin, the same CORS headers
a success carries (a browser hides an answer without them, errors included).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import openai.types.chat as chat_types
from openai.types import Completion, CompletionChoice, Model
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import BaseModel

from .strategies import API_KEY

STATS: Counter[str] = Counter()  # "target/api: outcome" -> count, reported at the end of the run (conftest)
# A single request, however hostile, must not keep a worker busy for long: Dify caps a request at 600 s, but a
# client-controlled cost (thousands of stop sequences, deep values) is a denial of service long before that.
SLOW_SECONDS = 8.0
GUESSED_KEY = re.compile(r"sk-guess-[0-9a-f]{8}")


class Violation(AssertionError):
    pass


@dataclass(frozen=True)
class Seen:
    """The request as the code under test received it."""

    method: str
    path: str  # percent-decoded, without the query string (werkzeug's request.path)
    headers: Sequence[tuple[str, str]]
    origin: str  # the Origin value that counts, "" if none (servers differ on which copy of a repeated one)
    allowed_origins: tuple[str, ...]  # the endpoint's CORS setting


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes
    seconds: float = 0.0


def _fail(message: str, status: int, body: bytes) -> Violation:
    return Violation(f"{message} (status {status}): {body[:600]!r}")


def header_lookup(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return ""


# Routes with a success, and the methods that may have one (HEAD is GET without the body).
SUCCESS_METHODS: dict[str, set[str]] = {
    "chat/completions": {"POST"}, "responses": {"POST"}, "completions": {"POST"},
    "models": {"GET", "HEAD"}, "models/{id}": {"GET", "HEAD"},
}
KNOWN_ROUTES = {*SUCCESS_METHODS, "responses/{id}"}


def api_route(path: str) -> tuple[str, str] | None:
    """(route, id) for a path the README promises to serve: with or without /v1, surrounding slashes tolerated."""
    inner = path.strip("/")
    if inner == "v1" or inner.startswith("v1/"):
        inner = inner[2:].strip("/")
    if inner in SUCCESS_METHODS:
        return inner, ""
    parts = inner.split("/")
    if len(parts) == 2 and parts[0] == "responses" and parts[1]:
        return "responses/{id}", parts[1]
    # Model ids may hold "/" (org/model names): everything after /models/ is the id.
    if len(parts) >= 2 and parts[0] == "models" and "/".join(parts[1:]):
        return "models/{id}", "/".join(parts[1:])
    return None


def check_answer(seen: Seen, answer: Answer, target: str = "core", secrets: Sequence[str] = ()) -> str:
    """Raise Violation unless the answer is acceptable; return an outcome label for the statistics. `secrets`: what
    else the target holds that no answer may carry (the gateway's Dify app keys; the plugin never sees Dify's)."""
    status, headers, body = answer.status, answer.headers, answer.body
    for name, value in headers.items():
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise _fail(f"header {name!r} carries a line break", status, body)
    if not header_lookup(headers, "x-request-id"):
        raise _fail("no x-request-id header", status, body)
    if status >= 500 or status < 200 or 300 <= status < 400:
        raise _fail("not a 2xx or 4xx answer", status, body)
    check_secrets(seen, answer, secrets)
    check_cors(seen, answer)
    if answer.seconds > SLOW_SECONDS:
        raise _fail(f"an answer that took {answer.seconds:.1f} s (at most {SLOW_SECONDS:.0f} s)", status, body)
    route, model_id = api_route(seen.path) or ("", "")
    if 200 <= status < 300 and seen.method != "OPTIONS" and seen.method not in SUCCESS_METHODS.get(route, ()):
        raise _fail(f"a success for {seen.method} {seen.path[:80]!r}, which has none", status, body)
    if status == 405 and not header_lookup(headers, "Allow"):
        raise _fail("a 405 without an Allow header", status, body)
    if seen.method == "HEAD":
        if body:
            raise _fail("a HEAD answer with a body", status, body)
        return _count(target, f"{status} HEAD")
    if status >= 400:
        check_envelope(status, body)
        if not header_lookup(headers, "Content-Type").startswith("application/json"):
            raise _fail("an error that is not application/json", status, body)
        return _count(target, f"{status} {json.loads(body)['error']['code']}")
    if seen.method == "OPTIONS":
        if status != 204 or body or route not in KNOWN_ROUTES:
            raise _fail("a preflight answer that is not an empty 204 on a known route", status, body)
        return _count(target, "204 preflight")
    content_type = header_lookup(headers, "content-type")
    if content_type.startswith("text/event-stream"):
        check_stream("/" + route, status, body)
        return _count(target, f"{status} stream /{route}")
    if not content_type.startswith("application/json"):
        raise _fail(f"a success with Content-Type {content_type!r}", status, body)
    check_success(route, model_id, status, body)
    return _count(target, f"{status} json /{route}")


def check_secrets(seen: Seen, answer: Answer, secrets: Sequence[str] = ()) -> None:
    """The endpoint's key never leaves the plugin, nor does a wrong key a client tried (SECURITY.md, claims 1, 3)."""
    presented = [value for _, value in seen.headers]
    guesses = {guess for value in presented for guess in GUESSED_KEY.findall(value)}
    for secret in (API_KEY, *guesses, *secrets):
        carried = secret.encode() in answer.body or any(secret in v for v in answer.headers.values())
        if carried:
            raise _fail(f"an answer carrying the key {secret!r}", answer.status, answer.body)
    if 200 <= answer.status < 300 and seen.method != "OPTIONS" and not any(API_KEY in v for v in presented):
        raise _fail("a success for a request without the endpoint's key", answer.status, answer.body)


def cors_grant(origin: str, allowed: tuple[str, ...]) -> str | None:
    """The Access-Control-Allow-Origin an answer must carry (SECURITY.md, claim 5), None for no CORS headers."""
    if not origin or not allowed:
        return None
    if "*" in allowed:
        return "*"
    return origin if origin in allowed else None


def check_cors(seen: Seen, answer: Answer) -> None:
    cors = {k.lower(): v for k, v in answer.headers.items() if k.lower().startswith("access-control-")}
    grant = cors_grant(seen.origin, seen.allowed_origins)
    status, body = answer.status, answer.body
    if "access-control-allow-credentials" in cors:
        raise _fail("an answer with Access-Control-Allow-Credentials", status, body)
    if grant is None:
        if cors:
            raise _fail(f"CORS headers for the origin {seen.origin[:80]!r}, which is not allowed: {cors}", status,
                        body)
        return
    if cors.get("access-control-allow-origin") != grant:
        raise _fail(f"an answer to the allowed origin {seen.origin[:80]!r} without Access-Control-Allow-Origin: "
                    f"{grant!r} (a browser hides it from the page)", status, body)
    if "x-request-id" not in cors.get("access-control-expose-headers", "").lower():
        raise _fail("an answer to an allowed origin that does not expose x-request-id", status, body)
    if grant != "*" and "origin" not in header_lookup(answer.headers, "Vary").lower():
        raise _fail("an answer reflecting the origin without Vary: Origin", status, body)
    if seen.method == "OPTIONS" and status == 204 and not {"access-control-allow-methods",
                                                           "access-control-allow-headers"} <= set(cors):
        raise _fail("a preflight to an allowed origin without Allow-Methods and Allow-Headers", status, body)


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


# ---------------------------------------------------------------- successes, whole


def check_success(route: str, model_id: str, status: int, body: bytes) -> None:
    data = _json(status, body)
    if route == "chat/completions":
        completion = chat_types.ChatCompletion.model_validate(data)
        choice = completion.choices[0]
        if choice.finish_reason is None or choice.message.role != "assistant" or completion.usage is None:
            raise _fail("an incomplete chat completion", status, body)
    elif route == "responses":
        response = Response.model_validate(data)
        if response.status not in ("completed", "incomplete") or response.usage is None:
            raise _fail(f"a response with status {response.status!r} or without usage from a healthy app", status,
                        body)
    elif route == "completions":
        legacy = Completion.model_validate(data)
        if len(legacy.choices) != 1 or legacy.usage is None:
            raise _fail("a completion without one choice and usage", status, body)
    elif route == "models":
        if not isinstance(data, dict) or data.get("object") != "list" or not data.get("data"):
            raise _fail("a model list without object=list and a model", status, body)
        for card in data["data"]:
            Model.model_validate(card)
    elif route == "models/{id}":
        if Model.model_validate(data).id != model_id:
            raise _fail(f"the model card of another model than {model_id[:80]!r}", status, body)
    else:
        raise _fail(f"a success on /{route}", status, body)


# ---------------------------------------------------------------- successes, streamed


def check_stream(route: str, status: int, body: bytes) -> None:
    """A well-formed stream of the route's API (`route` like "/chat/completions")."""
    text = body.decode("utf-8")
    if not text.endswith("\n\n"):
        raise _fail("a stream that does not end with a blank line", status, body)
    if route == "/responses":
        _check_response_events(status, body, text)
        return
    chunks, done = _data_chunks(status, body, text)
    if done != 1:
        raise _fail(f"{done} [DONE] lines", status, body)
    if route == "/chat/completions":
        _check_chat_chunks(status, body, chunks)
    elif route == "/completions":
        _check_completion_chunks(status, body, chunks)
    else:
        raise _fail(f"a stream on {route}", status, body)


def _data_chunks(status: int, body: bytes, text: str) -> tuple[list[Any], int]:
    """Only `data:` and comment lines; the chunks before [DONE], and how many [DONE] lines came."""
    done = 0
    chunks = []
    for line in text.split("\n"):
        if not line or line.startswith(":"):
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
        if isinstance(chunk, dict) and "error" in chunk:
            raise _fail("an error inside the stream although Dify was healthy", status, body)
        chunks.append(chunk)
    return chunks, done


def _check_chat_chunks(status: int, body: bytes, chunks: list[Any]) -> None:
    parsed = [chat_types.ChatCompletionChunk.model_validate(c) for c in chunks]
    if len({c.id for c in parsed}) != 1:
        raise _fail("chunks with different ids", status, body)
    finishes = [c.choices[0].finish_reason for c in parsed if c.choices and c.choices[0].finish_reason]
    if len(finishes) != 1:
        raise _fail(f"{len(finishes)} finish reasons", status, body)
    if parsed[0].choices[0].delta.role != "assistant":
        raise _fail("a stream whose first chunk has no role", status, body)


class _StreamedChoice(CompletionChoice):
    # The SDK's model requires a finish reason, but the API (and the SDK, which reads chunks unvalidated) has
    # `null` on every chunk but the last.
    finish_reason: Literal["stop", "length", "content_filter"] | None = None


class _StreamedCompletion(Completion):
    choices: list[_StreamedChoice]


def _check_completion_chunks(status: int, body: bytes, chunks: list[Any]) -> None:
    parsed = [_StreamedCompletion.model_validate(c) for c in chunks]
    if not parsed or len({c.id for c in parsed}) != 1:
        raise _fail("completion chunks missing or with different ids", status, body)
    finishes = [choice.finish_reason for c in parsed for choice in c.choices if choice.finish_reason]
    if len(finishes) != 1:
        raise _fail(f"{len(finishes)} finish reasons", status, body)
    usage = [index for index, c in enumerate(parsed) if c.usage is not None]
    if usage not in ([], [len(parsed) - 1]):
        raise _fail("usage on a completion chunk that is not the last", status, body)


def _event_models() -> dict[str, type[BaseModel]]:
    # The SDK's union is discriminated by `type` with its own metadata, which pydantic does not read: validating
    # each event with its own class gives exact errors instead of a report on every member of the union.
    union = get_args(ResponseStreamEvent)[0]
    return {get_args(model.model_fields["type"].annotation)[0]: model for model in get_args(union)}


EVENT_MODELS = _event_models()
TERMINAL = {"response.completed", "response.incomplete"}


def _check_response_events(status: int, body: bytes, text: str) -> None:
    """Named events (`event:` then `data:`), valid SDK events numbered in order, from response.created to one
    terminal event; each output item's text deltas add up to its final text."""
    events: list[Any] = []
    for frame in text[:-2].split("\n\n"):
        lines = frame.split("\n")
        if all(line.startswith(":") for line in lines):
            continue
        if len(lines) != 2 or not lines[0].startswith("event: ") or not lines[1].startswith("data: "):
            raise _fail(f"a Responses stream frame that is not event: + data: {frame[:120]!r}", status, body)
        name, data = lines[0][len("event: "):], json.loads(lines[1][len("data: "):])
        model = EVENT_MODELS.get(name)
        if model is None or not isinstance(data, dict) or data.get("type") != name:
            raise _fail(f"an event {name!r} the SDK does not know or whose data has another type", status, body)
        events.append(model.model_validate(data))
    if not events or events[0].type != "response.created":
        raise _fail("a Responses stream that does not start with response.created", status, body)
    if events[-1].type == "response.failed" or any(e.type == "error" for e in events):
        raise _fail("a failed response although Dify was healthy", status, body)
    ends = [e for e in events if e.type in TERMINAL | {"response.failed"}]
    if ends != [events[-1]] or events[-1].type not in TERMINAL:
        raise _fail("a Responses stream that does not end with exactly one terminal event", status, body)
    numbers = [e.sequence_number for e in events]
    if any(b <= a for a, b in zip(numbers, numbers[1:], strict=False)):
        raise _fail(f"sequence numbers that do not increase: {numbers[:40]}", status, body)
    final = events[-1].response
    if final.status != events[-1].type.removeprefix("response."):
        raise _fail(f"{events[-1].type} carrying a response with status {final.status!r}", status, body)
    deltas: dict[str, str] = {}
    for event in events:
        if event.type == "response.output_text.delta":
            deltas[event.item_id] = deltas.get(event.item_id, "") + event.delta
        elif event.type == "response.output_text.done" and deltas.get(event.item_id, "") != event.text:
            raise _fail("output_text.done whose text is not the sum of its deltas", status, body)
    finals = {item.id: "".join(part.text for part in item.content if part.type == "output_text")
              for item in final.output if item.type == "message"}
    if any(finals.get(item_id) != streamed for item_id, streamed in deltas.items()):
        raise _fail("a final response whose text differs from what was streamed", status, body)


def _json(status: int, body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise _fail("a body that is not JSON", status, body) from exc


def _count(target: str, outcome: str) -> str:
    STATS[f"{target}: {outcome}"] += 1
    return outcome
