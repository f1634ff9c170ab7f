"""Chat Completions bodies (POST /v1/chat/completions): messages of every role, content parts of every kind, tool
calls, stop lists, inputs and conversation ids, made wrong in every way `strategies` knows."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from .strategies import (
    COMMON_FIELDS,
    GOOD_COMMON,
    GOOD_PDF_DATA,
    GOOD_PNG_URL,
    GOOD_WAV,
    ORDINARY_ANSWER,
    OVER_DIFY_LIMIT,
    BodyShape,
    HugeBuilder,
    audio_payload,
    chaotic,
    corrupted,
    detail,
    file_data,
    file_id,
    file_name,
    good_stop,
    good_text,
    image_url,
    junk,
    many_stops,
    stop,
    tool_choice,
    unknown_part,
    weird_text,
    wrong_or,
)

content_part = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": wrong_or(weird_text)}),
    st.fixed_dictionaries({"type": st.just("image_url"),
                           "image_url": wrong_or(st.fixed_dictionaries({"url": wrong_or(image_url)},
                                                                       optional={"detail": detail}))}),
    st.fixed_dictionaries({"type": st.just("input_audio"), "input_audio": audio_payload}),
    st.fixed_dictionaries({"type": st.just("file"),
                           "file": wrong_or(st.fixed_dictionaries({}, optional={
                               "file_data": file_data, "file_id": file_id, "filename": file_name}))}),
    st.fixed_dictionaries({"type": st.just("refusal"), "refusal": wrong_or(weird_text)}),
    unknown_part(["video", "image", "", "TEXT", "tool_result", "input_text", "input_image"]),
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


@st.composite
def history(draw: st.DrawFn) -> Any:
    turns = draw(st.lists(message, max_size=5))
    if draw(st.booleans()):
        turns.append(draw(user_message))
    return draw(st.one_of(st.just(turns), st.just(turns), junk))


CHAT_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    **COMMON_FIELDS,
    "messages": history(),
    "n": wrong_or(st.integers(-2, 3)),
    "logprobs": wrong_or(st.booleans()),
    "top_logprobs": wrong_or(st.integers(-1, 5)),
    "modalities": wrong_or(st.lists(st.sampled_from(["text", "audio", "image"]), max_size=3)),
    "audio": wrong_or(st.none() | st.fixed_dictionaries({"voice": st.just("alloy")})),
    "tool_choice": tool_choice,
    "tools": junk,
    "stop": stop,
    "max_tokens": junk, "response_format": junk, "reasoning_effort": junk, "parallel_tool_calls": junk,
}

good_part = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, good_text),
    st.sampled_from([
        {"type": "image_url", "image_url": {"url": GOOD_PNG_URL}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
        {"type": "file", "file": {"file_data": GOOD_PDF_DATA, "filename": "a.pdf"}},
        {"type": "input_audio", "input_audio": GOOD_WAV},
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
    **GOOD_COMMON,
    "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
    "stop": good_stop,
    "tool_choice": st.sampled_from(["auto", "none"]),
}

# The fields this API does something with (the rest it ignores).
FOCUS = ["messages", "n", "logprobs", "top_logprobs", "modalities", "audio", "tool_choice", "stop", "stream",
         "stream_options", "inputs", "conversation_id", "user"]


@st.composite
def valid_body(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"model": draw(st.sampled_from(["dify-app", "gpt-4o", "my model"])),
                            "messages": [*draw(st.lists(good_turn, max_size=4)), draw(good_user)],
                            "stream": draw(st.booleans())}
    for name in draw(st.lists(st.sampled_from(sorted(GOOD_OPTIONS)), max_size=4, unique=True)):
        body[name] = draw(GOOD_OPTIONS[name])
    return body


HI = {"role": "user", "content": "hi"}
HUGE: dict[str, HugeBuilder] = {
    "content": lambda size, char: {"model": "m", "messages": [{"role": "user", "content": char * size}]},
    "model": lambda size, char: {"model": char * size, "messages": [HI]},
    "messages": lambda size, char: {"model": "m",
                                    "messages": [HI, {"role": "assistant", "content": "ok"}] * (size // 20_000) + [HI]},
    "stop": lambda size, char: {"model": "m", "messages": [HI], "stop": [char * 3] * (size // 10_000)},
    # The echo app answers the query: an ordinary answer, thousands of stop sequences.
    "stops_per_delta": lambda size, char: {"model": "m", "messages": [{"role": "user", "content": ORDINARY_ANSWER}],
                                           "stop": many_stops(size, char)},
    "long_stop": lambda size, char: {"model": "m", "messages": [{"role": "user", "content": "a" * (size // 2)}],
                                     "stop": ["a" * (size // 2) + "b"]},
    "parts": lambda size, char: {"model": "m", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "p"}] * (size // 1_000)}]},
    "user": lambda size, char: {"model": "m", "messages": [HI], "user": {"k": char * size}},
    "over_limit": lambda size, char: {"model": "m", "messages": [{"role": "user", "content": "x" * OVER_DIFY_LIMIT}]},
}

TEMPLATE = '{"model":"m","messages":[{"role":"user","content":"hi"}],%s}'
CHAT = BodyShape(
    nearly_valid=corrupted(valid_body(), CHAT_FIELDS, FOCUS,
                           st.one_of(junk, weird_text, content_part, message)),
    chaotic=chaotic({"model": CHAT_FIELDS["model"], "messages": CHAT_FIELDS["messages"]}, CHAT_FIELDS),
    nested_templates=(TEMPLATE % '"user":%s', '{"model":"m","messages":[{"role":"user","content":%s}]}',
                      TEMPLATE % '"inputs":{"x":%s}', TEMPLATE % '"stop":%s', '{"model":"m","messages":%s}'),
    huge=HUGE,
)
