"""Hypothesis building blocks for hostile OpenAI requests, shared by every API's strategies.

A body comes from one of several families, each aimed at one way a request can be wrong:
- `shaped`: an API's body whose every field may have the wrong type or a strange value (`nearly_valid`: a valid
  request with a few values made wrong, deep inside or at the top; `chaotic`: every field may be anything);
- `any_json`: arbitrary JSON (top-level arrays, strings, numbers ...);
- `mutated`: the bytes of a shaped body, truncated, with bytes flipped or invalid UTF-8 spliced in;
- `nested`: values nested far deeper than any JSON parser's recursion limit, at the API's own fields;
- `huge`: multi-megabyte strings, thousands of items or stop sequences, bodies over Dify's 10 MB cut.
Each API (chat_bodies, responses_bodies, completions_bodies) brings a `BodyShape`; `bodies(shape)` mixes the
families. Large values are built from a drawn size, not drawn character by character, so generation stays fast.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from hypothesis import strategies as st

API_KEY = "sk-fuzz-0123456789abcdef"
UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"
# Stands for the id of a response the endpoint really made: the tests put one in its place (test_fuzz_*.py), so
# that continuing a known response is fuzzed too, not only unknown ids.
KNOWN_RESPONSE = "resp_known-response-placeholder"

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 24
PDF = b"%PDF-1.4\n%fake\n"
GIF = b"GIF89a" + b"\x00" * 10
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 "
OVER_DIFY_LIMIT = 10 * 1024 * 1024 + 100  # characters: the daemon cuts the body at 10 MB


class FuzzRequest(NamedTuple):
    """One generated request. `content_length` is a Content-Length lie (None: the body's real length)."""

    method: str
    path: str  # as the client writes it: percent-encoded, maybe with a query string
    headers: list[tuple[str, str]]
    body: bytes
    content_length: int | None = None


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
                     "messages[99].content", "input[7].content[3]",
                     # lone surrogates: JSON can spell them (\ud800), but they are not Unicode text
                     "\ud800", "a\udc00b", "\udbff\udbff"]),
)

good_text = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=40).filter(
        lambda t: t.strip()),
    st.sampled_from(["hello", "<think>hm</think>hi", "a\ud800b"]),
)


