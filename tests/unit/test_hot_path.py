"""The hot-path optimisations (bench/, `make bench`) change no output: each is checked against what it replaced."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from openai_bridge.apis.data_stream import fill, frame_around
from openai_bridge.dify.form import AppFormCache
from openai_bridge.http.server import handle
from openai_bridge.run.holdback import partial_marker_length
from openai_bridge.run.timing import Timing

from .fakes import SETTINGS, FakeDify, chat_events, post


def reference_partial_marker_length(text: str, markers: list[str]) -> int:
    longest = 0
    for marker in markers:
        for size in range(min(len(marker) - 1, len(text)), longest, -1):
            if text.endswith(marker[:size]):
                longest = size
                break
    return longest


@settings(max_examples=500)
@given(text=st.text(alphabet="<>/thinkabc \n", max_size=20),
       markers=st.lists(st.text(alphabet="<>/thinkabc", max_size=9), max_size=3))
def test_partial_marker_length_is_unchanged(text, markers):
    assert partial_marker_length(text, markers) == reference_partial_marker_length(text, markers)


@settings(max_examples=300)
@given(text=st.text())
def test_fill_encodes_like_json_dumps(text):
    frame = frame_around({"delta": {"content": "\x00delta\x00"}})
    expected = frame[0] + json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass") + frame[1]
    try:
        assert fill(frame, text) == expected
    except UnicodeEncodeError:
        assert any(0xD800 <= ord(c) <= 0xDFFF for c in text)


@settings(max_examples=100, deadline=None)
@given(deltas=st.lists(st.text(alphabet="ab <think>/\n", min_size=1, max_size=8), min_size=1, max_size=30),
       stop=st.sampled_from([None, "b", ["</think>", "a a"]]), usage=st.booleans())
def test_batched_stream_has_the_bytes_of_one_frame_per_event(deltas, stop, usage):
    """Events waiting together are written as one chunk; the concatenated stream is exactly the same."""
    body = {"model": "m", "stream": True, "stop": stop, "stream_options": {"include_usage": usage},
            "messages": [{"role": "user", "content": "q"}]}

    def frames(dify: FakeDify) -> list[str]:
        response = handle(post("/v1/chat/completions", body), SETTINGS, dify, AppFormCache(), Timing(5, 10))
        text = b"".join(response.body).decode()
        return [json.dumps({k: v for k, v in json.loads(f[6:]).items() if k not in ("id", "created")})
                if f.startswith("data: {") else f for f in text.split("\n\n")]

    burst = frames(FakeDify(events=chat_events(*deltas)))  # all events waiting: batched
    spaced = frames(FakeDify(events=chat_events(*deltas), delay=0.001))  # one at a time
    assert burst == spaced
