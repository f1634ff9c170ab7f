"""Failures of backwards invocations, worded the way Dify and its daemon word them."""

import json


class BackwardsError(Exception):
    """A backwards invocation fails: the plugin receives `message` as an `error` event (then `end`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def dify_http_failure(status: int, code: str, message: str) -> str:
    """The text the daemon reports when Dify's inner API answers with an HTTP error."""
    body = json.dumps({"code": code, "message": message, "status": status})
    return f"request failed with status code: {status} and respond with: {body}"


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