def wrong_or(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a valid value, sometimes anything at all."""
    return st.one_of(valid, valid, valid, junk)


@st.composite
def deep_value(draw: st.DrawFn) -> Any:
    """A value nested around the 32 levels the plugin allows in `inputs` (and far beyond, within JSON's limit)."""
    depth = draw(st.sampled_from([31, 32, 33, 40, 100, 300]))
    value: Any = draw(junk_scalar)
    as_dict = draw(st.booleans())
    for _ in range(depth):
        value = {"k": value} if as_dict else [value]
    return value


# ---------------------------------------------------------------- data URLs and files (every API carries them)


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


URLS = ["https://example.com/cat.png", "http://example.com/a.jpg?x=1", "ftp://example.com/a.png", "javascript:alert(1)",
        "file:///etc/passwd", "", "https://", "data:", "//example.com/x.png", "https://example.com/" + "a" * 3000,
        "https://example.com/report.pdf", "http://169.254.169.254/latest/meta-data/"]
image_url = st.one_of(data_url(), st.sampled_from(URLS))
detail = wrong_or(st.sampled_from(["auto", "low", "high", "x"]))
audio_payload = wrong_or(st.fixed_dictionaries(
    {"data": wrong_or(st.sampled_from(["UklGRg==", "", "!!", "UklGRg"])),
     "format": wrong_or(st.sampled_from(["wav", "mp3", "../../x", "", "WAV"]))}))
file_data = wrong_or(st.one_of(data_url(), st.sampled_from([base64.b64encode(PDF).decode(), "not base64", ""])))
file_id = wrong_or(st.one_of(st.text(max_size=10), st.sampled_from(["file-abc123", "file-" + "x" * 300])))
file_name = wrong_or(st.sampled_from(["a.pdf", "../../etc/passwd", "", "x" * 300, "名前.png", "a\r\nb.txt"]))
file_url = wrong_or(st.sampled_from(URLS))


def unknown_part(types: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A content part or item of a type the API does not have (or nearly has: case, another API's name)."""
    return st.fixed_dictionaries({"type": wrong_or(st.sampled_from(types))}, optional={"text": junk, "id": junk})


GOOD_PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()
GOOD_PDF_DATA = "data:application/pdf;base64," + base64.b64encode(PDF).decode()
GOOD_WAV = {"data": base64.b64encode(b"RIFF....WAVE").decode(), "format": "wav"}


# ---------------------------------------------------------------- fields several APIs share

conversation_id = st.one_of(st.just(UUID), st.just(UUID.upper()), st.just(UUID + "\n"), st.just(" " + UUID),
                            st.text(max_size=40), st.just("00000000-0000-0000-0000-00000000000g"))

# Keys a client chooses freely; some look like the params the plugin names in its errors, which it must not mistake
# for its own (`messages[99].content` is not message 99).
input_key = st.one_of(
    st.sampled_from(["messages[99].content", "messages[0].content", "messages[1].content[0]", "messages[7]",
                     "input[3].content", "input[0].output[2]"]),
    st.sampled_from(["query", "system_prompt", "files", "topic", "messages", "", "instructions", "prompt",
                     "inputs.topic", "a.b", "名前", "x" * 300, "\n"]),
    st.text(max_size=12),
)
inputs = wrong_or(st.dictionaries(input_key, st.one_of(junk, deep_value()), max_size=3))
good_inputs = st.dictionaries(st.sampled_from(["topic", "system_prompt", "other"]), st.text(max_size=10), max_size=2)

stop = wrong_or(st.one_of(st.none(), weird_text, st.lists(weird_text, max_size=6)))
good_stop = st.one_of(st.sampled_from(["\n", "END", "o"]),
                      st.lists(st.sampled_from(["a", "STOP", "</think>"]), max_size=3))
stream_options = wrong_or(st.fixed_dictionaries({}, optional={"include_usage": wrong_or(st.booleans())}))
tool_choice = wrong_or(st.sampled_from(["none", "auto", "required", "x", ""]) | st.sampled_from([
    {"type": "function", "function": {"name": "f"}}, {"type": "function", "name": "f"},
    {"type": "allowed_tools", "mode": "auto", "tools": []}, {"type": "none"}, {}]))
model_name = wrong_or(st.sampled_from(["dify-app", "gpt-4o", "", "x" * 500, "模型", "my model"]))

# Every generating API accepts these (or ignores them); each API adds its own to this table.
COMMON_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "model": model_name,
    "stream": wrong_or(st.booleans()),
    "stream_options": stream_options,
    "user": junk,
    "conversation_id": wrong_or(conversation_id),
    "inputs": inputs,
    "metadata": wrong_or(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3)),
    "temperature": junk, "top_p": junk, "seed": junk, "service_tier": junk,
}
GOOD_COMMON: dict[str, st.SearchStrategy[Any]] = {
    "user": st.one_of(st.text(max_size=10), st.just({"id": "u1", "name": "x"})),
    "conversation_id": st.just(UUID),
    "inputs": good_inputs,
    "temperature": st.floats(0, 2),
    "metadata": st.dictionaries(st.sampled_from(["a", "trace"]), st.text(max_size=8), max_size=2),
}


# ---------------------------------------------------------------- body families


def encode(body: Any, ascii_only: bool) -> bytes:
    return json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _replace_inside(draw: st.DrawFn, body: dict[str, Any], values: st.SearchStrategy[Any]) -> None:
    """A random walk down the body's containers; one value on the way is replaced, or a strange key added."""
    node: Any = body
    while True:
        keys: list[Any] = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.integers(0, 2)):
            node = child
            continue
        # Copies, as below: a later step may walk into the value it put there.
        if isinstance(node, dict) and draw(st.integers(0, 4)) == 0:
            node[draw(st.text(max_size=10))] = copy.deepcopy(draw(values))
        else:
            node[key] = copy.deepcopy(draw(values))
        return


@st.composite
def corrupted(draw: st.DrawFn, valid: st.SearchStrategy[dict[str, Any]], fields: Mapping[str, st.SearchStrategy[Any]],
              focus: Sequence[str], inner: st.SearchStrategy[Any]) -> dict[str, Any]:
    """A valid request with zero to three values made wrong: the path deep into the run is exercised.

    A top-level field gets a hostile value from `fields` (half the time one of the `focus` fields, those the API
    does something with, rather than one it ignores), or a value anywhere inside (a message's role, a part's URL
    ...) is replaced by one from `inner`.
    """
    # Copies: drawn values can be shared constants (st.just, sampled_from) that must stay as they are, and a later
    # step may walk into a value an earlier one put there.
    body = copy.deepcopy(draw(valid))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        if draw(st.booleans()):
            name = draw(st.sampled_from(sorted(fields) if draw(st.booleans()) else focus))
            body[name] = copy.deepcopy(draw(fields[name]))
        else:
            _replace_inside(draw, body, inner)
    return body


@st.composite
def chaotic(draw: st.DrawFn, required: Mapping[str, st.SearchStrategy[Any]],
            fields: Mapping[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    """Every field may be missing, of the wrong type or strange."""
    body: dict[str, Any] = {}
    for name, strategy in required.items():
        if draw(st.integers(0, 9)):
            body[name] = draw(strategy)
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=6, unique=True)):
        body[name] = draw(fields[name])
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.text(max_size=10))] = draw(junk)
    return body


