"""Dify's Service API errors: `{"code", "message", "status"}` with the HTTP status, as `libs/external_api.py` builds
them (an HTTPException's snake_cased class name or its `error_code`, its description; a ValueError is a 400
`invalid_param` with its text; anything else the bare 500).

The app engine (dify_emulator/apps.py, inputs.py) fails with the plugin path's wording, `... status code: N and
respond with: {body}`: the body inside is Dify's own error body, so it is taken back out here.
"""

import json
import re
from collections.abc import Mapping
from typing import Any

from ..errors import INTERNAL_SERVER_ERROR, BackwardsError, dify_json

DIFY_FAILURE = re.compile(r"status code: (?P<status>\d{3}) and respond with: (?P<body>\{.*\})\s*$", re.DOTALL)


class ServiceError(Exception):
    """A request Dify refuses: `body` is its error JSON, `status` the HTTP status."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"code": code, "message": message, "status": status}
        self.headers = dict(headers or {})

    @classmethod
    def of_body(cls, status: int, body: Mapping[str, Any]) -> "ServiceError":
        error = cls(status, str(body.get("code", "unknown")), str(body.get("message", "")))
        error.body = dict(body)
        return error

    def encoded(self) -> bytes:
        # Written as Dify's API writes its error bodies (compact, "/" escaped: recorded on 1.14.1).
        return dify_json(self.body).encode()


def invalid_param(message: str) -> ServiceError:
    """A ValueError reaching Dify's error handler."""
    return ServiceError(400, "invalid_param", message)


def unauthorized(message: str) -> ServiceError:
    return ServiceError(401, "unauthorized", message, {"WWW-Authenticate": 'Bearer realm="api"'})


def internal_server_error() -> ServiceError:
    """An exception Dify did not expect: its generic body, in its own key order."""
    return ServiceError.of_body(500, INTERNAL_SERVER_ERROR)


NOT_FOUND_URL = ("The requested URL was not found on the server. If you entered the URL manually please check "
                 "your spelling and try again.")
METHOD_NOT_ALLOWED = "The method is not allowed for the requested URL."
# controllers/service_api/app/error.py
NOT_CHAT_APP = ("not_chat_app", "Please check if your app mode matches the right API route.")
NOT_WORKFLOW_APP = ("not_workflow_app", "Please check if your app mode matches the right API route.")
APP_UNAVAILABLE = ("app_unavailable", "App unavailable, please check your app configurations.")
CONVERSATION_NOT_EXISTS = "Conversation Not Exists."
# werkzeug's InternalServerError, raised by the controllers for a run's unexpected exception (blocking mode).
RUN_FAILED_500 = ("internal_server_error", "The server encountered an internal error and was unable to complete "
                  "your request. Either the server is overloaded or there is an error in the application.")


def wrong_route(kind: tuple[str, str]) -> ServiceError:
    return ServiceError(400, *kind)


def from_failure_text(text: str) -> ServiceError:
    """A failure worded as the plugin path words it (the engine's checks, a scenario's `fail` reply)."""
    match = DIFY_FAILURE.search(text)
    if match is not None:
        try:
            body = json.loads(match.group("body"))
        except ValueError:
            body = None
        if isinstance(body, dict):
            return ServiceError.of_body(int(match.group("status")), body)
    return internal_server_error()


def from_backwards(error: BackwardsError) -> ServiceError:
    return from_failure_text(error.message)
