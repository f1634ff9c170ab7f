"""Request headers as clients send them, from ordinary to hostile: key variants, CORS origins, conversation and user
ids, huge and odd values.

`Reach` says what can get as far as the code under test: in-process anything the core's IncomingRequest can hold;
through the plugin only what Dify's daemon forwards and the SDK (dify_plugin 0.10.2) parses before any plugin
code runs (see `PLUGIN`).
"""

from __future__ import annotations

import base64
import string
from dataclasses import dataclass
from functools import cache

from hypothesis import strategies as st

from .strategies import API_KEY, UUID


@dataclass(frozen=True)
class Reach:
    methods: tuple[str, ...]
    max_header_value: int
    header_name_chars: str
    # Names a generated extra header must not have (they would change the request's framing, not its content).
    reserved_names: frozenset[str] = frozenset()


CORE = Reach(
    methods=("GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE", "CONNECT", "PROPFIND", "get", "FOO"),
    max_header_value=1_000_000,  # Go's default MaxHeaderBytes is 1 MB
    header_name_chars=string.ascii_letters + string.digits + "-_",
)
# The daemon routes only these methods to the plugin (it answers PATCH itself). The emulator's HTTP front reads
# request and header lines of at most 64 KiB (values travel as UTF-8: a latin-1 character may take two bytes, hence
# 30,000 characters at most). The SDK refuses a header name with "_" and a repeated Content-Type or
# Content-Length before any plugin code runs (the daemon then answers its own 500); those are its limits, and the
# in-process target covers them.
PLUGIN = Reach(
    methods=("GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD"),
    max_header_value=30_000,
    header_name_chars=string.ascii_letters + string.digits + "-",
    reserved_names=frozenset({"host", "content-length", "content-type", "transfer-encoding", "connection", "te",
                              "trailer", "upgrade", "keep-alive", "expect"}),
)

ALLOWED_ORIGIN = "https://chat.example.com"  # the origin the fuzz deployments and scenario allow

# Values as HTTP servers decode them (latin-1); line breaks cannot be sent in a header at all.
header_value = st.binary(max_size=80).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"").decode("latin-1"))


@st.composite
def huge_value(draw: st.DrawFn, reach: Reach) -> str:
    size = draw(st.sampled_from([n for n in (1_000, 8_000, 30_000, 1_000_000) if n <= reach.max_header_value]))
    return draw(st.sampled_from(["a", "é", " ", ",", "=", "\t"])) * size


def _guess() -> st.SearchStrategy[str]:
    # Wrong keys with a recognisable shape: the oracle checks that none is ever echoed back.
    return st.integers(0, 2**32).map(lambda n: f"sk-guess-{n:08x}")


def _bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


GOOD_AUTH: dict[str, list[tuple[str, str]]] = {
    "bearer": _bearer(API_KEY),
    "api-key": [("api-key", API_KEY)],
    "x-api-key": [("x-api-key", API_KEY)],
    "lower": [("authorization", f"bearer   {API_KEY}  ")],
    "upper": [("AUTHORIZATION", f"BEARER {API_KEY}")],
}


@cache  # strategies are built once per reach, not per draw
def bad_auth(reach: Reach) -> dict[str, st.SearchStrategy[list[tuple[str, str]]]]:
    return {
        "tab": st.just([("Authorization", f"Bearer\t{API_KEY}")]),
        "wrong": _guess().map(_bearer),
        "prefix": st.just(_bearer(API_KEY[:-1])),
        "longer": st.just(_bearer(API_KEY + "0")),
        "latin1": st.just(_bearer(API_KEY[:-1] + "é")),
        "none": st.just([]),
        "basic": st.just([("Authorization", "Basic " + base64.b64encode(f"u:{API_KEY}".encode()).decode())]),
        "token": st.just([("Authorization", f"Token {API_KEY}")]),
        "bare": st.just([("Authorization", API_KEY)]),
        "junk": header_value.map(lambda v: [("Authorization", v)]),
        "empty": st.just([("Authorization", "Bearer ")]),
        "padded": st.just(_bearer(API_KEY + "\x00")),
        "huge": huge_value(reach).map(_bearer),
        "bearer-in-api-key": st.just([("api-key", f"Bearer {API_KEY}")]),
        "right-then-wrong": _guess().map(lambda g: _bearer(API_KEY) + _bearer(g)),
        "wrong-then-right": _guess().map(lambda g: _bearer(g) + _bearer(API_KEY)),
        "bearer-and-wrong-api-key": _guess().map(lambda g: [*_bearer(API_KEY), ("api-key", g)]),
        "wrong-bearer-and-api-key": _guess().map(lambda g: [*_bearer(g), ("x-api-key", API_KEY)]),
    }