# A huge body of one kind: (size in characters, the repeated character) -> body.
HugeBuilder = Callable[[int, str], dict[str, Any]]
# An ordinary answer's length (about 2,000 tokens), for the `stop` sequences of `many_stops` to be checked against.
ORDINARY_ANSWER = "a" * 8_000


def many_stops(size: int, char: str) -> list[str]:
    """Thousands of stop sequences (the plugin does not enforce OpenAI's limit of 4): each costs at every delta."""
    return [char * 3] * (size // 100)


@dataclass(frozen=True)
class BodyShape:
    """What one API's bodies look like, for the families above."""

    nearly_valid: st.SearchStrategy[dict[str, Any]]
    chaotic: st.SearchStrategy[dict[str, Any]]
    # JSON bodies with one `%s` where a deeply nested value goes (the API's own fields).
    nested_templates: tuple[str, ...]
    huge: Mapping[str, HugeBuilder]

    def shaped(self) -> st.SearchStrategy[dict[str, Any]]:
        return st.one_of(self.nearly_valid, self.nearly_valid, self.nearly_valid, self.chaotic)


any_json = st.builds(encode, junk, st.booleans())
TRIVIAL_BODIES = st.sampled_from([b"", b" ", b"null", b"{}", b"[]", b'"x"', b"\xef\xbb\xbf{}", b"{" * 3])


@st.composite
def mutated(draw: st.DrawFn, shape: BodyShape) -> bytes:
    raw = bytearray(encode(draw(shape.shaped()), draw(st.booleans())))
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
def nested(draw: st.DrawFn, shape: BodyShape) -> bytes:
    depth = draw(st.sampled_from([50, 500, 999, 1_001, 5_000, 100_000]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    value = opener * depth + "1" + closer * depth
    template = draw(st.sampled_from(("%s", *shape.nested_templates)))
    return (template % value).encode()


@st.composite
def huge(draw: st.DrawFn, shape: BodyShape) -> bytes:
    build = shape.huge[draw(st.sampled_from(sorted(shape.huge)))]
    size = draw(st.sampled_from([100_000, 1_000_000, 3_000_000]))
    char = draw(st.sampled_from(["a", "é", "😀", "\\n", " "]))
    return encode(build(size, char), draw(st.booleans()))


@st.composite
def bodies(draw: st.DrawFn, shape: BodyShape, allow_huge: bool = True) -> bytes:
    """One body from a family drawn with these weights (percent)."""
    families: list[tuple[int, st.SearchStrategy[bytes]]] = [
        (55, st.builds(encode, shape.nearly_valid, st.booleans())),
        (12, st.builds(encode, shape.chaotic, st.booleans())),
        (12, mutated(shape)),
        (5, any_json),
        (5, nested(shape)),
        (4, st.binary(max_size=64)),
        (4, TRIVIAL_BODIES),
    ]
    if allow_huge:
        families.append((3, huge(shape)))
    pick = draw(st.integers(0, sum(w for w, _ in families) - 1))
    for weight, family in families:
        if pick < weight:
            return draw(family)
        pick -= weight
    raise AssertionError("unreachable")
