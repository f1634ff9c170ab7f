"""Which handler serves a request: paths with and without `/v1`, a trailing `/` tolerated, 404 and 405 as values."""

from __future__ import annotations

from dataclasses import dataclass

from openai_bridge.errors import method_not_allowed, route_not_found

# path template -> {method: route name}; "{id}" matches one path segment, "{id...}" the rest of the path (model
# names may hold "/").
ROUTES: dict[str, dict[str, str]] = {
    "/chat/completions": {"POST": "chat_completions"},
    "/responses": {"POST": "create_response"},
    "/responses/{id}": {"GET": "retrieve_response"},
    "/completions": {"POST": "completions"},
    "/models": {"GET": "list_models"},
    "/models/{id...}": {"GET": "retrieve_model"},
}


@dataclass(frozen=True)
class Route:
    name: str
    params: dict[str, str]
    allowed: tuple[str, ...]


def normalize(path: str) -> str:
    path = "/" + path.strip("/")
    if path == "/v1" or path.startswith("/v1/"):
        path = path[3:] or "/"
    return path


def _match(template: str, path: str) -> dict[str, str] | None:
    want, got = template.strip("/").split("/"), path.strip("/").split("/")
    if want[-1].endswith("...}") and len(got) >= len(want):
        got = [*got[: len(want) - 1], "/".join(got[len(want) - 1:])]
        want = [*want[:-1], want[-1].replace("...", "")]
    if len(want) != len(got):
        return None
    params: dict[str, str] = {}
    for w, g in zip(want, got, strict=True):
        if w.startswith("{"):
            if not g:
                return None
            params[w[1:-1]] = g
        elif w != g:
            return None
    return params


def resolve(method: str, path: str) -> Route:
    """The route; raises the 404/405 to answer. OPTIONS and HEAD match every route (CORS preflight, HEAD as GET)."""
    normalized = normalize(path)
    for template, methods in ROUTES.items():
        params = _match(template, normalized)
        if params is None:
            continue
        allowed = tuple(methods)
        if method == "OPTIONS":
            return Route("preflight", params, allowed)
        name = methods.get("GET" if method == "HEAD" and "GET" in methods else method)
        if name is None:
            raise method_not_allowed(method, path, list(allowed))
        return Route(name, params, allowed)
    raise route_not_found(method, path)
