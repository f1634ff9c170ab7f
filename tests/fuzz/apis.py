"""One request strategy per API under fuzz: each gets its own test and budget (test_fuzz_core, test_fuzz_plugin).

- chat, responses, completions: POSTs with that API's hostile bodies (and, now and then, other methods);
- models: GET / HEAD on /models and /models/{id} with odd, percent-encoded and very long ids;
- routes: unknown routes and every method, with any body;
- headers: the known routes with ordinary bodies and hostile headers (credentials, CORS origins, conversation and
  user ids, huge values) and Content-Length lies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from hypothesis import strategies as st

from .chat_bodies import CHAT
from .completions_bodies import COMPLETIONS
from .headers import Reach, headers
from .responses_bodies import RESPONSES
from .strategies import KNOWN_RESPONSE, BodyShape, FuzzRequest, bodies, encode

QUERIES = ["", "", "", "", "?api-version=2024-10-21", "?stream=true&x=%00", "?", "?a=" + "b" * 2_000]


@st.composite
def spelled(draw: st.DrawFn, route: str) -> str:
    """A known route as clients write it: with or without /v1, with trailing or doubled slashes, a query string."""
    prefix = draw(st.sampled_from(["/v1/", "/v1/", "/v1/", "/", "//v1/", "/v1//"]))
    return prefix + route + draw(st.sampled_from(["", "", "", "/", "//"])) + draw(st.sampled_from(QUERIES))


def _encoded_text(max_size: int) -> st.SearchStrategy[str]:
    # Any text, percent-encoded as a client library would (non-ASCII, "/", "?", "#", "%" and controls included).
    return st.text(max_size=max_size).map(lambda text: quote(text, safe=""))


@st.composite
def odd_id(draw: st.DrawFn, reach: Reach) -> str:
    """A model or response id as it appears in a path."""
    return draw(st.one_of(
        st.sampled_from(["dify-app", "my-model", "my%20model", "DIFY-APP", "dify-app%20", "dify-app.json", "other",
                         "..", "%2e%2e", ".", "%2F", "a%2Fb", "dify-app%2F", "a%00b", "%ff", "%c3%28", "%", "%zz",
                         "%25", "a%3Fb", "a%23b", "%0d%0aX-Injected:%201", "%E6%A8%A1%E5%9E%8B", ";", "a;b=c", "~",
                         "*", KNOWN_RESPONSE, "resp_" + "0" * 32]),
        _encoded_text(20),
        # Paths are bounded like header values (the request line is one).
        st.sampled_from([n for n in (300, 5_000, 30_000, 500_000) if n <= reach.max_header_value]).map(
            lambda n: "x" * n),
    ))


SEGMENTS = ["v1", "v1", "chat", "completions", "responses", "models", "embeddings", "images", "audio", "files",
            "assistants", "threads", "batches", "moderations", "..", ".", "", "%2e%2e", "%2F", "V1", "Models",
            "chat%2Fcompletions", "dify-app", "%00", "%ff", "~", "*", "e", "fuzz", "api", "v2", "openai"]


@st.composite
def odd_path(draw: st.DrawFn, reach: Reach) -> str:
    """Any path: made of API words, strange segments and encoded text; now and then very long."""
    segments = draw(st.lists(st.one_of(st.sampled_from(SEGMENTS), _encoded_text(10)), max_size=6))
    path = "/" + "/".join(segments)
    if draw(st.integers(0, 19)) == 0:
        path += "/" + draw(odd_id(reach))
    return path + draw(st.sampled_from(QUERIES))


@st.composite
def posts(draw: st.DrawFn, reach: Reach, route: str, shape: BodyShape) -> FuzzRequest:
    """Mostly POSTs of the API's bodies to its route; now and then another method on it."""
    method = "POST" if draw(st.integers(0, 9)) else draw(st.sampled_from(reach.methods))
    return FuzzRequest(method, draw(spelled(route)), draw(headers(reach)), draw(bodies(shape)))


def chat_requests(reach: Reach) -> st.SearchStrategy[FuzzRequest]:
    return posts(reach, "chat/completions", CHAT)


def completion_requests(reach: Reach) -> st.SearchStrategy[FuzzRequest]:
    return posts(reach, "completions", COMPLETIONS)


@st.composite
def response_requests(draw: st.DrawFn, reach: Reach) -> FuzzRequest:
    """Creating responses, and now and then retrieving one (GET /responses/{id}: never stored, always a 404)."""
    if draw(st.integers(0, 9)):
        return draw(posts(reach, "responses", RESPONSES))
    method = draw(st.sampled_from(["GET", "HEAD"]) if draw(st.integers(0, 3)) else st.sampled_from(reach.methods))
    return FuzzRequest(method, draw(spelled("responses/" + draw(odd_id(reach)))), draw(headers(reach)), b"")


SMALL_BODIES = st.one_of(st.just(b""), st.just(b""), st.just(b""), bodies(CHAT, allow_huge=False))


@st.composite
def model_requests(draw: st.DrawFn, reach: Reach) -> FuzzRequest:
    method = draw(st.sampled_from(["GET", "HEAD"]) if draw(st.integers(0, 3)) else st.sampled_from(reach.methods))
    route = draw(st.one_of(st.just("models"), odd_id(reach).map(lambda model: "models/" + model)))
    return FuzzRequest(method, draw(spelled(route)), draw(headers(reach)), draw(SMALL_BODIES))


@st.composite
def route_requests(draw: st.DrawFn, reach: Reach) -> FuzzRequest:
    body = draw(st.one_of(SMALL_BODIES, *(bodies(shape, allow_huge=False) for shape in (RESPONSES, COMPLETIONS))))
    return FuzzRequest(draw(st.sampled_from(reach.methods)), draw(odd_path(reach)), draw(headers(reach)), body)


# (method, route, body shape) of the requests whose headers are fuzzed.
KNOWN_CALLS: list[tuple[str, str, BodyShape | None]] = [
    ("POST", "chat/completions", CHAT), ("POST", "responses", RESPONSES), ("POST", "completions", COMPLETIONS),
    ("GET", "models", None), ("GET", "models/dify-app", None), ("GET", "responses/resp_1", None),
]


@st.composite
def header_requests(draw: st.DrawFn, reach: Reach) -> FuzzRequest:
    method, route, shape = draw(st.sampled_from(KNOWN_CALLS))
    body = draw(st.builds(encode, shape.nearly_valid, st.booleans())) if shape else b""
    if draw(st.integers(0, 5)) == 0:
        method = draw(st.sampled_from(["OPTIONS", "HEAD", *reach.methods]))
    # A Content-Length shorter or longer than the body (None: the truth).
    lie = draw(st.one_of(st.none(), st.none(), st.integers(0, len(body)), st.integers(len(body) + 1, 2**40)))
    return FuzzRequest(method, draw(spelled(route)), draw(headers(reach, hostile=True)), body, lie)


@dataclass(frozen=True)
class FuzzApi:
    name: str
    requests: Callable[[Reach], st.SearchStrategy[FuzzRequest]]


APIS: tuple[FuzzApi, ...] = (
    FuzzApi("chat", chat_requests),
    FuzzApi("responses", response_requests),
    FuzzApi("completions", completion_requests),
    FuzzApi("models", model_requests),
    FuzzApi("routes", route_requests),
    FuzzApi("headers", header_requests),
)
