"""Turning a raw HTTP body into validated JSON, with errors a client can act on.

Dify's daemon reads at most 10 MB of body and silently cuts the rest, so a cut body must be reported as too large
rather than as malformed JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from openai_bridge.errors import OpenAIError, invalid_request

DIFY_BODY_LIMIT = 10 * 1024 * 1024


def body_too_large() -> OpenAIError:
    return OpenAIError(
        413,
        "The request body is larger than the 10 MB Dify accepts for plugin endpoints; send smaller files "
        "(for example image URLs instead of data URLs).",
        "invalid_request_error",
        None,
        "request_too_large",
    )


def _was_truncated(body: bytes, declared_length: int | None) -> bool:
    return len(body) >= DIFY_BODY_LIMIT or (declared_length is not None and declared_length > len(body))


def parse_json_object(body: bytes, declared_length: int | None = None) -> dict[str, Any]:
    if not body.strip():
        raise invalid_request("The request body is empty; send a JSON object.", None, "invalid_json")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        if _was_truncated(body, declared_length):
            raise body_too_large() from exc
        raise invalid_request(
            f"We could not parse the JSON body of your request ({_describe_json_error(exc)}).", None, "invalid_json"
        ) from exc
    if not isinstance(data, dict):
        raise invalid_request("The request body must be a JSON object.", None, "invalid_json")
    if _MAY_HOLD_SURROGATES.search(body) and _holds_lone_surrogate(data):
        raise invalid_request(
            "We could not parse the JSON body of your request (it contains a lone UTF-16 surrogate such as "
            "\\ud800, which is not valid Unicode).", None, "invalid_json")
    return data


# JSON may spell a lone surrogate as an escape (\ud800), and json.loads also lets UTF-8-encoded surrogates through
# (bytes are decoded with "surrogatepass"). Such strings cannot be encoded again, so they are refused here rather
# than failing later as a 500. The cheap byte search keeps the walk off ordinary bodies.
_MAY_HOLD_SURROGATES = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def _holds_lone_surrogate(data: Any) -> bool:
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def _describe_json_error(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "the body is not valid UTF-8"
    if isinstance(exc, RecursionError):
        return "the JSON is nested too deeply"
    return str(exc).split(":")[0]


# Union branch names pydantic puts into error locations; they are not fields.
_TYPE_TAGS = {"str", "int", "bool", "float", "none", "dict", "list"}


def param_path(loc: tuple[int | str, ...]) -> str:
    """('messages', 0, 'content', 'str') -> 'messages[0].content', skipping pydantic's union tags.

    A content part's discriminator tag equals its payload field ('image_url', 'image_url'), so a repeated name
    is the tag followed by the field and appears once.
    """
    path, previous = "", None
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.isidentifier() and part not in _TYPE_TAGS and part != previous:
            path += f".{part}" if path else part
        previous = part
    return path


def validate[M: BaseModel](model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # The deepest error is the most specific one: a union reports every branch it tried.
        first = max(exc.errors(include_url=False), key=lambda e: len(e["loc"]))
        param = param_path(tuple(first["loc"]))
        message = first["msg"]
        if first["type"] == "missing":
            message = f"Missing required parameter: '{param}'."
        elif first["type"] == "too_short" and param:
            message = f"'{param}' must not be empty."
        else:
            message = f"Invalid value for '{param}': {message}."
        raise invalid_request(message, param or None, "missing_required_parameter"
                              if first["type"] == "missing" else "invalid_type") from exc
