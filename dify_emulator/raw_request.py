"""The raw HTTP/1.1 request the daemon hands the plugin (`copyRequest` + Go's `Request.Write`).

The daemon strips IP-revealing headers, sets Dify-Hook-Id and Dify-Hook-Url, replaces the body framing with
a Content-Length of what it actually read (at most 10 MB), and Go writes Host, User-Agent, Content-Length,
then the other headers sorted by canonical name.
"""

import string
from collections.abc import Iterable

MAX_BODY_BYTES = 10 * 1024 * 1024

STRIPPED_HEADERS = frozenset(
    {"X-Forwarded-For", "X-Real-Ip", "X-Forwarded", "X-Original-Forwarded-For", "X-Original-Url", "X-Original-Host"}
)
# Written by Go itself (or dropped, as the body is re-framed).
FRAMING_HEADERS = frozenset({"Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer"})
GO_USER_AGENT = "Go-http-client/1.1"
# Go's net/http sends Content-Length: 0 for an empty body only with these methods.
METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")


def canonical_header(name: str) -> str:
    """Go's textproto.CanonicalMIMEHeaderKey: `x-forwarded-for` -> `X-Forwarded-For`."""
    if not name or any(c not in _TOKEN_CHARS for c in name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def build_raw_request(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    hook_id: str,
    default_host: str,
) -> bytes:
    """`target` is the path after /e/<hook_id> (with its query string); `body` is already truncated."""
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        key = canonical_header(name)
        if key not in STRIPPED_HEADERS:
            grouped.setdefault(key, []).append(value)
    host = (grouped.get("Host") or [default_host])[0]
    path = target.partition("?")[0]
    grouped["Dify-Hook-Id"] = [hook_id]
    grouped.setdefault("Dify-Hook-Url", [f"http://{host}/e/{hook_id}{path}"])
    user_agent = (grouped.get("User-Agent") or [GO_USER_AGENT])[0]

    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"User-Agent: {user_agent}"]
    if body or method in METHODS_WITH_BODY:
        lines.append(f"Content-Length: {len(body)}")
    for key in sorted(grouped):
        if key not in FRAMING_HEADERS:
            lines.extend(f"{key}: {value}" for value in grouped[key])
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body
