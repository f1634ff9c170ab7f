"""Failures of backwards invocations, worded the way Dify and its daemon word them."""

import json
from collections.abc import Mapping
from typing import Any

# What the daemon puts before Dify's answer when an app invocation or an app-info fetch fails.
INVOKE_APP_FAILED = "invoke app failed: "
FETCH_APP_FAILED = "fetch app failed: "
# Dify's body for an exception it did not expect (recorded on 1.14.1: note the key order).
INTERNAL_SERVER_ERROR: dict[str, Any] = {"message": "Internal Server Error", "code": "unknown", "status": 500}


class BackwardsError(Exception):
    """A backwards invocation fails: the plugin receives `message` as an `error` event (then `end`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def invalid_param(message: str) -> dict[str, Any]:
    """Dify's body for a ValueError raised while handling an inner API call (most refusals are one)."""
    return {"code": "invalid_param", "message": message, "status": 400}


def dify_json(body: Mapping[str, Any]) -> str:
    """A body as Dify's inner API serialises it: compact, ASCII, and "/" escaped as "\\/" (recorded on 1.14.1)."""
    return json.dumps(body, separators=(",", ":")).replace("/", "\\/")


def dify_http_failure(status: int, body: Mapping[str, Any]) -> str:
    """The text the daemon reports when Dify's inner API answers with an HTTP error."""
    return f"request failed with status code: {status} and respond with: {dify_json(body)}"


def app_failure(body: Mapping[str, Any], prefix: str = INVOKE_APP_FAILED) -> BackwardsError:
    """Dify refused the invocation with `body` (its `status` is the HTTP status) before any event."""
    return BackwardsError(prefix + dify_http_failure(int(body["status"]), body))


def daemon_error_body(message: str) -> dict:
    """The JSON body the daemon sends for an internal error (`exception.InternalServerError(err).ToResponse()`)."""
    inner = json.dumps({"message": message, "error_type": "PluginDaemonInternalServerError", "args": None})
    return {"code": -500, "message": inner, "data": None}


def plugin_error_text(data: object) -> str:
    """How the daemon renders a plugin's session `error` (`ErrorResponse.Error()`: JSON with sorted keys)."""
    fields = data if isinstance(data, dict) else {"message": str(data)}
    return json.dumps(
        {"args": fields.get("args"), "error_type": fields.get("error_type", ""), "message": fields.get("message", "")},
        sort_keys=True,
        separators=(",", ":"),
    )
