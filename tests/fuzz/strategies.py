"""Hypothesis strategies for hostile OpenAI requests: bodies, headers, paths and methods.

Bodies come from several families, each aimed at one way a request can be wrong:
- `shaped`: a Chat Completions body whose every field may have the wrong type or a strange value (content parts of
  every kind, data URLs that lie about their type or size, tool calls, stop lists, inputs, conversation ids);
- `any_json`: arbitrary JSON (top-level arrays, strings, numbers ...);
- `mutated`: the bytes of a shaped body, truncated, with bytes flipped or invalid UTF-8 spliced in;
- `nested`: values nested far deeper than any JSON parser's recursion limit;
- `huge`: multi-megabyte strings, thousands of messages or stop sequences, bodies over Dify's 10 MB cut.
Large values are built from a drawn size, not drawn character by character, so generation stays fast.
"""

from __future__ import annotations

import base64
import json
import string
from typing import Any

from hypothesis import strategies as st

API_KEY = "sk-fuzz-0123456789abcdef"
CHAT_PATHS = ("/v1/chat/completions", "/chat/completions", "/v1/chat/completions/")
OTHER_PATHS = ("/v1/models", "/models", "/v1/models/dify-app", "/v1/models/other", "/v1/responses", "/v1/completions",
               "/", "/v1", "/v1/embeddings", "/v1/chat", "/v1/chat/completions/extra", "/%2e%2e/secret",
               "/v1/models/" + "x" * 300)
METHODS = ("POST", "GET", "PUT", "DELETE", "OPTIONS", "HEAD")
UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 24
PDF = b"%PDF-1.4\n%fake\n"
GIF = b"GIF89a" + b"\x00" * 10
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 "

# ---------------------------------------------------------------- scalars

junk_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
)
junk = st.recursive(junk_scalar, lambda inner: st.lists(inner, max_size=4) |
                    st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)

weird_text = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=60),
    st.sampled_from(["", " ", "\n", "<think>", "</think>", "<think>a</think>b", "\x00", "\u2028", "\ufeff",
                     "data: [DONE]\n\n", "\r\nX-Injected: 1", "😀" * 5, "a" * 200, "{{query}}", "%s%n",
                     # lone surrogates: JSON can spell them (\ud800), but they are not Unicode text
                     "\ud800", "a\udc00b", "\udbff\udbff"]),
)


