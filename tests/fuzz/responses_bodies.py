"""Responses API bodies (POST /v1/responses): `input` as a string or items of every type (messages with every
role and content part, function calls and their outputs, reasoning, unknown items), `instructions`,
`previous_response_id` (known, unknown, malformed), `store`, `background`, tools, and the plugin's `inputs` /
`conversation_id` extensions."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from .strategies import (
    COMMON_FIELDS,
    GOOD_COMMON,
    GOOD_PDF_DATA,
    GOOD_PNG_URL,
    GOOD_WAV,
    KNOWN_RESPONSE,
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
    file_url,
    good_text,
    image_url,
    junk,
    tool_choice,
    unknown_part,
    weird_text,
    wrong_or,
)

content_part = st.one_of(
    st.fixed_dictionaries({"type": st.just("input_text"), "text": wrong_or(weird_text)}),
    st.fixed_dictionaries({"type": st.just("output_text"), "text": wrong_or(weird_text)},
                          optional={"annotations": junk, "logprobs": junk}),
    st.fixed_dictionaries({"type": st.just("refusal"), "refusal": wrong_or(weird_text)}),
    st.fixed_dictionaries({"type": st.just("input_image")},
                          optional={"image_url": wrong_or(image_url), "file_id": file_id, "detail": detail}),
    st.fixed_dictionaries({"type": st.just("input_file")},
                          optional={"file_data": file_data, "file_id": file_id, "file_url": file_url,
                                    "filename": file_name}),
    st.fixed_dictionaries({"type": st.just("input_audio"), "input_audio": audio_payload}),
    unknown_part(["text", "image_url", "file", "input_video", "summary_text", "reasoning_text", "", "INPUT_TEXT"]),
    junk,
)
content = wrong_or(st.one_of(weird_text, st.lists(content_part, max_size=4)))

message_item = st.fixed_dictionaries(
    {"role": wrong_or(st.sampled_from(["user", "user", "system", "developer", "assistant", "tool", "User", ""]))},
    optional={"type": wrong_or(st.just("message")), "content": content, "id": junk,
              "status": wrong_or(st.sampled_from(["completed", "in_progress", "incomplete"]))})
function_call_item = st.fixed_dictionaries(
    {"type": st.just("function_call")},
    optional={"call_id": wrong_or(st.text(max_size=10)), "name": wrong_or(st.text(max_size=10)),
              "arguments": wrong_or(st.text(max_size=30)), "id": junk, "status": junk})
function_call_output_item = st.fixed_dictionaries(
    {"type": st.just("function_call_output")},
    optional={"call_id": wrong_or(st.text(max_size=10)),
              "output": wrong_or(st.one_of(weird_text, st.lists(content_part, max_size=3))), "id": junk})
reasoning_item = st.fixed_dictionaries(
    {"type": st.just("reasoning")},
    optional={"id": junk, "encrypted_content": junk, "content": junk,
              "summary": wrong_or(st.lists(st.fixed_dictionaries({"type": st.just("summary_text"),
                                                                   "text": wrong_or(weird_text)}), max_size=2))})
input_item = st.one_of(
    message_item, message_item, function_call_item, function_call_output_item, reasoning_item,
    unknown_part(["item_reference", "computer_call", "computer_call_output", "web_search_call", "file_search_call",
                  "image_generation_call", "local_shell_call", "mcp_call", "custom_tool_call", "", "MESSAGE"]),
    junk,
)

previous_response_id = wrong_or(st.one_of(
    st.just(KNOWN_RESPONSE), st.just(KNOWN_RESPONSE),
    st.uuids().map(lambda u: f"resp_{u}"),
    st.sampled_from(["", " ", "resp_", "resp_\n", "x" * 500, "resp_" + "a" * 5000, "../../etc/passwd", "resp_m-1",
                     "chatcmpl-1", KNOWN_RESPONSE + " ", KNOWN_RESPONSE.upper()]),
    weird_text,
))
tool = st.one_of(
    st.fixed_dictionaries({"type": st.just("function"), "name": wrong_or(st.sampled_from(["shell", "apply_patch"]))},
                          optional={"parameters": junk, "strict": junk, "description": junk}),
    st.fixed_dictionaries({"type": wrong_or(st.sampled_from(["web_search", "file_search", "mcp", "custom", ""]))},
                          optional={"server_url": junk, "vector_store_ids": junk}),
    junk,
)

RESPONSES_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    **COMMON_FIELDS,
    "input": st.one_of(weird_text, st.lists(input_item, max_size=5), junk),
    "instructions": wrong_or(st.one_of(st.none(), weird_text)),
    "previous_response_id": previous_response_id,
    "store": wrong_or(st.booleans()),
    "background": wrong_or(st.booleans()),
    "tools": wrong_or(st.lists(tool, max_size=3)),
    "tool_choice": tool_choice,
    "max_output_tokens": junk, "reasoning": junk, "text": junk, "truncation": junk, "include": junk,
    "parallel_tool_calls": junk, "prompt": junk, "prompt_cache_key": junk,
}

good_part = st.one_of(
    st.builds(lambda t: {"type": "input_text", "text": t}, good_text),
    st.sampled_from([
        {"type": "input_image", "image_url": GOOD_PNG_URL},
        {"type": "input_image", "image_url": "https://example.com/cat.jpg", "detail": "low"},
        {"type": "input_file", "file_data": GOOD_PDF_DATA, "filename": "a.pdf"},
        {"type": "input_audio", "input_audio": GOOD_WAV},
    ]),
)
good_user = st.builds(
    lambda typed, content: {**({"type": "message"} if typed else {}), "role": "user", "content": content},
    st.booleans(),
    st.one_of(good_text, st.lists(good_part, min_size=1, max_size=3).map(
        lambda parts: [{"type": "input_text", "text": "look"}, *parts])))
good_item = st.one_of(
    good_user,
    st.builds(lambda t: {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": t}]},
              good_text),
    st.builds(lambda role, t: {"role": role, "content": t}, st.sampled_from(["system", "developer", "assistant"]),
              good_text),
    st.just({"type": "function_call", "call_id": "c1", "name": "shell", "arguments": '{"cmd": "ls"}'}),
    st.just({"type": "function_call_output", "call_id": "c1", "output": "42"}),
    st.just({"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "hm"}]}),
)
GOOD_OPTIONS: dict[str, st.SearchStrategy[Any]] = {
    **GOOD_COMMON,
    "instructions": good_text,
    "store": st.booleans(),
    "previous_response_id": st.just(KNOWN_RESPONSE),
    "tools": st.just([{"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {}}}]),
    "tool_choice": st.sampled_from(["auto", "none"]),
    "background": st.just(False),
    "max_output_tokens": st.integers(1, 4096),
    "reasoning": st.just({"effort": "low", "summary": "auto"}),
    "text": st.just({"format": {"type": "text"}}),
    "parallel_tool_calls": st.booleans(),
}

# The fields this API does something with (the rest it ignores).
FOCUS = ["input", "instructions", "previous_response_id", "store", "background", "tools", "tool_choice", "stream",
         "inputs", "conversation_id", "user", "metadata"]


@st.composite
def valid_body(draw: st.DrawFn) -> dict[str, Any]:
    items = [*draw(st.lists(good_item, max_size=4)), draw(good_user)]
    body: dict[str, Any] = {"model": draw(st.sampled_from(["dify-app", "gpt-4o", "my model"])),
                            "input": draw(st.one_of(good_text, st.just(items))), "stream": draw(st.booleans())}
    for name in draw(st.lists(st.sampled_from(sorted(GOOD_OPTIONS)), max_size=4, unique=True)):
        body[name] = draw(GOOD_OPTIONS[name])
    return body


HI = {"role": "user", "content": "hi"}
HUGE: dict[str, HugeBuilder] = {
    "input": lambda size, char: {"model": "m", "input": char * size},
    "instructions": lambda size, char: {"model": "m", "input": "hi", "instructions": char * size},
    "items": lambda size, char: {"model": "m", "input": [HI, {"role": "assistant", "content": "ok"}] * (size // 20_000)
                                 + [HI]},
    "parts": lambda size, char: {"model": "m", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "p"}] * (size // 1_000)}]},
    "function_outputs": lambda size, char: {"model": "m", "input": [
        {"type": "function_call_output", "call_id": "c", "output": char * 1_000}] * (size // 1_000) + [HI]},
    "tools": lambda size, char: {"model": "m", "input": "hi", "tools": [
        {"type": "function", "name": char * 10, "parameters": {}}] * (size // 1_000)},
    "inputs": lambda size, char: {"model": "m", "input": "hi", "inputs": {"messages[99].content": char * size}},
    "previous_response_id": lambda size, char: {"model": "m", "input": "hi", "previous_response_id": char * size},
    "metadata": lambda size, char: {"model": "m", "input": "hi", "metadata": {"k": char * size}},
    "over_limit": lambda size, char: {"model": "m", "input": "x" * OVER_DIFY_LIMIT},
}

TEMPLATE = '{"model":"m","input":"hi",%s}'
RESPONSES = BodyShape(
    nearly_valid=corrupted(valid_body(), RESPONSES_FIELDS, FOCUS,
                           st.one_of(junk, weird_text, content_part, input_item)),
    chaotic=chaotic({"model": RESPONSES_FIELDS["model"], "input": RESPONSES_FIELDS["input"]}, RESPONSES_FIELDS),
    nested_templates=('{"model":"m","input":%s}', '{"model":"m","input":[{"role":"user","content":%s}]}',
                      '{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":%s},'
                      '{"role":"user","content":"hi"}]}',
                      TEMPLATE % '"inputs":{"messages[99].content":%s}', TEMPLATE % '"user":%s',
                      TEMPLATE % '"metadata":%s', TEMPLATE % '"tools":%s', TEMPLATE % '"tool_choice":%s'),
    huge=HUGE,
)
