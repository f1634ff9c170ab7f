"""CORS: closed unless the endpoint's settings name the browser origins allowed to call it."""

from __future__ import annotations

from openai_bridge.http.messages import HttpResponse, IncomingRequest

ALLOWED_HEADERS = "Authorization, Content-Type, api-key, x-api-key, X-Dify-Conversation-Id, OpenAI-Beta, " \
                  "X-Stainless-Lang, X-Stainless-Package-Version, X-Stainless-OS, X-Stainless-Arch, " \
                  "X-Stainless-Runtime, X-Stainless-Runtime-Version, X-Stainless-Retry-Count, X-Stainless-Timeout"
EXPOSED_HEADERS = "x-request-id, X-Dify-Conversation-Id, Retry-After, x-should-retry"


def cors_headers(request: IncomingRequest, allowed_origins: tuple[str, ...]) -> dict[str, str]:
    origin = request.header("Origin")
    if not origin or not allowed_origins:
        return {}
    if "*" in allowed_origins:
        return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSED_HEADERS}
    if origin in allowed_origins:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
                "Access-Control-Expose-Headers": EXPOSED_HEADERS}
    return {}


def preflight(request: IncomingRequest, allowed_origins: tuple[str, ...], methods: tuple[str, ...]) -> HttpResponse:
    headers = cors_headers(request, allowed_origins)
    if headers:
        headers |= {
            "Access-Control-Allow-Methods": ", ".join((*methods, "OPTIONS")),
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": "600",
        }
    # Without an allowed origin the preflight still answers, but grants nothing: browsers then refuse.
    return HttpResponse(204, headers)
