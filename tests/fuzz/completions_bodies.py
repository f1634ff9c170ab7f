"""Legacy Completions bodies (POST /v1/completions): `prompt` as a string, a list, token arrays or junk, the
options the plugin refuses (`suffix`, `echo`, `best_of`, `logprobs`, `n`), `stop`, streaming and the plugin's
extensions."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from .strategies import (
    COMMON_FIELDS,
    GOOD_COMMON,
    ORDINARY_ANSWER,
    OVER_DIFY_LIMIT,
    BodyShape,
    HugeBuilder,
    chaotic,
    corrupted,
    good_stop,
    good_text,
    junk,
    many_stops,
    stop,
    weird_text,
    wrong_or,
)

tokens = st.lists(st.integers(-1, 100_277), max_size=8)
prompt = st.one_of(
    weird_text, weird_text,
    st.lists(weird_text, max_size=3),
    tokens,
    st.lists(tokens, max_size=3),
    st.lists(st.one_of(weird_text, st.integers(0, 50_000)), max_size=3),
    st.just([]), st.just([""]),
    junk,
)

COMPLETIONS_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    **COMMON_FIELDS,
    "prompt": prompt,
    "suffix": wrong_or(st.one_of(st.none(), weird_text)),
    "echo": wrong_or(st.booleans()),
    "best_of": wrong_or(st.integers(-2, 3)),
    "logprobs": wrong_or(st.one_of(st.none(), st.integers(-1, 6))),
    "n": wrong_or(st.integers(-2, 3)),
    "stop": stop,
    "max_tokens": junk, "presence_penalty": junk, "frequency_penalty": junk, "logit_bias": junk,
}

GOOD_OPTIONS: dict[str, st.SearchStrategy[Any]] = {
    **GOOD_COMMON,
    "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
    "stop": good_stop,
    "max_tokens": st.integers(1, 4096),
    # The values of the refused options that mean "not used" are accepted.
    "echo": st.just(False),
    "n": st.just(1),
    "best_of": st.just(1),
    "logprobs": st.none(),
    "suffix": st.sampled_from([None, ""]),
}

# The fields this API does something with (the rest it ignores).
FOCUS = ["prompt", "suffix", "echo", "best_of", "logprobs", "n", "stop", "stream", "stream_options", "inputs",
         "conversation_id", "user"]


@st.composite
def valid_body(draw: st.DrawFn) -> dict[str, Any]:
    text = draw(good_text)
    body: dict[str, Any] = {"model": draw(st.sampled_from(["dify-app", "gpt-3.5-turbo-instruct", "my model"])),
                            "prompt": draw(st.sampled_from([text, [text]])), "stream": draw(st.booleans())}
    for name in draw(st.lists(st.sampled_from(sorted(GOOD_OPTIONS)), max_size=4, unique=True)):
        body[name] = draw(GOOD_OPTIONS[name])
    return body


HUGE: dict[str, HugeBuilder] = {
    "prompt": lambda size, char: {"model": "m", "prompt": char * size},
    "prompts": lambda size, char: {"model": "m", "prompt": [char * 10] * (size // 1_000)},
    "tokens": lambda size, char: {"model": "m", "prompt": [7] * (size // 10)},
    "stop": lambda size, char: {"model": "m", "prompt": "hi", "stop": [char * 3] * (size // 10_000)},
    # The echo app answers the prompt: an ordinary answer, thousands of stop sequences.
    "stops_per_delta": lambda size, char: {"model": "m", "prompt": ORDINARY_ANSWER, "stop": many_stops(size, char)},
    "long_stop": lambda size, char: {"model": "m", "prompt": "a" * (size // 2), "stop": ["a" * (size // 2) + "b"]},
    "suffix": lambda size, char: {"model": "m", "prompt": "hi", "suffix": char * size},
    "over_limit": lambda size, char: {"model": "m", "prompt": "x" * OVER_DIFY_LIMIT},
}

TEMPLATE = '{"model":"m","prompt":"hi",%s}'
COMPLETIONS = BodyShape(
    nearly_valid=corrupted(valid_body(), COMPLETIONS_FIELDS, FOCUS,
                           st.one_of(junk, weird_text, prompt)),
    chaotic=chaotic({"model": COMPLETIONS_FIELDS["model"], "prompt": prompt}, COMPLETIONS_FIELDS),
    nested_templates=('{"model":"m","prompt":%s}', TEMPLATE % '"stop":%s', TEMPLATE % '"inputs":{"x":%s}',
                      TEMPLATE % '"user":%s', TEMPLATE % '"logit_bias":%s'),
    huge=HUGE,
)
