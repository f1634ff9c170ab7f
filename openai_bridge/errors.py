"""OpenAI error values: what a client sees when something goes wrong.

Errors are values, not strings: every failure the plugin reports is an `OpenAIError` carrying the HTTP status, the
four envelope fields clients read (message, type, param, code) and any headers that steer client retries.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

# Sent wherever a retry would only fail again or run the Dify app a second time for nothing (the OpenAI SDKs
# honour it; clients that do not are covered in the README's client recipes).
NO_RETRY = {"x-should-retry": "false"}


@dataclass(frozen=True)
class OpenAIError(Exception):
    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Whether the same request may succeed if sent again (rate limits, a Dify that was briefly away). Clients are
    # told the others are final, so they do not run the app again for nothing.
    retryable: bool = False

    def response_headers(self) -> dict[str, str]:
        return dict(self.headers) if self.retryable else {**self.headers, **NO_RETRY}

    def envelope(self) -> dict[str, Any]:
        # All four keys always present: the Node SDK v4 loses the message when one is missing.
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def body(self) -> bytes:
        return json.dumps(self.envelope(), ensure_ascii=False).encode()

    def with_headers(self, **headers: str) -> OpenAIError:
        return dataclasses.replace(self, headers={**self.headers, **headers})


def invalid_request(message: str, param: str | None = None, code: str | None = "invalid_value") -> OpenAIError:
    return OpenAIError(400, message, "invalid_request_error", param, code)


def unsupported_value(message: str, param: str) -> OpenAIError:
    return OpenAIError(400, message, "invalid_request_error", param, "unsupported_value")


def invalid_api_key() -> OpenAIError:
    return OpenAIError(
        401,
        "Incorrect API key provided. Send the endpoint's API key as 'Authorization: Bearer <key>'.",
        "invalid_request_error",
        None,
        "invalid_api_key",
    )


def endpoint_not_configured(what: str) -> OpenAIError:
    # Final until an admin acts, so no Retry-After: clients would only come back to the same answer.
    return OpenAIError(503, f"This endpoint is not configured: {what}. Ask the Dify admin to set it.",
                       "server_error", None, "endpoint_not_configured")


def route_not_found(method: str, path: str) -> OpenAIError:
    return OpenAIError(404, f"Invalid URL ({method} {path})", "invalid_request_error", None, "unknown_url")


def method_not_allowed(method: str, path: str, allowed: list[str]) -> OpenAIError:
    return OpenAIError(
        405,
        f"Method {method} is not allowed for {path}; use {', '.join(allowed)}.",
        "invalid_request_error",
        None,
        "method_not_allowed",
        {"Allow": ", ".join(allowed)},
    )


def model_not_found(model: str) -> OpenAIError:
    return OpenAIError(404, f"The model '{model}' does not exist.", "invalid_request_error", "model", "model_not_found")


def internal_error(message: str = "The plugin failed unexpectedly while handling this request.") -> OpenAIError:
    return OpenAIError(500, message, "server_error", None, "internal_error")