@st.composite
def authorization(draw: st.DrawFn, reach: Reach, hostile: bool) -> list[tuple[str, str]]:
    """The credentials of one request: mostly right (unless `hostile`), else every way of getting them wrong."""
    if draw(st.integers(0, 1) if hostile else st.integers(0, 9)) == 0:
        variants = bad_auth(reach)
        return draw(variants[draw(st.sampled_from(sorted(variants)))])
    if hostile:
        return draw(st.sampled_from(list(GOOD_AUTH.values())))
    return draw(st.sampled_from([GOOD_AUTH["bearer"]] * 30 + [GOOD_AUTH["api-key"], GOOD_AUTH["x-api-key"],
                                                             GOOD_AUTH["lower"]]))


@st.composite
def headers(draw: st.DrawFn, reach: Reach, hostile: bool = False) -> list[tuple[str, str]]:
    """Request headers as a client could send them; `hostile` makes odd credentials and values the rule."""
    out = list(draw(authorization(reach, hostile)))
    if draw(st.booleans()):
        out.append(("Content-Type", draw(st.sampled_from(["application/json", "text/plain", "", "multipart/form-data",
                                                          "application/json; charset=latin-1"]))))
    odd = st.one_of(header_value, huge_value(reach)) if hostile else header_value
    extra = {
        "X-Dify-Conversation-Id": st.one_of(st.just(UUID), st.just(UUID.upper()), st.just(f" {UUID} "), odd),
        "Origin": st.one_of(st.sampled_from([ALLOWED_ORIGIN, ALLOWED_ORIGIN, "null", "https://evil.example",
                                             "https://CHAT.example.com", ALLOWED_ORIGIN + "/", "*",
                                             ALLOWED_ORIGIN + ".evil.example", f" {ALLOWED_ORIGIN}"]), odd),
        "X-OpenWebUI-User-Id": odd,
        "Accept": st.sampled_from(["application/json", "text/event-stream", "*/*", ""]),
        "X-Forwarded-For": st.just("10.0.0.1"),
        "Access-Control-Request-Method": st.sampled_from(["POST", "DELETE", "GET", "x"]),
        "Access-Control-Request-Headers": st.sampled_from(["authorization, content-type", "x-evil", ""]),
        "OpenAI-Beta": st.sampled_from(["assistants=v2", "responses=v1", ""]),
        "User-Agent": st.sampled_from(["OpenAI/Python 1.0", "", "curl/8"]),
        "Cookie": odd,
    }
    for name in draw(st.lists(st.sampled_from(sorted(extra)), max_size=5 if hostile else 3, unique=True)):
        out.append((name, draw(extra[name])))
    if hostile and draw(st.integers(0, 3)) == 0:
        # The same header twice, one copy odd: which one counts differs between servers, the answer must not.
        name = draw(st.sampled_from(["Origin", "X-Dify-Conversation-Id", "X-OpenWebUI-User-Id", "api-key"]))
        out.append((name, draw(st.sampled_from([ALLOWED_ORIGIN, UUID, API_KEY, "x"]))))
    if draw(st.integers(0, 2 if hostile else 4)) == 0:
        name = draw(st.text(alphabet=reach.header_name_chars, min_size=1, max_size=12).filter(
            lambda n: n.lower() not in reach.reserved_names))
        out.append((name, draw(odd)))
    return out
