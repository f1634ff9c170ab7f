"""Checking the caller's API key. The hook URL is the only secret Dify checks, so the plugin checks its own key."""

from __future__ import annotations

import hmac

from openai_bridge.errors import OpenAIError, invalid_api_key
from openai_bridge.http.messages import IncomingRequest


def presented_key(request: IncomingRequest) -> str:
    authorization = request.header("Authorization").strip()
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    # Continue sends `api-key`, some proxies `x-api-key`.
    return (request.header("api-key") or request.header("x-api-key")).strip()


def check_api_key(request: IncomingRequest, expected: str) -> None:
    """Raises the 401 of a request without the endpoint's key."""
    if not expected:
        raise OpenAIError(401, "This endpoint has no API key configured, so it refuses every request. "
                                "Ask the Dify admin to set the endpoint's API key.",
                           "invalid_request_error", None, "endpoint_not_configured")
    given = presented_key(request)
    # Constant time over bytes: the comparison must not leak how much of a guess was right.
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise invalid_api_key()