def wrong_or(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a valid value, sometimes anything at all."""
    return st.one_of(valid, valid, valid, junk)


# ---------------------------------------------------------------- data URLs and files


@st.composite
def data_url(draw: st.DrawFn) -> str:
    """A data URL whose declared type may not match its bytes, whose base64 may be broken, or whose size is huge."""
    declared = draw(st.sampled_from(["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf",
                                     "text/plain", "audio/wav", "", "image/svg+xml", "application/x-evil",
                                     "IMAGE/PNG", "image/png;charset=utf-8"]))
    content = draw(st.sampled_from([PNG, JPEG, PDF, GIF, WEBP, b"", b"hello", b"\x00" * 3]))
    kind = draw(st.sampled_from(["honest", "encoded", "broken", "no_base64", "huge", "no_comma", "spaces"]))
    payload = base64.b64encode(content).decode()
    if kind == "broken":
        payload = payload[: max(0, len(payload) - draw(st.integers(1, 3)))] + draw(st.sampled_from(["!", "=", "@@"]))
    elif kind == "huge":
        # Just over or under the 8 MB per-file limit (base64 of zeros is cheap to build).
        size = draw(st.sampled_from([8 * 1024 * 1024 + 3, 6 * 1024 * 1024]))
        payload = base64.b64encode(content + b"\x00" * (size - len(content))).decode()
    elif kind == "spaces":
        payload = " ".join(payload[i:i + 4] for i in range(0, len(payload), 4))
    if kind == "no_base64":
        return f"data:{declared},{payload}"
    if kind == "no_comma":
        return f"data:{declared};base64{payload}"
    return f"data:{declared};base64,{payload}"


image_url = st.one_of(data_url(), st.sampled_from([
    "https://example.com/cat.png", "http://example.com/a.jpg?x=1", "ftp://example.com/a.png", "javascript:alert(1)",
    "file:///etc/passwd", "", "https://", "data:", "//example.com/x.png", "https://example.com/" + "a" * 3000]))

content_part = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": wrong_or(weird_text)}),
    st.fixed_dictionaries({"type": st.just("image_url"),
                           "image_url": wrong_or(st.fixed_dictionaries(
                               {"url": wrong_or(image_url)},
                               optional={"detail": wrong_or(st.sampled_from(["auto", "low", "high", "x"]))}))}),
    st.fixed_dictionaries({"type": st.just("input_audio"),
                           "input_audio": wrong_or(st.fixed_dictionaries(
                               {"data": wrong_or(st.sampled_from(["UklGRg==", "", "!!", "UklGRg"])),
                                "format": wrong_or(st.sampled_from(["wav", "mp3", "../../x", "", "WAV"]))}))}),
    st.fixed_dictionaries({"type": st.just("file"),
                           "file": wrong_or(st.fixed_dictionaries({}, optional={
                               "file_data": wrong_or(st.one_of(data_url(), st.sampled_from(
                                   [base64.b64encode(PDF).decode(), "not base64", ""]))),
                               "file_id": wrong_or(st.text(max_size=10)),
                               "filename": wrong_or(st.sampled_from(["a.pdf", "../../etc/passwd", "", "x" * 300,
                                                                     "名前.png", "a\r\nb.txt"]))}))}),
    st.fixed_dictionaries({"type": st.just("refusal"), "refusal": wrong_or(weird_text)}),
    st.fixed_dictionaries({"type": wrong_or(st.sampled_from(["video", "image", "", "TEXT", "tool_result"]))},
                          optional={"text": junk}),
    junk,
)

tool_call = st.fixed_dictionaries({}, optional={
    "id": wrong_or(st.text(max_size=10)), "type": wrong_or(st.just("function")),
    "function": wrong_or(st.fixed_dictionaries({}, optional={"name": wrong_or(st.text(max_size=10)),
                                                              "arguments": wrong_or(st.text(max_size=30))}))})

role = st.sampled_from(["system", "developer", "user", "user", "user", "assistant", "tool", "function",
                        "User", "bot", ""])

message = st.fixed_dictionaries(
    {"role": wrong_or(role)},
    optional={
        "content": wrong_or(st.one_of(weird_text, st.none(), st.lists(content_part, max_size=4))),
        "name": wrong_or(st.text(max_size=10)),
        "tool_calls": wrong_or(st.lists(tool_call, max_size=2)),
        "tool_call_id": wrong_or(st.text(max_size=10)),
        "function_call": wrong_or(st.fixed_dictionaries({"name": st.text(max_size=5),
                                                         "arguments": st.text(max_size=5)})),
        "reasoning_content": junk,
        "cache_control": junk,
    },
)

user_message = st.fixed_dictionaries({"role": st.just("user"),
                                      "content": st.one_of(weird_text, st.lists(content_part, min_size=1, max_size=3))})

conversation_id = st.one_of(st.just(UUID), st.just(UUID.upper()), st.just(UUID + "\n"), st.just(" " + UUID),
                            st.text(max_size=40), st.just("00000000-0000-0000-0000-00000000000g"))

OPTIONAL_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "stream": wrong_or(st.booleans()),
    "stream_options": wrong_or(st.fixed_dictionaries({}, optional={"include_usage": wrong_or(st.booleans())})),
    "n": wrong_or(st.integers(-2, 3)),
    "logprobs": wrong_or(st.booleans()),
    "top_logprobs": wrong_or(st.integers(-1, 5)),
    "modalities": wrong_or(st.lists(st.sampled_from(["text", "audio", "image"]), max_size=3)),
    "audio": wrong_or(st.none() | st.fixed_dictionaries({"voice": st.just("alloy")})),
    "tool_choice": wrong_or(st.sampled_from(["none", "auto", "required", "x"]) |
                            st.just({"type": "function", "function": {"name": "f"}})),
    "tools": junk,
    "stop": wrong_or(st.one_of(st.none(), weird_text, st.lists(weird_text, max_size=6))),
    "user": junk,
    "conversation_id": wrong_or(conversation_id),
    "inputs": wrong_or(st.dictionaries(st.sampled_from(["query", "system_prompt", "files", "topic", "messages", ""]),
                                       junk, max_size=3)),
    "temperature": junk, "max_tokens": junk, "seed": junk, "metadata": junk, "response_format": junk,
    "reasoning_effort": junk, "parallel_tool_calls": junk,
}


@st.composite
def chaotic_body(draw: st.DrawFn) -> dict[str, Any]:
    """Every field may be missing, of the wrong type or strange."""
    body: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        body["model"] = draw(wrong_or(st.sampled_from(["dify-app", "gpt-4o", "", "x" * 500, "模型"])))
    if draw(st.integers(0, 9)):
        history = draw(st.lists(message, max_size=5))
        if draw(st.booleans()):
            history.append(draw(user_message))
        body["messages"] = draw(st.one_of(st.just(history), st.just(history), junk))
    for name in draw(st.lists(st.sampled_from(sorted(OPTIONAL_FIELDS)), max_size=6, unique=True)):
        body[name] = draw(OPTIONAL_FIELDS[name])
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.text(max_size=10))] = draw(junk)
    return body


good_text = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=40).filter(
        lambda t: t.strip()),
    st.sampled_from(["hello", "<think>hm</think>hi", "a\ud800b"]),
)
good_part = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, good_text),
    st.sampled_from([
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64," + base64.b64encode(PDF).decode(),
                                  "filename": "a.pdf"}},
        {"type": "input_audio", "input_audio": {"data": base64.b64encode(b"RIFF....WAVE").decode(), "format": "wav"}},
    ]),
)
good_user = st.builds(lambda content: {"role": "user", "content": content},
                      st.one_of(good_text, st.lists(good_part, min_size=1, max_size=3).map(
                          lambda parts: [{"type": "text", "text": "look"}, *parts])))
good_turn = st.one_of(
    good_user,
    st.builds(lambda t: {"role": "assistant", "content": t}, good_text),
    st.builds(lambda t: {"role": "system", "content": t}, good_text),
    st.just({"role": "assistant", "content": None,
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}),
    st.just({"role": "tool", "tool_call_id": "c1", "content": "42"}),
)
GOOD_OPTIONS: dict[str, st.SearchStrategy[Any]] = {
    "stream": st.booleans(),
    "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
    "stop": st.one_of(st.sampled_from(["\n", "END", "o"]), st.lists(st.sampled_from(["a", "STOP", "</think>"]),
                                                                    max_size=3)),
    "user": st.one_of(st.text(max_size=10), st.just({"id": "u1", "name": "x"})),
    "conversation_id": st.just(UUID),
    "inputs": st.dictionaries(st.sampled_from(["topic", "system_prompt", "other"]), st.text(max_size=10), max_size=2),
    "temperature": st.floats(0, 2),
    "tool_choice": st.sampled_from(["auto", "none"]),
}


@st.composite
def nearly_valid_body(draw: st.DrawFn) -> dict[str, Any]:
    """A valid request with zero to three fields made wrong: the path deep into the run is exercised."""
    history = draw(st.lists(good_turn, max_size=4))
    body: dict[str, Any] = {"model": draw(st.sampled_from(["dify-app", "gpt-4o", "my model"])),
                            "messages": [*history, draw(good_user)], "stream": draw(st.booleans())}
    for name in draw(st.lists(st.sampled_from(sorted(GOOD_OPTIONS)), max_size=4, unique=True)):
        body[name] = draw(GOOD_OPTIONS[name])
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        target = draw(st.sampled_from(["top", "top", "message", "part"]))
        if target == "top":
            name = draw(st.sampled_from(["model", "messages", *sorted(OPTIONAL_FIELDS)]))
            body[name] = draw(OPTIONAL_FIELDS.get(name, junk))
        elif target == "message" and isinstance(body.get("messages"), list) and body["messages"]:
            index = draw(st.integers(0, len(body["messages"]) - 1))
            if isinstance(body["messages"][index], dict):
                key = draw(st.sampled_from(["role", "content", "name", "tool_calls", "tool_call_id"]))
                body["messages"][index][key] = draw(st.one_of(junk, message.map(lambda m, k=key: m.get(k))))
        elif target == "part" and isinstance(body.get("messages"), list) and body["messages"]:
            last = body["messages"][-1]
            if isinstance(last, dict):
                last["content"] = draw(st.lists(content_part, min_size=1, max_size=3))
    return body


shaped_body = lambda: st.one_of(nearly_valid_body(), nearly_valid_body(), nearly_valid_body(),  # noqa: E731
                                chaotic_body())


def encode(body: Any, ascii_only: bool) -> bytes:
    return json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


any_json = st.builds(encode, junk, st.booleans())


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(encode(draw(shaped_body()), draw(st.booleans())))
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["cut", "flip", "splice", "drop"]))
        at = draw(st.integers(0, len(raw)))
        if operation == "cut":
            raw = raw[:at]
        elif operation == "flip" and at < len(raw):
            raw[at] = draw(st.integers(0, 255))
        elif operation == "splice":
            raw[at:at] = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                                               b"\\ud800", b"\\u0000", b"\x00", b"\"", b"}", b"]", b",",
                                               b"NaN", b"Infinity", b"1e999999", b"-"]))
        elif operation == "drop" and at < len(raw):
            del raw[at]
    return bytes(raw)


@st.composite
def nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.sampled_from([50, 500, 999, 1_001, 5_000, 100_000]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    value = opener * depth + "1" + closer * depth
    where = draw(st.sampled_from(["top", "user", "content", "inputs", "stop"]))
    if where == "top":
        return value.encode()
    template = {
        "user": '{"model":"m","messages":[{"role":"user","content":"hi"}],"user":%s}',
        "content": '{"model":"m","messages":[{"role":"user","content":%s}]}',
        "inputs": '{"model":"m","messages":[{"role":"user","content":"hi"}],"inputs":{"x":%s}}',
        "stop": '{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":%s}',
    }[where]
    return (template % value).encode()


@st.composite
def huge(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["content", "model", "messages", "stop", "over_limit", "parts", "user"]))
    size = draw(st.sampled_from([100_000, 1_000_000, 3_000_000]))
    char = draw(st.sampled_from(["a", "é", "😀", "\\n", " "]))
    hi = {"role": "user", "content": "hi"}
    if kind == "content":
        body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": char * size}]}
    elif kind == "model":
        body = {"model": char * size, "messages": [hi]}
    elif kind == "messages":
        body = {"model": "m", "messages": [hi, {"role": "assistant", "content": "ok"}] * (size // 20_000) + [hi]}
    elif kind == "stop":
        body = {"model": "m", "messages": [hi], "stop": [char * 3] * (size // 10_000)}
    elif kind == "parts":
        parts = [{"type": "text", "text": "p"}] * (size // 1_000)
        body = {"model": "m", "messages": [{"role": "user", "content": parts}]}
    elif kind == "user":
        body = {"model": "m", "messages": [hi], "user": {"k": char * size}}
    else:  # over Dify's 10 MB: the daemon cuts the body
        body = {"model": "m", "messages": [{"role": "user", "content": "x" * (10 * 1024 * 1024 + 100)}]}
    return encode(body, draw(st.booleans()))


HUGE = huge()
BODY_FAMILIES: list[tuple[int, st.SearchStrategy[bytes]]] = [
    (55, st.builds(encode, nearly_valid_body(), st.booleans())),
    (12, st.builds(encode, chaotic_body(), st.booleans())),
    (12, mutated()),
    (5, any_json),
    (5, nested()),
    (4, st.binary(max_size=64)),
    (4, st.sampled_from([b"", b" ", b"null", b"{}", b"[]", b'"x"', b"\xef\xbb\xbf{}", b"{" * 3])),
    (3, HUGE),
]


@st.composite
def bodies(draw: st.DrawFn, allow_huge: bool = True) -> bytes:
    """One body from a family drawn with the weights above (percent)."""
    families = [(w, f) for w, f in BODY_FAMILIES if allow_huge or f is not HUGE]
    pick = draw(st.integers(0, sum(w for w, _ in families) - 1))
    for weight, family in families:
        if pick < weight:
            return draw(family)
        pick -= weight
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- headers


header_value = st.binary(max_size=80).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"").decode("latin-1"))


@st.composite
def headers(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Request headers as a client could send them (values are latin-1, as HTTP servers decode them)."""
    valid = ["bearer"] * 30 + ["api-key", "x-api-key", "lower"]
    auth = draw(st.sampled_from(["wrong", "prefix", "none", "basic", "junk", "empty", "padded"]
                                if draw(st.integers(0, 9)) == 0 else valid))
    out: list[tuple[str, str]] = []
    if auth == "bearer":
        out.append(("Authorization", f"Bearer {API_KEY}"))
    elif auth == "api-key":
        out.append(("api-key", API_KEY))
    elif auth == "x-api-key":
        out.append(("x-api-key", API_KEY))
    elif auth == "lower":
        out.append(("authorization", f"bearer   {API_KEY}  "))
    elif auth == "wrong":
        out.append(("Authorization", "Bearer sk-wrong"))
    elif auth == "prefix":
        out.append(("Authorization", f"Bearer {API_KEY[:-1]}"))
    elif auth == "basic":
        out.append(("Authorization", "Basic " + base64.b64encode(f"u:{API_KEY}".encode()).decode()))
    elif auth == "junk":
        out.append(("Authorization", draw(header_value)))
    elif auth == "empty":
        out.append(("Authorization", "Bearer "))
    elif auth == "padded":
        out.append(("Authorization", f"Bearer {API_KEY}\x00"))
    if draw(st.booleans()):
        out.append(("Content-Type", draw(st.sampled_from(["application/json", "text/plain", "", "multipart/form-data",
                                                          "application/json; charset=latin-1"]))))
    extra = {
        "X-Dify-Conversation-Id": st.one_of(st.just(UUID), header_value),
        "Origin": st.sampled_from(["https://chat.example.com", "null", "https://evil.example"]),
        "X-OpenWebUI-User-Id": header_value,
        "Accept": st.sampled_from(["application/json", "text/event-stream", "*/*"]),
        "X-Forwarded-For": st.just("10.0.0.1"),
        "Access-Control-Request-Method": st.sampled_from(["POST", "DELETE"]),
    }
    for name in draw(st.lists(st.sampled_from(sorted(extra)), max_size=3, unique=True)):
        out.append((name, draw(extra[name])))
    if draw(st.integers(0, 4)) == 0:
        name = draw(st.text(alphabet=string.ascii_letters + "-", min_size=1, max_size=12))
        out.append((name, draw(header_value)))
    return out


@st.composite
def requests(draw: st.DrawFn, allow_huge: bool = True) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """(method, path, headers, body): mostly chat completions POSTs, sometimes any route and method."""
    if draw(st.integers(0, 9)):
        method, path = "POST", draw(st.sampled_from(CHAT_PATHS))
    else:
        method, path = draw(st.sampled_from(METHODS)), draw(st.sampled_from(CHAT_PATHS + OTHER_PATHS))
    return method, path, draw(headers()), draw(bodies(allow_huge))
